//! The versioned administrative division table: GB/T 2260 district codes of the cities
//! civicpulse serves, the crosswalk from retired codes, and the nesting rules for street
//! (9-digit) and community (12-digit) codes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Version of the compiled-in division table (Ministry of Civil Affairs list, 2024).
pub const DIVISION_TABLE_VERSION: &str = "mca-2024";

const GB2260_CSV: &str = include_str!("../../../schemas/divisions/gb2260.csv");
const CROSSWALK_CSV: &str = include_str!("../../../schemas/divisions/crosswalk.csv");

/// A county-level division (district, county or county-level city).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct District {
    /// Six-digit GB/T 2260 code.
    pub code: String,
    /// Chinese name, e.g. `海淀区`.
    pub name_zh: String,
    /// English name, e.g. `Haidian`.
    pub name_en: String,
    /// Code of the city it belongs to, e.g. `110000`.
    pub city_code: String,
    /// Chinese city name.
    pub city_name_zh: String,
    /// English city name.
    pub city_name_en: String,
}

/// Why a division code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionError {
    /// The value is not six ASCII digits.
    #[error("district_code {0:?} is not a 6-digit division code")]
    NotADistrictCode(String),
    /// Six digits, but not a district of the table (nor a retired code of one).
    #[error("district_code {0} is not in division table {DIVISION_TABLE_VERSION}")]
    UnknownDistrict(String),
    /// A street code that is not 9 digits or not under its district.
    #[error("street_code {code:?} is not a 9-digit code under district {district}")]
    InvalidStreetCode {
        /// The street code as sent.
        code: String,
        /// The district it should nest under.
        district: String,
    },
    /// A community code that is not 12 digits or not under its street or district.
    #[error("community_code {code:?} is not a 12-digit code under {parent}")]
    InvalidCommunityCode {
        /// The community code as sent.
        code: String,
        /// The street or district it should nest under.
        parent: String,
    },
    /// A well-formed community code missing from the configured community list.
    #[error("community_code {0} is not in the configured community list")]
    UnknownCommunity(String),
}

/// The division table: districts by code, the crosswalk and an optional community list.
#[derive(Debug, Clone)]
pub struct DivisionTable {
    districts: Arc<BTreeMap<String, District>>,
    crosswalk: Arc<BTreeMap<String, String>>,
    communities: Option<Arc<HashSet<String>>>,
}

impl DivisionTable {
    /// The compiled-in table ([`DIVISION_TABLE_VERSION`]).
    pub fn builtin() -> Self {
        let districts = csv_rows(GB2260_CSV)
            .map(|f| {
                let district = District {
                    code: f[0].to_owned(),
                    name_zh: f[1].to_owned(),
                    name_en: f[2].to_owned(),
                    city_code: f[3].to_owned(),
                    city_name_zh: f[4].to_owned(),
                    city_name_en: f[5].to_owned(),
                };
                (district.code.clone(), district)
            })
            .collect();
        let crosswalk = csv_rows(CROSSWALK_CSV)
            .map(|f| (f[0].to_owned(), f[1].to_owned()))
            .collect();
        Self {
            districts: Arc::new(districts),
            crosswalk: Arc::new(crosswalk),
            communities: None,
        }
    }

