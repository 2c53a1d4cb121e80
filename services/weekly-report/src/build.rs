//! Assembles a [`WeeklyReport`] from the catalogue's answers: the week, the 8 weeks before, the
//! same week a year before, ranks, progress to targets and red flags.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use kpi_query::{Grain, KpiCatalog};
use serde_json::{Map, Value};

use crate::ReportError;
use crate::flags::{self, Flagged};
use crate::lang::Lang;
use crate::model::*;
use crate::settings::ReportSettings;
use crate::source::{KpiRow, KpiSource, ReportQuery};
use crate::targets::Targets;
use crate::week::ReportWeek;

/// The headline KPIs, in the order a report shows them: elevators started and completed,
/// childcare places, elderly care and meals, parking and charging, age-friendly homes,
/// investment, hotline requests (and per 10,000 residents), the three rates with the composite
/// score.
pub const HEADLINE: [&str; 16] = [
    "K14", "K13", "K04", "K01", "K02", "K03", "K07", "K06", "K15", "K19", "K23", "K34", "K25",
    "K26", "K27", "K28",
];

/// Headline KPIs not ranked: raw request volume follows population, so districts are ranked by
/// requests per 10,000 residents (K34) instead.
const UNRANKED: [&str; 1] = ["K23"];

/// Projects by status.
const PROJECTS_BY_STATUS: &str = "K17";

/// Weeks in a trend.
pub const TREND_WEEKS: i64 = 8;

/// Queries run at once (the engine has its own limit; two cores gain little past this).
const PARALLEL_QUERIES: usize = 3;

/// What a report is built from besides the lake.
pub struct ReportSpec<'a> {
    /// City code.
    pub city: &'a str,
    /// The week.
    pub week: ReportWeek,
    /// Language of names and messages.
    pub lang: Lang,
    /// Annual targets.
    pub targets: &'a Targets,
    /// Lists and rules.
    pub settings: &'a ReportSettings,
}

/// A KPI's weekly values per (place, item) and period start.
type Series = BTreeMap<(String, Option<String>), BTreeMap<NaiveDate, KpiRow>>;

