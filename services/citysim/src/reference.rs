//! The reference files a city supplies beside its event feeds, written for the simulated city:
//! `communities.csv` (the community dimension), `life_circles.csv` (5- and 15-minute life
//! circles) and `community_assessments.csv` (complete-community assessments, K32's source).
//!
//! The files are UTF-8 CSV with a header row; booleans are `true`/`false`, dates `YYYY-MM-DD`,
//! and an empty field is NULL. They depend on the city, seed and period only, so the same run
//! writes the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;

use crate::SimError;
use crate::city::{City, District};
use crate::clock::{self, Period};
use crate::names;
use crate::rng::{self, Purpose, apportion};

/// `valid_from` of every community and life circle: the 2020 census the populations are from.
pub const VALID_FROM: &str = "2020-11-01";

/// Stream index offset of the assessments' random stream.
const ASSESSMENT_STREAM: u64 = 2 << 20;

/// Local day of [`VALID_FROM`].
pub fn valid_from_day() -> i32 {
    clock::day_of(NaiveDate::from_ymd_opt(2020, 11, 1).expect("valid date"))
}

/// One row of `community_assessments`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentRow {
    /// `assessment_id`.
    pub id: String,
    /// Community index in its district.
    pub community: usize,
    /// Score, 0–100.
    pub score: f64,
    /// Whether the community passed (is a complete community).
    pub passed: bool,
    /// Local day assessed.
    pub day: i32,
}

/// The life circle ids of a community: (5-minute, 15-minute).
pub fn circle_ids(city: &City, d: &District, community: usize) -> (String, String) {
    let c = &d.communities[community];
    let p = city.profile.prefix;
    let a = d.profile.abbr;
    (
        format!("{p}-{a}-5MIN-{:04}", c.circle5),
        format!("{p}-{a}-15MIN-{:04}", c.circle15),
    )
}

/// The assessments of every simulated district, in district order: the city's checked and
/// passed counts apportioned over its districts by communities (exact at scale 1.0) and scaled
/// to the simulated communities; passers score at least the pass score in their latest
/// assessment, and one in five of them failed an earlier one.
pub fn assessments(city: &City, seed: u64, period: Period) -> Vec<Vec<AssessmentRow>> {
    let a = city.profile.assessment;
    // The city's figures split over all its districts by their communities at scale 1.0, then
    // scaled to each simulated district: a district is the same alone or in its city.
    let weights: Vec<f64> = city
        .profile
        .districts
        .iter()
        .map(|d| f64::from(d.population))
        .collect();
    let full: Vec<f64> = apportion(u64::from(city.profile.communities), &weights)
        .into_iter()
        .map(|n| n as f64)
        .collect();
    let checked_full = apportion(a.checked.round() as u64, &full);
    let passed_full = apportion(a.passed.round() as u64, &full);
    let share = |d: &District, v: &[u64]| {
        (v[d.index] as f64 * d.communities.len() as f64 / full[d.index].max(1.0)).round() as u64
    };
    let checked: Vec<u64> = city
        .districts
        .iter()
        .map(|d| share(d, &checked_full))
        .collect();
    let passed: Vec<u64> = city
        .districts
        .iter()
        .map(|d| share(d, &passed_full))
        .collect();
    let from = period.from_day();
    city.districts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut rng = rng::rng(seed, Purpose::City, ASSESSMENT_STREAM + d.index as u64);
            let n = d.communities.len();
            let k = (checked[i] as usize).min(n);
            let pass = (passed[i] as usize).min(k);
            let mut idx: Vec<usize> = (0..n).collect();
            for j in 0..k {
                let r = rng::int(&mut rng, j as i64, n as i64 - 1) as usize;
                idx.swap(j, r);
            }
            let mut rows = Vec::new();
            let round1 = |x: f64| (x * 10.0).round() / 10.0;
            for (j, &community) in idx[..k].iter().enumerate() {
                let day = from + rng::int(&mut rng, -300, 150) as i32;
                let ok = j < pass;
                if ok && rng::chance(&mut rng, 0.2) {
                    // Failed a first check, passed the re-check months later.
                    let before = day - rng::int(&mut rng, 120, 240) as i32;
                    rows.push(AssessmentRow {
                        id: String::new(),
                        community,
                        score: round1(rng::uniform(&mut rng, 55.0, a.pass_score - 0.1)),
                        passed: false,
                        day: before,
                    });
                }
                let score = if ok {
                    rng::uniform(&mut rng, a.pass_score, 100.0)
                } else {
                    rng::uniform(&mut rng, 40.0, a.pass_score - 0.1)
                };
                rows.push(AssessmentRow {
                    id: String::new(),
                    community,
                    score: round1(score),
                    passed: ok,
                    day,
                });
            }
            rows.sort_by_key(|r| (r.day, r.community));
            for (n, r) in rows.iter_mut().enumerate() {
                r.id = format!("{}-{}-PJ-{:05}", city.profile.prefix, d.profile.abbr, n + 1);
            }
            rows
        })
        .collect()
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// `communities.csv`.
pub fn communities_csv(city: &City) -> String {
    let mut out = String::from(
        "community_code,community_name,street_code,street_name,district_code,population,households,area_km2,under3_population,elderly_population,on_digital_platform,functional_zone,valid_from\n",
    );
    for d in &city.districts {
        for c in &d.communities {
            let s = &d.streets[c.street];
            out.push_str(&c.code);
            out.push(',');
            field(&mut out, &c.name);
            out.push(',');
            out.push_str(&s.code);
            out.push(',');
            field(&mut out, &s.name);
            let _ = write!(
                out,
                ",{},{},{},{},{},{},{},",
                d.code, c.population, c.households, c.area_km2, c.under3, c.elderly, c.on_platform
            );
            field(&mut out, s.zone.unwrap_or(""));
            let _ = writeln!(out, ",{VALID_FROM}");
        }
    }
    out
}

