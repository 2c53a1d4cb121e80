//! The simulated city: districts with their real codes, streets (9-digit codes) and
//! residents'-committee communities (12-digit codes) nested under them, with population and
//! households.

use std::collections::BTreeSet;

use civicpulse_core::division::DivisionTable;

use crate::SimError;
use crate::names;
use crate::profile::{CityProfile, DistrictProfile};
use crate::rng::{self, Purpose, SimRng, apportion};

/// Smallest community, in residents.
pub const MIN_COMMUNITY: u32 = 1_000;
/// Largest community, in residents.
pub const MAX_COMMUNITY: u32 = 15_000;

/// A street (街道) or town (镇).
#[derive(Debug, Clone)]
pub struct Street {
    /// 9-digit code nested under the district's code.
    pub code: String,
    /// Name, e.g. `学院路街道`.
    pub name: String,
    /// Functional zone the street is administered by (e.g. `北京经济技术开发区`), if any.
    pub zone: Option<&'static str>,
}

/// A residents'-committee community (社区).
#[derive(Debug, Clone)]
pub struct Community {
    /// 12-digit code nested under its street's code.
    pub code: String,
    /// Name, e.g. `二里庄社区`.
    pub name: String,
    /// Index of its street in [`District::streets`].
    pub street: usize,
    /// Residents.
    pub population: u32,
    /// Households.
    pub households: u32,
    /// Centre, WGS84 longitude.
    pub lng: f64,
    /// Centre, WGS84 latitude.
    pub lat: f64,
    /// Residential compounds (小区) in the community.
    pub compounds: Vec<String>,
    /// Year the oldest compounds were built (old compounds are renovation candidates).
    pub built_year: i16,
    /// Area in km² (reference data).
    pub area_km2: f64,
    /// Residents under three (reference data).
    pub under3: u32,
    /// Residents aged 60 and over (reference data).
    pub elderly: u32,
    /// Whether the community is on the district's digital platform (e.g. 掌上海淀).
    pub on_platform: bool,
    /// Index of its 5-minute life circle in the district.
    pub circle5: u32,
    /// Index of its 15-minute life circle in the district.
    pub circle15: u32,
}

/// A district (区) or county (县) of the simulated city.
#[derive(Debug, Clone)]
pub struct District {
    /// Index in the city profile's district list: seeds its random streams.
    pub index: usize,
    /// Static facts.
    pub profile: &'static DistrictProfile,
    /// GB/T 2260 code.
    pub code: String,
    /// Chinese name from the division table.
    pub name: String,
    /// Streets and towns.
    pub streets: Vec<Street>,
    /// Communities.
    pub communities: Vec<Community>,
    /// Communities at scale 1.0 (the scaled city keeps its per-community character).
    pub full_communities: u64,
}

impl District {
    /// Residents of the simulated communities.
    pub fn population(&self) -> u64 {
        self.communities
            .iter()
            .map(|c| u64::from(c.population))
            .sum()
    }

    /// Households of the simulated communities.
    pub fn households(&self) -> u64 {
        self.communities
            .iter()
            .map(|c| u64::from(c.households))
            .sum()
    }

    /// Share of the district that is simulated (`scale`, up to rounding of community counts).
    pub fn share(&self) -> f64 {
        self.population() as f64 / f64::from(self.profile.population)
    }
}

/// The simulated city.
#[derive(Debug, Clone)]
pub struct City {
    /// Static facts.
    pub profile: &'static CityProfile,
    /// Simulated districts, in code order.
    pub districts: Vec<District>,
}