/// Builds the report of `spec.week` from `source`.
pub async fn build(
    source: &KpiSource,
    catalog: &KpiCatalog,
    spec: &ReportSpec<'_>,
) -> Result<WeeklyReport, ReportError> {
    let week = spec.week;
    let (city, districts) = source.places(spec.city).await?;
    let district_codes: BTreeSet<&str> = districts.iter().map(|d| d.code.as_str()).collect();
    let last_year = week.same_week_last_year();
    let first = last_year.min(week.offset(-52));
    let year = week.end().year();

    let targeted = spec.targets.kpis(year);
    let mut ids: Vec<&str> = HEADLINE.to_vec();
    ids.push(PROJECTS_BY_STATUS);
    ids.extend(
        targeted
            .iter()
            .map(String::as_str)
            .filter(|k| !HEADLINE.contains(k)),
    );
    let kpis = ids
        .iter()
        .map(|id| {
            let k = catalog.kpi(id).map_err(kpi_query::QueryError::from)?;
            Ok(KpiInfo {
                id: k.id.clone(),
                name_zh: k.name_zh.clone(),
                name_en: k.name_en.clone(),
                unit: k.unit.clone(),
                kind: k.kind.clone(),
            })
        })
        .collect::<Result<Vec<_>, ReportError>>()?;

    // Every district's weekly series and the city's roll-up: one run of each KPI.
    let district_codes = &district_codes;
    let weekly: Vec<Series> = futures::stream::iter(ids.iter().map(|id| async move {
        let mut series = Series::new();
        for row in source
            .kpi(id, first.start(), week.end(), Grain::Week, spec.city)
            .await?
        {
            if row.district == spec.city || district_codes.contains(row.district.as_str()) {
                series
                    .entry((row.district.clone(), row.item.clone()))
                    .or_default()
                    .insert(row.period, row);
            }
        }
        Ok::<_, ReportError>(series)
    }))
    .buffered(PARALLEL_QUERIES)
    .try_collect()
    .await?;
    let weekly: BTreeMap<&str, Series> = ids.iter().copied().zip(weekly).collect();

    // The year so far of every targeted KPI.
    let year_start = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January");
    let mut to_date: BTreeMap<(String, String), KpiRow> = BTreeMap::new();
    for id in &targeted {
        for row in source
            .kpi(id, year_start, week.end(), Grain::Year, spec.city)
            .await?
        {
            if row.item.is_none() {
                to_date.insert((id.clone(), row.district.clone()), row);
            }
        }
    }

    let categories = source
        .report(
            ReportQuery::HotlineCategories,
            week.offset(-TREND_WEEKS).start(),
            week.end(),
        )
        .await?;
    let communities = source
        .report(ReportQuery::TopCommunities, week.start(), week.end())
        .await?;
    let overdue = source
        .report(ReportQuery::OverdueProjects, week.start(), week.end())
        .await?;

    let trend_weeks: Vec<ReportWeek> = (1 - TREND_WEEKS..=0).map(|i| week.offset(i)).collect();
    let context = Context {
        spec,
        kpis: &kpis,
        weekly: &weekly,
        to_date: &to_date,
        trend_weeks: &trend_weeks,
        last_year,
    };
    let mut sections: Vec<Section> = districts
        .iter()
        .map(|d| context.section(d, &[d.code.as_str()], &categories, &communities, &overdue))
        .collect();
    let all: Vec<&str> = district_codes.iter().copied().collect();
    let city_section = context.section(&city, &all, &categories, &communities, &overdue);
    rank(&mut sections);
    Ok(WeeklyReport {
        schema: SCHEMA.into(),
        lang: spec.lang.code().into(),
        week: WeekInfo {
            id: week.to_string(),
            start: week.start().to_string(),
            end: week.end().to_string(),
            week_start: format!("{:?}", week.week_start()),
            previous: week.offset(-1).to_string(),
            same_week_last_year: last_year.to_string(),
            trend_weeks: trend_weeks.iter().map(|w| w.start().to_string()).collect(),
        },
        source: SourceInfo {
            table_versions: source.versions().to_vec(),
        },
        kpis,
        city: city_section,
        districts: sections,
    })
}

struct Context<'a> {
    spec: &'a ReportSpec<'a>,
    kpis: &'a [KpiInfo],
    weekly: &'a BTreeMap<&'a str, Series>,
    to_date: &'a BTreeMap<(String, String), KpiRow>,
    trend_weeks: &'a [ReportWeek],
    last_year: ReportWeek,
}