    /// The table's version.
    pub fn version(&self) -> &'static str {
        DIVISION_TABLE_VERSION
    }

    /// This table, also checking community codes against `codes` (a city's full list).
    pub fn with_communities(mut self, codes: impl IntoIterator<Item = String>) -> Self {
        self.communities = Some(Arc::new(codes.into_iter().collect()));
        self
    }

    /// Reads a community list: one 12-digit code per line (first field of a CSV line); blank
    /// lines, `#` comments and a header are skipped.
    pub fn load_community_list(path: &Path) -> std::io::Result<Vec<String>> {
        let text = std::fs::read_to_string(path)?;
        Ok(text
            .lines()
            .filter_map(|line| line.split(',').next())
            .map(str::trim)
            .filter(|code| code.len() == 12 && is_digits(code))
            .map(str::to_owned)
            .collect())
    }

    /// The current district for `raw`: six ASCII digits, looked up directly or through the
    /// crosswalk of retired codes.
    pub fn resolve_district(&self, raw: &str) -> Result<&District, DivisionError> {
        if raw.len() != 6 || !is_digits(raw) {
            return Err(DivisionError::NotADistrictCode(truncate(raw)));
        }
        let code = self.crosswalk.get(raw).map_or(raw, String::as_str);
        self.districts
            .get(code)
            .ok_or_else(|| DivisionError::UnknownDistrict(raw.to_owned()))
    }

    /// Checks that `street` is a 9-digit code under `district` (or under the retired code the
    /// event was sent with).
    pub fn check_street(
        &self,
        district: &District,
        raw_district: &str,
        street: &str,
    ) -> Result<(), DivisionError> {
        let nested = street.len() == 9
            && is_digits(street)
            && (street.starts_with(&district.code) || street.starts_with(raw_district));
        if nested {
            Ok(())
        } else {
            Err(DivisionError::InvalidStreetCode {
                code: truncate(street),
                district: district.code.clone(),
            })
        }
    }

    /// Checks that `community` is a 12-digit code under `street` when given, else under
    /// `district`, and in the community list when one is configured.
    pub fn check_community(
        &self,
        district: &District,
        raw_district: &str,
        street: Option<&str>,
        community: &str,
    ) -> Result<(), DivisionError> {
        let well_formed = community.len() == 12 && is_digits(community);
        let (nested, parent) = match street {
            Some(street) => (community.starts_with(street), street.to_owned()),
            None => (
                community.starts_with(&district.code) || community.starts_with(raw_district),
                district.code.clone(),
            ),
        };
        if !well_formed || !nested {
            return Err(DivisionError::InvalidCommunityCode {
                code: truncate(community),
                parent,
            });
        }
        match &self.communities {
            Some(list) if !list.contains(community) => {
                Err(DivisionError::UnknownCommunity(community.to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// The district with current code `code`.
    pub fn district(&self, code: &str) -> Option<&District> {
        self.districts.get(code)
    }

    /// The districts of city `city` (a city code such as `110000`, or an English or Chinese
    /// name, case-insensitive), in code order.
    pub fn districts_of_city<'a>(&'a self, city: &'a str) -> impl Iterator<Item = &'a District> {
        self.districts.values().filter(move |d| {
            d.city_code == city
                || d.city_name_zh == city
                || d.city_name_en.eq_ignore_ascii_case(city)
        })
    }

    /// Every district, in code order.
    pub fn districts(&self) -> impl Iterator<Item = &District> {
        self.districts.values()
    }
}

fn csv_rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.splitn(7, ',').collect::<Vec<_>>())
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Keeps error messages short whatever a producer sends.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_resolve_and_old_codes_cross_walk() {
        let t = DivisionTable::builtin();
        assert_eq!(t.resolve_district("110108").unwrap().name_zh, "海淀区");
        assert_eq!(t.resolve_district("330103").unwrap().code, "330105");
        assert_eq!(t.resolve_district("110229").unwrap().code, "110119");
        assert_eq!(t.districts_of_city("beijing").count(), 16);
        assert_eq!(t.districts_of_city("330100").count(), 13);
        assert_eq!(
            t.districts_of_city("重庆市")
                .filter(|d| d.code.as_str() < "500114")
                .count(),
            13
        );
    }

    #[test]
    fn malformed_and_unknown_codes_are_refused() {
        let t = DivisionTable::builtin();
        for bad in [
            "../../etc",
            "11010",
            "1101080",
            "11o108",
            "１１０１０８",
            "",
        ] {
            assert!(matches!(
                t.resolve_district(bad),
                Err(DivisionError::NotADistrictCode(_))
            ));
        }
        assert!(matches!(
            t.resolve_district("999999"),
            Err(DivisionError::UnknownDistrict(_))
        ));
    }

    #[test]
    fn streets_and_communities_nest() {
        let t = DivisionTable::builtin();
        let d = t.resolve_district("110108").unwrap();
        assert!(t.check_street(d, "110108", "110108001").is_ok());
        assert!(t.check_street(d, "110108", "110105001").is_err());
        assert!(t.check_street(d, "110108", "11010800").is_err());
        assert!(
            t.check_community(d, "110108", Some("110108001"), "110108001001")
                .is_ok()
        );
        assert!(
            t.check_community(d, "110108", Some("110108001"), "110108002001")
                .is_err()
        );
        assert!(
            t.check_community(d, "110108", None, "110105001001")
                .is_err()
        );
        let listed = t.clone().with_communities(["110108001001".to_owned()]);
        assert!(
            listed
                .check_community(d, "110108", None, "110108001001")
                .is_ok()
        );
        assert_eq!(
            listed.check_community(d, "110108", None, "110108001002"),
            Err(DivisionError::UnknownCommunity("110108001002".into()))
        );
    }
}