impl City {
    /// Builds the city at `scale` (share of its communities simulated) from `seed`, keeping
    /// only the districts in `only` when given.
    pub fn build(
        profile: &'static CityProfile,
        scale: f64,
        seed: u64,
        only: Option<&[String]>,
    ) -> Result<Self, SimError> {
        let table = DivisionTable::builtin();
        let known: Vec<_> = table.districts_of_city(profile.city_code).collect();
        let weights: Vec<f64> = profile
            .districts
            .iter()
            .map(|d| f64::from(d.population))
            .collect();
        let full = apportion(u64::from(profile.communities), &weights);
        if let Some(only) = only
            && let Some(missing) = only
                .iter()
                .find(|c| !profile.districts.iter().any(|d| d.code == c.as_str()))
        {
            return Err(SimError::Config(format!(
                "district {missing} is not simulated for {}",
                profile.key
            )));
        }
        let mut districts = Vec::new();
        for (index, dp) in profile.districts.iter().enumerate() {
            if only.is_some_and(|o| !o.iter().any(|c| c == dp.code)) {
                continue;
            }
            let entry = known.iter().find(|d| d.code == dp.code).ok_or_else(|| {
                SimError::Config(format!(
                    "district {} is not in division table {}",
                    dp.code,
                    table.version()
                ))
            })?;
            let mut rng = rng::rng(seed, Purpose::City, index as u64);
            let mut district = build_district(
                &mut rng,
                index,
                dp,
                entry.name_zh.clone(),
                full[index],
                scale,
            );
            // Reference attributes draw from a stream of their own, so the communities above
            // are the same whether or not they exist.
            let mut rng = rng::rng(seed, Purpose::City, ATTRIBUTE_STREAM + index as u64);
            attributes(&mut rng, profile, &mut district);
            districts.push(district);
        }
        Ok(Self { profile, districts })
    }

    /// Residents of the simulated city.
    pub fn population(&self) -> u64 {
        self.districts.iter().map(District::population).sum()
    }

    /// Communities of the simulated city.
    pub fn communities(&self) -> usize {
        self.districts.iter().map(|d| d.communities.len()).sum()
    }
}

/// Stream index offset of the reference attributes' random stream.
const ATTRIBUTE_STREAM: u64 = 1 << 20;

/// Communities a 15-minute life circle gathers at most (Hangzhou drew 344 for ~2,100).
const PER_CIRCLE15: usize = 8;

/// Reference attributes of the district's streets and communities: functional zones, area,
/// under-three and elderly residents, the digital platform, and the life circles.
fn attributes(rng: &mut SimRng, profile: &CityProfile, d: &mut District) {
    // Functional zones administer the last streets (by code) of their districts.
    for &(code, zone, share) in profile.zones {
        if code == d.code {
            let n = d.streets.len();
            let k = ((n as f64 * share).round() as usize).clamp(1, n);
            for s in &mut d.streets[n - k..] {
                s.zone = Some(zone);
            }
        }
    }
    let (elderly_base, under3_base) = profile.age_shares;
    // A district's exact platform figure (掌上海淀's 327), or the city's share.
    let exact = profile
        .platform_figures
        .iter()
        .find(|(code, _)| *code == d.code)
        .map(|&(_, v)| {
            ((f64::from(v) * d.communities.len() as f64 / d.full_communities.max(1) as f64).round()
                as usize)
                .min(d.communities.len())
        });
    let mut on: Vec<bool> = match exact {
        Some(k) => {
            let mut idx: Vec<usize> = (0..d.communities.len()).collect();
            for i in 0..k {
                let j = rng::int(rng, i as i64, idx.len() as i64 - 1) as usize;
                idx.swap(i, j);
            }
            let mut on = vec![false; idx.len()];
            for &i in &idx[..k] {
                on[i] = true;
            }
            on
        }
        None => d
            .communities
            .iter()
            .map(|_| rng::chance(rng, profile.platform_share))
            .collect(),
    };
    let median_density = 8_000.0 + 4_000.0 * (f64::from(d.profile.population) / 1e6);
    let mut circle15 = 0u32;
    let mut in_circle = 0usize;
    let mut last_street = usize::MAX;
    for (i, c) in d.communities.iter_mut().enumerate() {
        let density = rng::lognormal(rng, median_density, 0.5).clamp(1_500.0, 60_000.0);
        c.area_km2 = ((f64::from(c.population) / density).max(0.02) * 1000.0).round() / 1000.0;
        let age = 0.75 + f64::from(2015 - c.built_year) / 100.0;
        let elderly = elderly_base * age * rng::uniform(rng, 0.85, 1.15);
        c.elderly = (f64::from(c.population) * elderly.min(0.6)).round() as u32;
        let under3 = rng::lognormal(rng, under3_base, 0.25).clamp(0.005, 0.06);
        c.under3 = (f64::from(c.population) * under3).round() as u32;
        c.on_platform = std::mem::take(&mut on[i]);
        // Four 5-minute circles for every five communities, as the facility feed numbers them.
        c.circle5 = (i * 4 / 5) as u32;
        // 15-minute circles gather up to eight neighbouring communities of one street.
        if i > 0 && (c.street != last_street || in_circle == PER_CIRCLE15) {
            circle15 += 1;
            in_circle = 0;
        }
        in_circle += 1;
        last_street = c.street;
        c.circle15 = circle15;
    }
}