impl Context<'_> {
    fn kpi(&self, id: &str) -> &KpiInfo {
        self.kpis.iter().find(|k| k.id == id).expect("listed")
    }

    /// The KPI's row for `place` in the week starting `start`.
    fn row(&self, id: &str, place: &str, start: NaiveDate) -> Option<&KpiRow> {
        self.weekly
            .get(id)?
            .get(&(place.to_owned(), None))?
            .get(&start)
    }

    /// A week's value: flows and stocks without a row are 0, ratios without one have none.
    fn value(&self, id: &str, place: &str, week: ReportWeek) -> Option<f64> {
        match self.row(id, place, week.start()) {
            Some(row) => row.value.map(round),
            None if self.kpi(id).kind == "ratio" => None,
            None => Some(0.0),
        }
    }

    /// Whether the lake has anything of this KPI and place by the end of `week`.
    fn has_data_by(&self, id: &str, place: &str, week: ReportWeek) -> bool {
        self.weekly
            .get(id)
            .and_then(|s| s.get(&(place.to_owned(), None)))
            .and_then(|rows| rows.keys().next())
            .is_some_and(|first| *first <= week.start())
    }

    fn figure(&self, id: &str, place: &str) -> Figure {
        let week = self.spec.week;
        let row = self.row(id, place, week.start());
        let value = self.value(id, place, week);
        let previous = self.value(id, place, week.offset(-1));
        let trend: Vec<Option<f64>> = self
            .trend_weeks
            .iter()
            .map(|w| self.value(id, place, *w))
            .collect();
        let last_year = if self.has_data_by(id, place, self.last_year) {
            self.value(id, place, self.last_year)
        } else {
            None
        };
        Figure {
            kpi: id.to_owned(),
            value,
            numerator: row.and_then(|r| r.numerator).map(round),
            denominator: row.and_then(|r| r.denominator).map(round),
            previous,
            change: value.zip(previous).map(|(v, p)| round(v - p)),
            last_year,
            trend,
            rank: None,
            target: self.target(id, place),
        }
    }

    fn target(&self, id: &str, place: &str) -> Option<TargetProgress> {
        let week = self.spec.week;
        let year = week.end().year();
        let target = self.spec.targets.get(year, place, id)?;
        let kind = self.kpi(id).kind.as_str();
        let actual = self
            .to_date
            .get(&(target.kpi.to_ascii_uppercase(), place.to_owned()))
            .and_then(|r| r.value)
            .map_or(0.0, round);
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December");
        let weeks_left = (year_end - week.end()).num_days().max(0) as f64 / 7.0;
        let n = TREND_WEEKS as f64;
        let projected = match kind {
            "flow" => {
                let recent: f64 = self
                    .trend_weeks
                    .iter()
                    .filter_map(|w| self.value(id, place, *w))
                    .sum();
                Some(actual + recent / n * weeks_left)
            }
            "stock" => {
                let now = self.value(id, place, week).unwrap_or(0.0);
                let before = self
                    .value(id, place, week.offset(-TREND_WEEKS))
                    .unwrap_or(0.0);
                Some(actual + (now - before) / n * weeks_left)
            }
            _ => None,
        }
        .map(round);
        Some(TargetProgress {
            year,
            target: target.value,
            actual,
            share: round(actual / target.value),
            projected,
            on_track: projected.unwrap_or(actual) >= target.value,
            source: target.source.clone(),
        })
    }

    /// The section of `place`, whose districts are `members` (itself, or the city's).
    fn section(
        &self,
        place: &Place,
        members: &[&str],
        categories: &[Map<String, Value>],
        communities: &[Map<String, Value>],
        overdue: &[Map<String, Value>],
    ) -> Section {
        let spec = self.spec;
        let top_n = spec.settings.top_n;
        let headline: Vec<Figure> = HEADLINE
            .iter()
            .map(|id| self.figure(id, &place.code))
            .collect();
        let projects_by_status = self.projects_by_status(&place.code);

        let mine = |r: &&Map<String, Value>| members.contains(&text(r, "district").as_str());
        // Requests per category and week, summed over the members (a ticket has one district).
        let mut per_category: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for r in categories.iter().filter(mine) {
            *per_category
                .entry(text(r, "category"))
                .or_default()
                .entry(text(r, "period"))
                .or_default() += number(r, "requests");
        }
        let this_week = spec.week.start().to_string();
        let before: Vec<String> = (1..=TREND_WEEKS)
            .map(|i| spec.week.offset(-i).start().to_string())
            .collect();
        let mut top_categories: Vec<CategoryCount> = per_category
            .iter()
            .map(|(category, weeks)| CategoryCount {
                category: category.clone(),
                requests: weeks.get(&this_week).copied().unwrap_or(0.0),
                average_8_weeks: round(
                    before.iter().filter_map(|w| weeks.get(w)).sum::<f64>() / TREND_WEEKS as f64,
                ),
            })
            .filter(|c| c.requests > 0.0 || c.average_8_weeks > 0.0)
            .collect();
        top_categories.sort_by(|a, b| {
            b.requests
                .total_cmp(&a.requests)
                .then(a.category.cmp(&b.category))
        });

        let mut top_communities: Vec<CommunityCount> = communities
            .iter()
            .filter(mine)
            .map(|r| CommunityCount {
                community_code: text(r, "community_code"),
                community_name: text(r, "community_name"),
                district: text(r, "district"),
                requests: number(r, "requests"),
            })
            .collect();
        top_communities.sort_by(|a, b| {
            b.requests
                .total_cmp(&a.requests)
                .then(a.community_code.cmp(&b.community_code))
        });
        top_communities.truncate(top_n);

        let mut projects: Vec<OverdueProject> = overdue
            .iter()
            .filter(mine)
            .map(|r| OverdueProject {
                project_id: text(r, "project_id"),
                project_name: text(r, "project_name"),
                project_type: text(r, "project_type"),
                district: text(r, "district"),
                community_name: r
                    .get("community_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                status: text(r, "status"),
                planned_end_date: text(r, "planned_end_date"),
                days_overdue: number(r, "days_overdue"),
                progress_pct: r.get("progress_pct").and_then(Value::as_f64),
            })
            .collect();
        projects.sort_by(|a, b| {
            b.days_overdue
                .total_cmp(&a.days_overdue)
                .then(a.project_id.cmp(&b.project_id))
        });
        let overdue_projects = OverdueProjects {
            count: projects.len(),
            longest: projects.into_iter().take(top_n).collect(),
        };

        let flagged = Flagged {
            lang: spec.lang,
            rules: &spec.settings.rules,
            kpis: self.kpis,
            headline: &headline,
            categories: &top_categories,
            overdue: &overdue_projects,
            stalled: self.stalled(&place.code),
        };
        let red_flags = flags::raise(&flagged);
        top_categories.truncate(top_n);
        Section {
            place: place.clone(),
            headline,
            projects_by_status,
            top_categories,
            top_communities,
            overdue_projects,
            red_flags,
        }
    }

    fn projects_by_status(&self, place: &str) -> Vec<ItemValue> {
        const ORDER: [&str; 7] = [
            "declared",
            "approved",
            "started",
            "suspended",
            "completed",
            "accepted",
            "cancelled",
        ];
        let start = self.spec.week.start();
        let mut items: Vec<ItemValue> = self
            .weekly
            .get(PROJECTS_BY_STATUS)
            .into_iter()
            .flatten()
            .filter(|((p, item), _)| p == place && item.is_some())
            .filter_map(|((_, item), rows)| {
                Some(ItemValue {
                    item: item.clone()?,
                    value: rows.get(&start)?.value.map(round)?,
                })
            })
            .collect();
        items.sort_by_key(|i| {
            ORDER
                .iter()
                .position(|s| *s == i.item)
                .unwrap_or(ORDER.len())
        });
        items
    }

    /// Targeted KPIs of `place` without progress in the last `stall_weeks` weeks, with the
    /// target (only while it is not yet reached).
    fn stalled(&self, place: &str) -> Vec<(String, f64)> {
        let week = self.spec.week;
        let weeks = i64::from(self.spec.settings.rules.stall_weeks.max(1));
        let year = week.end().year();
        let mut out = Vec::new();
        for id in self.spec.targets.kpis(year) {
            let Some(progress) = self.target(&id, place) else {
                continue;
            };
            if progress.actual >= progress.target {
                continue;
            }
            let stalled = match self.kpi(&id).kind.as_str() {
                "flow" => (0..weeks).all(|i| self.value(&id, place, week.offset(-i)) == Some(0.0)),
                "stock" => {
                    self.value(&id, place, week).unwrap_or(0.0)
                        <= self.value(&id, place, week.offset(-weeks)).unwrap_or(0.0)
                }
                _ => false,
            };
            if stalled {
                out.push((id, progress.target));
            }
        }
        out
    }
}

/// Ranks districts on each headline KPI, highest first; ties share a position. Where every
/// district has the same value (say, no elevator completed anywhere) there is no rank: "1/16"
/// would read as first place.
fn rank(sections: &mut [Section]) {
    for (i, id) in HEADLINE.iter().enumerate() {
        if UNRANKED.contains(id) {
            continue;
        }
        let values: Vec<Option<f64>> = sections.iter().map(|s| s.headline[i].value).collect();
        let mut known = values.iter().flatten();
        let first = known.next().copied();
        if known.all(|v| Some(*v) == first) {
            continue;
        }
        let of = values.iter().flatten().count();
        for (s, v) in sections.iter_mut().zip(&values) {
            s.headline[i].rank = v.map(|v| Rank {
                position: 1 + values.iter().flatten().filter(|o| **o > v).count(),
                of,
            });
        }
    }
}

/// Six decimals: enough for every KPI, and stable where a sum of doubles differs in the last bit.
pub fn round(v: f64) -> f64 {
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

fn text(row: &Map<String, Value>, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn number(row: &Map<String, Value>, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}