/// `life_circles.csv`: every 5- and 15-minute circle of the communities.
pub fn life_circles_csv(city: &City) -> String {
    let mut out = String::from("life_circle_id,name,level,district_code,valid_from\n");
    for d in &city.districts {
        for (level, label) in [("5min", "5分钟生活圈"), ("15min", "15分钟生活圈")] {
            let mut last = u32::MAX;
            for (i, c) in d.communities.iter().enumerate() {
                let circle = if level == "5min" {
                    c.circle5
                } else {
                    c.circle15
                };
                if circle == last {
                    continue;
                }
                last = circle;
                let (c5, c15) = circle_ids(city, d, i);
                let id = if level == "5min" { c5 } else { c15 };
                let street = names::short(&d.streets[c.street].name);
                let _ = write!(out, "{id},");
                field(
                    &mut out,
                    &format!("{street}{}{label}", names::short(&c.name)),
                );
                let _ = writeln!(out, ",{level},{},{VALID_FROM}", d.code);
            }
        }
    }
    out
}

/// `community_assessments.csv`.
pub fn assessments_csv(city: &City, rows: &[Vec<AssessmentRow>]) -> String {
    let mut out =
        String::from("assessment_id,community_code,framework,score,passed,assessed_date\n");
    let framework = city.profile.assessment.framework;
    for (d, rows) in city.districts.iter().zip(rows) {
        for r in rows {
            let _ = writeln!(
                out,
                "{},{},{framework},{:.1},{},{}",
                r.id,
                d.communities[r.community].code,
                r.score,
                r.passed,
                clock::date(r.day)
            );
        }
    }
    out
}

/// Writes the three reference files into `dir` (created if missing).
pub fn write(city: &City, seed: u64, period: Period, dir: &Path) -> Result<(), SimError> {
    let io = |path: &Path, source| SimError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let rows = assessments(city, seed, period);
    for (name, text) in [
        ("communities.csv", communities_csv(city)),
        ("life_circles.csv", life_circles_csv(city)),
        ("community_assessments.csv", assessments_csv(city, &rows)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::profile;

    fn year() -> Period {
        Period {
            from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
        }
    }

    #[test]
    fn hangzhou_at_scale_one_has_its_published_assessment_counts() {
        let city = City::build(&profile::HANGZHOU, 1.0, 7, None).unwrap();
        let rows = assessments(&city, 7, year());
        let mut latest: BTreeMap<(usize, usize), &AssessmentRow> = BTreeMap::new();
        for (d, rows) in rows.iter().enumerate() {
            for r in rows {
                let e = latest.entry((d, r.community)).or_insert(r);
                if (r.day, &r.id) > (e.day, &e.id) {
                    *e = r;
                }
            }
        }
        assert_eq!(latest.len(), 1260);
        assert_eq!(latest.values().filter(|r| r.passed).count(), 438);
        assert!(latest.values().all(|r| r.passed == (r.score >= 80.0)));
        // Some complete communities failed an earlier check.
        assert!(rows.iter().flatten().count() > 1260);
    }

    #[test]
    fn files_have_the_contract_columns_and_one_row_per_community_and_circle() {
        let city = City::build(&profile::BEIJING, 0.02, 3, None).unwrap();
        let communities = communities_csv(&city);
        assert!(communities.starts_with(
            "community_code,community_name,street_code,street_name,district_code,population,households,area_km2,under3_population,elderly_population,on_digital_platform,functional_zone,valid_from\n"
        ));
        assert_eq!(communities.lines().count(), city.communities() + 1);
        assert!(communities.contains(",北京经济技术开发区,"));
        let circles = life_circles_csv(&city);
        let ids: std::collections::BTreeSet<&str> = circles
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(ids.len(), circles.lines().count() - 1, "ids are unique");
        for d in &city.districts {
            for i in 0..d.communities.len() {
                let (c5, c15) = circle_ids(&city, d, i);
                assert!(ids.contains(c5.as_str()) && ids.contains(c15.as_str()));
            }
        }
        let rows = assessments(&city, 3, year());
        assert!(
            assessments_csv(&city, &rows)
                .starts_with("assessment_id,community_code,framework,score,passed,assessed_date\n")
        );
    }
}