fn build_district(
    rng: &mut SimRng,
    index: usize,
    profile: &'static DistrictProfile,
    name: String,
    full_communities: u64,
    scale: f64,
) -> District {
    let n = ((full_communities as f64 * scale).round() as usize).max(1);
    let mean = f64::from(profile.population) / full_communities.max(1) as f64;
    let street_count = usize::from(profile.streets).min(n).max(1);

    let mut used = BTreeSet::new();
    let mut unique = |rng: &mut SimRng, make: fn(&mut SimRng) -> String| {
        for _ in 0..20 {
            let s = make(rng);
            if used.insert(s.clone()) {
                return s;
            }
        }
        let s = format!("{}{}", make(rng), used.len());
        used.insert(s.clone());
        s
    };

    let (mut next_street, mut next_town) = (1, 100);
    let streets: Vec<Street> = (0..street_count)
        .map(|_| {
            let name = unique(rng, names::street);
            // NBS numbering: streets from 001, towns from 100.
            let number = if name.ends_with('镇') {
                next_town += 1;
                next_town - 1
            } else {
                next_street += 1;
                next_street - 1
            };
            Street {
                code: format!("{}{number:03}", profile.code),
                name,
                zone: None,
            }
        })
        .collect();

    // Every street gets a community; the rest go to random streets.
    let mut street_of: Vec<usize> = (0..n)
        .map(|i| {
            if i < street_count {
                i
            } else {
                rng::int(rng, 0, street_count as i64 - 1) as usize
            }
        })
        .collect();
    street_of.sort_unstable();

    let spread = 0.03 + 0.02 * (f64::from(profile.population) / 1e6).sqrt();
    let mut per_street = vec![0u32; street_count];
    let communities = street_of
        .into_iter()
        .map(|street| {
            per_street[street] += 1;
            let population = rng::lognormal(rng, mean * 0.92, 0.45)
                .clamp(f64::from(MIN_COMMUNITY), f64::from(MAX_COMMUNITY))
                .round() as u32;
            let household_size = rng::uniform(rng, 2.3, 2.9);
            let compounds = (0..rng::int(rng, 3, 12))
                .map(|_| names::compound(rng))
                .collect();
            Community {
                code: format!("{}{:03}", streets[street].code, per_street[street]),
                name: unique(rng, names::community),
                street,
                population,
                households: (f64::from(population) / household_size).round() as u32,
                lng: profile.lng + rng::normal(rng) * spread,
                lat: profile.lat + rng::normal(rng) * spread * 0.8,
                compounds,
                built_year: rng::int(rng, 1965, 2015) as i16,
                area_km2: 0.0,
                under3: 0,
                elderly: 0,
                on_platform: false,
                circle5: 0,
                circle15: 0,
            }
        })
        .collect();
    District {
        index,
        profile,
        code: profile.code.to_owned(),
        name,
        streets,
        communities,
        full_communities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    #[test]
    fn codes_nest_and_sizes_are_realistic() {
        let city = City::build(&profile::BEIJING, 0.05, 7, None).unwrap();
        assert_eq!(city.districts.len(), 16);
        let table = DivisionTable::builtin();
        for d in &city.districts {
            let district = table.resolve_district(&d.code).unwrap();
            assert_eq!(district.name_zh, d.name);
            for c in &d.communities {
                let street = &d.streets[c.street];
                table.check_street(district, &d.code, &street.code).unwrap();
                table
                    .check_community(district, &d.code, Some(&street.code), &c.code)
                    .unwrap();
                assert!((MIN_COMMUNITY..=MAX_COMMUNITY).contains(&c.population));
            }
        }
        let hd = city.districts.iter().find(|d| d.code == "110108").unwrap();
        assert!(
            (20..=40).contains(&hd.communities.len()),
            "{}",
            hd.communities.len()
        );
    }

    #[test]
    fn chongqing_and_hangzhou_have_their_districts() {
        let cq = City::build(&profile::CHONGQING, 0.01, 1, None).unwrap();
        assert_eq!(cq.districts.len(), 9);
        let hz = City::build(&profile::HANGZHOU, 0.01, 1, None).unwrap();
        assert_eq!(hz.districts.len(), 13);
    }
}
