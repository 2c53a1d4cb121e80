//! The versioned administrative division table: GB/T 2260 district codes of the cities
//! civicpulse serves, the crosswalks from retired codes and moved streets, the functional zones
//! that have no code of their own, the nesting rules for street (9-digit) and community
//! (12-digit) codes, and name→code resolution against the `communities` reference.
//!
//! How an event's division fields become its landed codes ([`DivisionTable::place`]):
//!
//! 1. The district: a six-digit code as sent, or, when the district field is not a code but
//!    names a functional zone (`北京经济技术开发区`, `经开区`, pseudo-code `11E001` …), the
//!    GB district the zone's street or community lies in: the 6-digit prefix of the street
//!    or community code, else the street/community names looked up among the zone's
//!    communities in the reference. A zone nothing places is refused.
//! 2. Retired codes go through `crosswalk.csv`; then a street that moved to another district
//!    (`street_crosswalk.csv`, Hangzhou 2021) moves the event, told by the street name (suffix
//!    tolerant), by the reference's name of the street code, or by a street/community code
//!    whose prefix is the district the street moved to. Codes as sent are kept: only the
//!    district is mapped.
//! 3. Street and community codes must nest under the district (or the code the event was
//!    sent with, or an old district that gave the district streets). With the reference
//!    loaded, a community code under the current district must be one of its communities.
//! 4. With the reference loaded, a street or community sent by name only is resolved within
//!    the district (and the street, when known) at the event's date: exact name after trimming
//!    and NFKC, then ignoring a 街道/镇/乡/地区 or 社区/居委会/村委会 suffix, only when exactly one
//!    code matches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

/// Version of the compiled-in division table (Ministry of Civil Affairs list, 2024; Chongqing's
/// counties complete, Hangzhou's 2021 street moves, functional zones).
pub const DIVISION_TABLE_VERSION: &str = "mca-2024.2";

const GB2260_CSV: &str = include_str!("../../../schemas/divisions/gb2260.csv");
const CROSSWALK_CSV: &str = include_str!("../../../schemas/divisions/crosswalk.csv");
const STREET_CROSSWALK_CSV: &str = include_str!("../../../schemas/divisions/street_crosswalk.csv");
const ZONES_CSV: &str = include_str!("../../../schemas/divisions/functional_zones.csv");

/// Suffixes a street name may carry or lack (longest first).
const STREET_SUFFIXES: &[&str] = &[
    "街道办事处",
    "地区办事处",
    "镇人民政府",
    "乡人民政府",
    "街道办",
    "镇政府",
    "乡政府",
    "街道",
    "地区",
    "镇",
    "乡",
];

/// Suffixes a community name may carry or lack (longest first).
const COMMUNITY_SUFFIXES: &[&str] = &[
    "社区居民委员会",
    "社区居委会",
    "居民委员会",
    "村民委员会",
    "居委会",
    "村委会",
    "社区",
];

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

/// A functional zone (经济技术开发区, 新区, 风景名胜区): a unit 12345 data uses as its own that
/// has no GB code. It is not a district: its communities keep their GB district, and the
/// `functional_zone` column of the communities reference names the zone they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionalZone {
    /// Pseudo-code for feeds that need a code in the district field, e.g. `11E001`; never a
    /// landed value.
    pub code: String,
    /// Full Chinese name: the value of `functional_zone` in the communities reference.
    pub name_zh: String,
    /// Other names feeds use for it.
    pub aliases: Vec<String>,
    /// The city it lies in.
    pub city_code: String,
}

/// A street that moved to another district (`street_crosswalk.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreetMove {
    /// The district it belonged to.
    pub old_district: String,
    /// The street's name.
    pub street_name: String,
    /// The district it belongs to since `valid_from`.
    pub new_district: String,
    /// When it moved.
    pub valid_from: NaiveDate,
    name: Name,
}

/// Why a division code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionError {
    /// The value is not six ASCII digits (nor a functional zone).
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
    /// A well-formed community code of the current district that the communities reference
    /// does not list.
    #[error("community_code {0} is not in the communities reference")]
    UnknownCommunity(String),
    /// The district field names a functional zone, and neither a street or community code nor
    /// a street or community name found in the reference places the event in a GB district.
    #[error(
        "the district field names functional zone {0} (no GB code), and no street or community code or name places it in a district"
    )]
    UnplacedZone(String),
    /// A required community sent by name only that the reference does not resolve.
    #[error("community_name {problem} of district {district} in the communities reference")]
    UnresolvedCommunity {
        /// The district searched.
        district: String,
        /// No match, or several.
        problem: NameProblem,
    },
    /// A required community code is missing (and no name could stand in for it).
    #[error("missing field `community_code`")]
    MissingCommunity {
        /// A `community_name` was sent, but no communities reference is loaded to resolve it.
        name_sent: bool,
    },
}

/// Why a name did not resolve to one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// No community of that name.
    Unknown,
    /// That many communities of that name (send the code, or the street).
    Ambiguous(usize),
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown => f.write_str("matches no community"),
            Self::Ambiguous(n) => write!(f, "matches {n} communities"),
        }
    }
}

/// One row of the `communities` reference, the columns the ingest needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityRecord {
    /// 12-digit community code.
    pub community_code: String,
    /// Community name.
    pub community_name: String,
    /// 9-digit street code.
    pub street_code: String,
    /// Street name.
    pub street_name: String,
    /// 6-digit GB district code.
    pub district_code: String,
    /// The functional zone it lies in, if any ([`FunctionalZone::name_zh`]).
    pub functional_zone: Option<String>,
    /// First day of this version.
    pub valid_from: NaiveDate,
}

/// A name as compared: NFKC and trimmed, and without its administrative suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Name {
    full: String,
    stem: String,
}

impl Name {
    fn new(raw: &str, suffixes: &[&str]) -> Self {
        let full = normalise_name(raw);
        let stem = suffixes
            .iter()
            .find_map(|s| full.strip_suffix(s).filter(|stem| !stem.is_empty()))
            .unwrap_or(&full)
            .to_owned();
        Self { full, stem }
    }

    fn street(raw: &str) -> Self {
        Self::new(raw, STREET_SUFFIXES)
    }

    fn community(raw: &str) -> Self {
        Self::new(raw, COMMUNITY_SUFFIXES)
    }

    fn exact(&self, query: &Name) -> bool {
        !query.full.is_empty() && self.full == query.full
    }

    /// Equal but for one suffix on either side (`临平` = `临平街道`, `二里庄社区` = `二里庄居委会`).
    fn tolerant(&self, query: &Name) -> bool {
        !query.full.is_empty()
            && (self.stem == query.stem || self.stem == query.full || self.full == query.stem)
    }
}

/// A name as compared: Unicode NFKC (full-width letters and digits, compatibility forms), then
/// trimmed.
pub fn normalise_name(raw: &str) -> String {
    raw.nfkc().collect::<String>().trim().to_owned()
}

#[derive(Debug)]
struct Row {
    rec: CommunityRecord,
    community: Name,
    street: Name,
}

/// What a name lookup found.
enum Found<'a> {
    One(&'a CommunityRecord),
    Unknown,
    Ambiguous(usize),
}

/// The `communities` reference, indexed for the ingest: community codes, and names by district
/// and by functional zone. Every version of a community is kept; a lookup at date `d` sees each
/// community as its newest version with `valid_from <= d`, or its first version for dates
/// before that (a reference loaded once covers the history before it).
#[derive(Debug, Default)]
pub struct Communities {
    rows: Vec<Row>,
    versions: HashMap<String, (usize, usize)>,
    by_district: HashMap<String, Vec<usize>>,
    by_zone: HashMap<String, Vec<usize>>,
    street_names: HashMap<String, usize>,
}

impl Communities {
    /// Indexes `records` (any order; one per community and version).
    pub fn new(records: impl IntoIterator<Item = CommunityRecord>) -> Self {
        let mut records: Vec<_> = records.into_iter().collect();
        records.sort_by(|a, b| {
            (&a.community_code, a.valid_from).cmp(&(&b.community_code, b.valid_from))
        });
        let mut index = Self::default();
        for (i, rec) in records.into_iter().enumerate() {
            index
                .versions
                .entry(rec.community_code.clone())
                .and_modify(|(_, end)| *end = i + 1)
                .or_insert((i, i + 1));
            index
                .by_district
                .entry(rec.district_code.clone())
                .or_default()
                .push(i);
            if let Some(zone) = &rec.functional_zone {
                let zone = normalise_name(zone);
                if !zone.is_empty() {
                    index.by_zone.entry(zone).or_default().push(i);
                }
            }
            index.street_names.insert(rec.street_code.clone(), i);
            index.rows.push(Row {
                community: Name::community(&rec.community_name),
                street: Name::street(&rec.street_name),
                rec,
            });
        }
        index
    }

    /// Number of communities (codes).
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Whether community `code` is listed (in any version).
    pub fn contains(&self, code: &str) -> bool {
        self.versions.contains_key(code)
    }

    /// Whether row `i` is its community's version at `date` (the newest when `None`).
    fn current(&self, i: usize, date: Option<NaiveDate>) -> bool {
        let Some(&(start, end)) = self.versions.get(&self.rows[i].rec.community_code) else {
            return false;
        };
        let at = match date {
            None => end - 1,
            Some(d) => (start..end)
                .rev()
                .find(|&j| self.rows[j].rec.valid_from <= d)
                .unwrap_or(start),
        };
        at == i
    }

    fn in_district(&self, district: &str) -> &[usize] {
        self.by_district.get(district).map_or(&[], Vec::as_slice)
    }

    fn in_zone(&self, zone: &FunctionalZone) -> Vec<usize> {
        let mut names: Vec<String> = [&zone.name_zh, &zone.code]
            .into_iter()
            .chain(&zone.aliases)
            .map(|n| normalise_name(n))
            .collect();
        names.sort();
        names.dedup();
        names
            .iter()
            .filter_map(|n| self.by_zone.get(n))
            .flatten()
            .copied()
            .collect()
    }

    /// The reference's name of street `code`.
    fn street_name(&self, code: &str) -> Option<&Name> {
        self.street_names.get(code).map(|&i| &self.rows[i].street)
    }

    /// The one code (by `key`) among `candidates` at `date` whose name (by `name`) is `query`:
    /// exact first, then suffix-tolerant.
    fn resolve<'a>(
        &'a self,
        candidates: impl IntoIterator<Item = usize>,
        date: Option<NaiveDate>,
        query: &Name,
        name: fn(&Row) -> &Name,
        key: fn(&CommunityRecord) -> &str,
    ) -> Found<'a> {
        let live: Vec<&Row> = candidates
            .into_iter()
            .filter(|&i| self.current(i, date))
            .map(|i| &self.rows[i])
            .collect();
        for matches in [Name::exact, Name::tolerant] {
            let mut found: BTreeMap<&str, &CommunityRecord> = BTreeMap::new();
            for row in live.iter().filter(|r| matches(name(r), query)) {
                found.entry(key(&row.rec)).or_insert(&row.rec);
            }
            match found.len() {
                0 => continue,
                1 => return Found::One(found.into_values().next().expect("one")),
                n => return Found::Ambiguous(n),
            }
        }
        Found::Unknown
    }
}

/// An event's division fields as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct DivisionFields<'a> {
    /// `city_code`.
    pub city_code: &'a str,
    /// `district_code`: a GB code, or a functional zone's name or pseudo-code.
    pub district_code: &'a str,
    /// `district_name`.
    pub district_name: &'a str,
    /// `street_code`.
    pub street_code: Option<&'a str>,
    /// `street_name`.
    pub street_name: Option<&'a str>,
    /// `community_code`.
    pub community_code: Option<&'a str>,
    /// `community_name`.
    pub community_name: Option<&'a str>,
    /// The event's date (Asia/Shanghai): which version of the reference applies.
    pub date: Option<NaiveDate>,
    /// Whether the stream requires a community code (facility, renovation).
    pub community_required: bool,
}

/// Where an event lands: its current district and its checked or resolved codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The current district.
    pub district: &'a District,
    /// The street code as sent, or resolved from `street_name` (or from the community).
    pub street_code: Option<String>,
    /// The community code as sent, or resolved from `community_name`.
    pub community_code: Option<String>,
}

/// The division table: districts by code, the crosswalks, the functional zones and, when the
/// lake holds one, the communities reference.
#[derive(Debug, Clone)]
pub struct DivisionTable {
    districts: Arc<BTreeMap<String, District>>,
    crosswalk: Arc<BTreeMap<String, String>>,
    street_moves: Arc<Vec<StreetMove>>,
    zones: Arc<Vec<FunctionalZone>>,
    communities: Option<Arc<Communities>>,
}

impl DivisionTable {
    /// The compiled-in table ([`DIVISION_TABLE_VERSION`]).
    pub fn builtin() -> Self {
        let districts = csv_rows(GB2260_CSV, 7)
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
        let crosswalk = csv_rows(CROSSWALK_CSV, 4)
            .map(|f| (f[0].to_owned(), f[1].to_owned()))
            .collect();
        let street_moves = csv_rows(STREET_CROSSWALK_CSV, 5)
            .map(|f| StreetMove {
                old_district: f[0].to_owned(),
                street_name: f[1].to_owned(),
                new_district: f[2].to_owned(),
                valid_from: NaiveDate::parse_from_str(f[3], "%Y-%m-%d")
                    .expect("street_crosswalk.csv: valid_from is a date"),
                name: Name::street(f[1]),
            })
            .collect();
        let zones = csv_rows(ZONES_CSV, 5)
            .map(|f| FunctionalZone {
                code: f[0].to_owned(),
                name_zh: f[1].to_owned(),
                aliases: f[2]
                    .split('|')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
                city_code: f[3].to_owned(),
            })
            .collect();
        Self {
            districts: Arc::new(districts),
            crosswalk: Arc::new(crosswalk),
            street_moves: Arc::new(street_moves),
            zones: Arc::new(zones),
            communities: None,
        }
    }

    /// The table's version.
    pub fn version(&self) -> &'static str {
        DIVISION_TABLE_VERSION
    }

    /// This table with the communities reference `records`: community codes of the current
    /// district must be listed, and names resolve to codes.
    pub fn with_communities(mut self, records: impl IntoIterator<Item = CommunityRecord>) -> Self {
        self.communities = Some(Arc::new(Communities::new(records)));
        self
    }

    /// The communities reference, when loaded.
    pub fn communities(&self) -> Option<&Communities> {
        self.communities.as_deref()
    }

    /// The current district for `raw`: six ASCII digits, looked up directly or through the
    /// crosswalk of retired codes.
    pub fn resolve_district(&self, raw: &str) -> Result<&District, DivisionError> {
        if !is_code(raw, 6) {
            return Err(DivisionError::NotADistrictCode(truncate(raw)));
        }
        let code = self.crosswalk.get(raw).map_or(raw, String::as_str);
        self.districts
            .get(code)
            .ok_or_else(|| DivisionError::UnknownDistrict(raw.to_owned()))
    }

    /// The functional zone named `name` (its name, an alias or its pseudo-code, after NFKC and
    /// trimming) in city `city_code` (any city when `city_code` is not one of the table's).
    pub fn zone_named(&self, name: &str, city_code: &str) -> Option<&FunctionalZone> {
        let name = normalise_name(name);
        if name.is_empty() {
            return None;
        }
        let known_city = self.districts.values().any(|d| d.city_code == city_code);
        self.zones.iter().find(|z| {
            (!known_city || z.city_code == city_code)
                && (normalise_name(&z.name_zh) == name
                    || z.code.eq_ignore_ascii_case(&name)
                    || z.aliases.iter().any(|a| normalise_name(a) == name))
        })
    }

    /// The functional zones.
    pub fn zones(&self) -> impl Iterator<Item = &FunctionalZone> {
        self.zones.iter()
    }

    /// The streets that moved between districts.
    pub fn street_moves(&self) -> impl Iterator<Item = &StreetMove> {
        self.street_moves.iter()
    }

    /// Places an event: its current district, street and community codes (see the module
    /// documentation for the rules).
    pub fn place(&self, f: &DivisionFields<'_>) -> Result<Placement<'_>, DivisionError> {
        let refs = self.communities.as_deref();
        // 1. The district as sent, or the GB district a functional zone's street lies in.
        let sent = if is_code(f.district_code, 6) {
            f.district_code.to_owned()
        } else if let Some(zone) = self
            .zone_named(f.district_code, f.city_code)
            .or_else(|| self.zone_named(f.district_name, f.city_code))
        {
            self.place_zone(zone, f)?
        } else {
            return Err(DivisionError::NotADistrictCode(truncate(f.district_code)));
        };
        // 2. Retired codes, then streets that moved.
        let mut district = self.resolve_district(&sent)?;
        if let Some(moved) = self.moved_street(&sent, district, f) {
            district = moved;
        }
        // 3. The street: as sent, else by name.
        let mut street_code = match f.street_code {
            Some(street) => {
                self.check_street(district, &sent, street)?;
                Some(street.to_owned())
            }
            None => None,
        };
        if let (None, Some(name), Some(refs)) = (&street_code, f.street_name, refs) {
            let found = refs.resolve(
                refs.in_district(&district.code).iter().copied(),
                f.date,
                &Name::street(name),
                |r| &r.street,
                |r| &r.street_code,
            );
            if let Found::One(r) = found
                && f.community_code
                    .is_none_or(|c| c.starts_with(&r.street_code))
            {
                street_code = Some(r.street_code.clone());
            }
        }
        // 4. The community: as sent, else by name within the district (and street).
        let community_code = match (f.community_code, f.community_name, refs) {
            (Some(community), _, _) => {
                self.check_community(district, &sent, f.street_code, community)?;
                Some(community.to_owned())
            }
            (None, Some(name), Some(refs)) => {
                let candidates = refs
                    .in_district(&district.code)
                    .iter()
                    .copied()
                    .filter(|&i| {
                        street_code
                            .as_deref()
                            .is_none_or(|s| refs.rows[i].rec.street_code == s)
                    });
                let problem = match refs.resolve(
                    candidates,
                    f.date,
                    &Name::community(name),
                    |r| &r.community,
                    |r| &r.community_code,
                ) {
                    Found::One(r) => {
                        street_code.get_or_insert_with(|| r.street_code.clone());
                        return Ok(Placement {
                            district,
                            street_code,
                            community_code: Some(r.community_code.clone()),
                        });
                    }
                    Found::Unknown => NameProblem::Unknown,
                    Found::Ambiguous(n) => NameProblem::Ambiguous(n),
                };
                if f.community_required {
                    return Err(DivisionError::UnresolvedCommunity {
                        district: district.code.clone(),
                        problem,
                    });
                }
                None
            }
            (None, name, _) if f.community_required => {
                return Err(DivisionError::MissingCommunity {
                    name_sent: name.is_some(),
                });
            }
            (None, _, _) => None,
        };
        Ok(Placement {
            district,
            street_code,
            community_code,
        })
    }

    /// The GB district (as a code, possibly retired) where an event of functional zone `zone`
    /// lies: the prefix of its street or community code when that is a district of the zone's
    /// city, else the district of the street or community the reference finds by name among the
    /// zone's communities.
    fn place_zone(
        &self,
        zone: &FunctionalZone,
        f: &DivisionFields<'_>,
    ) -> Result<String, DivisionError> {
        for code in [f.street_code, f.community_code].into_iter().flatten() {
            if code.len() > 6
                && is_digits(code)
                && let Ok(d) = self.resolve_district(&code[..6])
                && d.city_code == zone.city_code
            {
                return Ok(code[..6].to_owned());
            }
        }
        if let Some(refs) = self.communities.as_deref() {
            let mut rows = refs.in_zone(zone);
            let street = f.street_name.and_then(|name| {
                match refs.resolve(
                    rows.iter().copied(),
                    f.date,
                    &Name::street(name),
                    |r| &r.street,
                    |r| &r.street_code,
                ) {
                    Found::One(r) => Some(r.clone()),
                    _ => None,
                }
            });
            if let Some(s) = &street {
                rows.retain(|&i| refs.rows[i].rec.street_code == s.street_code);
            }
            if let Some(name) = f.community_name
                && let Found::One(r) = refs.resolve(
                    rows.iter().copied(),
                    f.date,
                    &Name::community(name),
                    |r| &r.community,
                    |r| &r.community_code,
                )
            {
                return Ok(r.district_code.clone());
            }
            if let Some(s) = street {
                return Ok(s.district_code);
            }
        }
        Err(DivisionError::UnplacedZone(zone.name_zh.clone()))
    }

    /// The district a street of an event sent with district `sent` moved to: told by the
    /// street's name (as sent, or the reference's name of the street code), or by a street or
    /// community code under a district that took streets from `sent`.
    fn moved_street(
        &self,
        sent: &str,
        current: &District,
        f: &DivisionFields<'_>,
    ) -> Option<&District> {
        let moves = || self.street_moves.iter().filter(|m| m.old_district == sent);
        moves().next()?;
        let name = f.street_name.map(Name::street).or_else(|| {
            let refs = self.communities.as_deref()?;
            refs.street_name(f.street_code?).cloned()
        });
        if let Some(name) = name
            && let Some(m) = moves().find(|m| m.name.tolerant(&name))
        {
            return self.districts.get(&m.new_district);
        }
        for code in [f.street_code, f.community_code].into_iter().flatten() {
            let Some(prefix) = code.get(..6) else {
                continue;
            };
            if prefix != current.code && moves().any(|m| m.new_district == prefix) {
                return self.districts.get(prefix);
            }
        }
        None
    }

    /// Whether `code` nests under `district`: under its code, the code the event was sent with,
    /// or a district that merged into it or gave it streets (codes as sent are kept).
    fn nests(&self, district: &District, sent: &str, code: &str) -> bool {
        code.starts_with(&district.code)
            || (is_code(sent, 6) && code.starts_with(sent))
            || self
                .crosswalk
                .iter()
                .filter(|(_, new)| **new == district.code)
                .any(|(old, _)| code.starts_with(old.as_str()))
            || self
                .street_moves
                .iter()
                .filter(|m| m.new_district == district.code)
                .any(|m| code.starts_with(&m.old_district))
    }

    /// Checks that `street` is a 9-digit code under `district` (or under the code the event was
    /// sent with, or a district that merged into it or gave it streets).
    pub fn check_street(
        &self,
        district: &District,
        raw_district: &str,
        street: &str,
    ) -> Result<(), DivisionError> {
        if is_code(street, 9) && self.nests(district, raw_district, street) {
            Ok(())
        } else {
            Err(DivisionError::InvalidStreetCode {
                code: truncate(street),
                district: district.code.clone(),
            })
        }
    }

    /// Checks that `community` is a 12-digit code under `street` when given, else under
    /// `district`, and, with the communities reference loaded, one of its communities when it
    /// lies under the current district code (codes under a retired or former district are
    /// history the reference does not list).
    pub fn check_community(
        &self,
        district: &District,
        raw_district: &str,
        street: Option<&str>,
        community: &str,
    ) -> Result<(), DivisionError> {
        let (nested, parent) = match street {
            Some(street) => (community.starts_with(street), street.to_owned()),
            None => (
                self.nests(district, raw_district, community),
                district.code.clone(),
            ),
        };
        if !is_code(community, 12) || !nested {
            return Err(DivisionError::InvalidCommunityCode {
                code: truncate(community),
                parent,
            });
        }
        match &self.communities {
            Some(refs) if community.starts_with(&district.code) && !refs.contains(community) => {
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

/// The data lines of a compiled-in CSV file, split into at most `fields` fields (the last, a
/// note, may hold commas).
fn csv_rows(text: &'static str, fields: usize) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(move |line| line.splitn(fields, ',').collect::<Vec<_>>())
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn is_code(s: &str, len: usize) -> bool {
    s.len() == len && is_digits(s)
}

/// Keeps error messages short whatever a producer sends.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// A communities reference row.
    fn row(
        code: &str,
        name: &str,
        street: &str,
        street_name: &str,
        zone: Option<&str>,
        from: &str,
    ) -> CommunityRecord {
        CommunityRecord {
            community_code: code.into(),
            community_name: name.into(),
            street_code: street.into(),
            street_name: street_name.into(),
            district_code: code[..6].into(),
            functional_zone: zone.map(str::to_owned),
            valid_from: date(from),
        }
    }

    fn reference() -> DivisionTable {
        DivisionTable::builtin().with_communities([
            row(
                "110108012001",
                "二里庄社区",
                "110108012",
                "学院路街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108012002",
                "花园社区",
                "110108012",
                "学院路街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108013001",
                "花园村委会",
                "110108013",
                "清河街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108013002",
                "二里庄社区",
                "110108013",
                "清河街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108013003",
                "第1社区",
                "110108013",
                "清河街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108014001",
                "旧名社区",
                "110108014",
                "燕园街道",
                None,
                "2020-01-01",
            ),
            row(
                "110108014001",
                "新名社区",
                "110108014",
                "燕园街道",
                None,
                "2024-07-01",
            ),
            row(
                "110115001001",
                "荣华社区",
                "110115001",
                "荣华街道",
                Some("北京经济技术开发区"),
                "2020-01-01",
            ),
            row(
                "110112002001",
                "台湖社区",
                "110112002",
                "台湖镇",
                Some("北京经济技术开发区"),
                "2020-01-01",
            ),
            row(
                "110115009001",
                "黄村社区",
                "110115009",
                "兴丰街道",
                None,
                "2020-01-01",
            ),
            row(
                "330110001001",
                "藕花洲社区",
                "330110001",
                "临平街道",
                None,
                "2019-01-01",
            ),
            row(
                "330113001001",
                "藕花洲社区",
                "330113001",
                "临平街道",
                None,
                "2021-04-09",
            ),
        ])
    }

    fn fields<'a>(district: &'a str) -> DivisionFields<'a> {
        DivisionFields {
            city_code: "",
            district_code: district,
            date: Some(date("2024-05-06")),
            ..Default::default()
        }
    }

    fn district_of(t: &DivisionTable, f: DivisionFields<'_>) -> String {
        t.place(&f).unwrap().district.code.clone()
    }

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
    fn chongqing_has_all_38_districts_and_counties() {
        let t = DivisionTable::builtin();
        assert_eq!(t.districts_of_city("500000").count(), 38);
        for (code, name) in [
            ("500229", "城口县"),
            ("500230", "丰都县"),
            ("500231", "垫江县"),
            ("500233", "忠县"),
            ("500235", "云阳县"),
            ("500236", "奉节县"),
            ("500237", "巫山县"),
            ("500238", "巫溪县"),
            ("500240", "石柱土家族自治县"),
            ("500241", "秀山土家族苗族自治县"),
            ("500242", "酉阳土家族苗族自治县"),
            ("500243", "彭水苗族土家族自治县"),
        ] {
            let d = t.resolve_district(code).unwrap();
            assert_eq!((d.name_zh.as_str(), d.city_code.as_str()), (name, "500000"));
        }
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
            assert!(matches!(
                t.place(&fields(bad)),
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
        let listed = t.clone().with_communities([row(
            "110108001001",
            "x",
            "110108001",
            "y",
            None,
            "2020-01-01",
        )]);
        assert!(
            listed
                .check_community(d, "110108", None, "110108001001")
                .is_ok()
        );
        assert_eq!(
            listed.check_community(d, "110108", None, "110108001002"),
            Err(DivisionError::UnknownCommunity("110108001002".into()))
        );
        // A code under a retired district is history the reference does not list.
        let gs = t.resolve_district("330103").unwrap();
        let listed = listed.clone();
        assert!(
            listed
                .check_community(gs, "330103", None, "330103001001")
                .is_ok()
        );
    }

    #[test]
    fn hangzhou_streets_that_moved_move_their_events() {
        let t = DivisionTable::builtin();
        let at = |district: &str, street: Option<&str>| {
            district_of(
                &t,
                DivisionFields {
                    street_name: street,
                    ..fields(district)
                },
            )
        };
        // Retired codes: 下城 → 拱墅 whatever the street; 江干 → 上城 unless the street went to 钱塘.
        assert_eq!(at("330103", Some("武林街道")), "330105");
        assert_eq!(at("330104", None), "330102");
        assert_eq!(at("330104", Some("凯旋街道")), "330102");
        assert_eq!(at("330104", Some("下沙街道")), "330114");
        assert_eq!(at("330104", Some("白杨")), "330114");
        // Live codes whose streets moved: 余杭 → 临平, 萧山 → 钱塘; suffix and NFKC tolerant.
        assert_eq!(at("330110", Some("临平街道")), "330113");
        assert_eq!(at("330110", Some(" 塘栖 ")), "330113");
        assert_eq!(at("330110", Some("塘栖镇")), "330113");
        assert_eq!(at("330110", Some("\u{3000}乔司街道\u{3000}")), "330113");
        assert_eq!(at("330110", Some("良渚街道")), "330110");
        assert_eq!(at("330109", Some("河庄街道")), "330114");
        assert_eq!(at("330109", Some("前进")), "330114");
        assert_eq!(at("330109", Some("城厢街道")), "330109");
        // Sent with the new code: nothing to do.
        assert_eq!(at("330113", Some("临平街道")), "330113");
        assert_eq!(t.street_moves().count(), 15);
    }

    #[test]
    fn the_street_code_tells_where_the_name_is_missing() {
        let t = reference();
        // The reference names street 330110001 临平街道: an 余杭 event of it lands in 临平, and
        // keeps the source street code (nested under the district it was sent with).
        let p = t
            .place(&DivisionFields {
                street_code: Some("330110001"),
                community_code: Some("330110001001"),
                ..fields("330110")
            })
            .unwrap();
        assert_eq!(p.district.code, "330113");
        assert_eq!(p.street_code.as_deref(), Some("330110001"));
        assert_eq!(p.community_code.as_deref(), Some("330110001001"));
        // Without a reference nothing tells: the event stays in 余杭.
        let builtin = DivisionTable::builtin();
        let f = DivisionFields {
            street_code: Some("330110001"),
            ..fields("330110")
        };
        assert_eq!(district_of(&builtin, f), "330110");
        // A stale district with the new street code: the code's prefix tells.
        let f = DivisionFields {
            street_code: Some("330113001"),
            ..fields("330110")
        };
        assert_eq!(district_of(&builtin, f), "330113");
        let f = DivisionFields {
            community_code: Some("330114005001"),
            ..fields("330109")
        };
        assert_eq!(district_of(&builtin, f), "330114");
        // The new district with the street's old code nests; an unrelated district's does not.
        let f = DivisionFields {
            street_code: Some("330110001"),
            ..fields("330113")
        };
        assert_eq!(district_of(&builtin, f), "330113");
        let f = DivisionFields {
            street_code: Some("330106001"),
            ..fields("330113")
        };
        assert!(matches!(
            builtin.place(&f),
            Err(DivisionError::InvalidStreetCode { .. })
        ));
    }

    #[test]
    fn functional_zones_are_placed_by_street_or_community() {
        let t = reference();
        let zone = |district: &'static str, name: &'static str| DivisionFields {
            city_code: "110000",
            district_name: name,
            ..fields(district)
        };
        // By the street or community code's prefix, with or without a reference.
        for table in [DivisionTable::builtin(), t.clone()] {
            let f = DivisionFields {
                street_code: Some("110115001"),
                ..zone("北京经济技术开发区", "")
            };
            assert_eq!(district_of(&table, f), "110115");
            let f = DivisionFields {
                community_code: Some("110112002001"),
                ..zone("11E001", "北京经济技术开发区")
            };
            assert_eq!(district_of(&table, f), "110112");
        }
        // By name, among the zone's communities in the reference.
        let f = DivisionFields {
            community_name: Some("台湖"),
            ..zone("", "经开区")
        };
        let p = t.place(&f).unwrap();
        assert_eq!(p.district.code, "110112");
        assert_eq!(p.community_code.as_deref(), Some("110112002001"));
        assert_eq!(p.street_code.as_deref(), Some("110112002"));
        let f = DivisionFields {
            street_name: Some("荣华街道"),
            ..zone("北京经开区", "")
        };
        assert_eq!(district_of(&t, f), "110115");
        // A community outside the zone does not place it.
        let f = DivisionFields {
            community_name: Some("黄村社区"),
            ..zone("经开区", "")
        };
        assert_eq!(
            t.place(&f),
            Err(DivisionError::UnplacedZone("北京经济技术开发区".into()))
        );
        // Nothing to place it by.
        assert_eq!(
            DivisionTable::builtin().place(&zone("11E001", "")),
            Err(DivisionError::UnplacedZone("北京经济技术开发区".into()))
        );
        // A street code of another city does not place it.
        let f = DivisionFields {
            street_code: Some("500112001"),
            ..zone("北京经济技术开发区", "")
        };
        assert!(matches!(t.place(&f), Err(DivisionError::UnplacedZone(_))));
        // Zone names are the city's: Hangzhou's 高新区 is not Chongqing's.
        let f = DivisionFields {
            city_code: "330100",
            street_code: Some("330108001"),
            ..fields("高新区")
        };
        assert!(matches!(
            t.place(&f),
            Err(DivisionError::NotADistrictCode(_))
        ));
        let f = DivisionFields {
            city_code: "500000",
            street_code: Some("500107001"),
            ..fields("高新区")
        };
        assert_eq!(district_of(&t, f), "500107");
        assert_eq!(t.zones().count(), 4);
    }

    #[test]
    fn names_resolve_to_codes_within_the_district() {
        let t = reference();
        let named = |street: Option<&'static str>, community: &'static str| DivisionFields {
            street_name: street,
            community_name: Some(community),
            community_required: true,
            ..fields("110108")
        };
        let place = |f: DivisionFields<'_>| {
            t.place(&f)
                .map(|p| (p.street_code.unwrap(), p.community_code.unwrap()))
        };
        let found = |s: &str, c: &str| Ok((s.to_owned(), c.to_owned()));
        // Exact; suffix-tolerant (either side); NFKC.
        assert_eq!(
            place(named(Some("学院路街道"), "二里庄社区")),
            found("110108012", "110108012001")
        );
        assert_eq!(
            place(named(Some("学院路"), "二里庄")),
            found("110108012", "110108012001")
        );
        assert_eq!(
            place(named(Some("学院路街道"), "二里庄居委会")),
            found("110108012", "110108012001")
        );
        assert_eq!(
            place(named(None, "第１社区")),
            found("110108013", "110108013003")
        );
        // Two 二里庄社区 in the district: the street decides; without it, ambiguous.
        assert_eq!(
            place(named(Some("清河"), "二里庄社区")),
            found("110108013", "110108013002")
        );
        let ambiguous = Err(DivisionError::UnresolvedCommunity {
            district: "110108".into(),
            problem: NameProblem::Ambiguous(2),
        });
        assert_eq!(place(named(None, "二里庄社区")), ambiguous);
        // An exact name wins over a suffix-tolerant one; a bare stem matching two is ambiguous.
        assert_eq!(
            place(named(None, "花园社区")),
            found("110108012", "110108012002")
        );
        assert_eq!(place(named(None, "花园")), ambiguous);
        // Unknown; and a name of another district is unknown here.
        let unknown = Err(DivisionError::UnresolvedCommunity {
            district: "110108".into(),
            problem: NameProblem::Unknown,
        });
        assert_eq!(place(named(None, "不存在社区")), unknown);
        assert_eq!(place(named(None, "黄村社区")), unknown);
        // Hotline: optional, so an unresolved name leaves the code NULL and the event lands.
        let optional = DivisionFields {
            community_required: false,
            ..named(None, "不存在社区")
        };
        let p = t.place(&optional).unwrap();
        assert_eq!((p.street_code, p.community_code), (None, None));
        let street_only = DivisionFields {
            street_name: Some("燕园街道"),
            ..fields("110108")
        };
        let p = t.place(&street_only).unwrap();
        assert_eq!(
            (p.street_code.as_deref(), p.community_code),
            (Some("110108014"), None)
        );
        // A community code as sent is never overridden by a name.
        let p = t
            .place(&DivisionFields {
                community_code: Some("110108012002"),
                ..named(None, "二里庄社区")
            })
            .unwrap();
        assert_eq!(p.community_code.as_deref(), Some("110108012002"));
        assert_eq!(p.street_code, None);
    }

    #[test]
    fn names_resolve_in_the_version_of_the_event_date() {
        let t = reference();
        let at = |day: &str, name: &'static str| {
            t.place(&DivisionFields {
                community_name: Some(name),
                community_required: true,
                date: Some(date(day)),
                ..fields("110108")
            })
            .map(|p| p.community_code.unwrap())
        };
        assert_eq!(at("2024-03-01", "旧名社区").as_deref(), Ok("110108014001"));
        assert!(at("2024-03-01", "新名社区").is_err());
        assert_eq!(at("2024-08-01", "新名社区").as_deref(), Ok("110108014001"));
        assert!(at("2024-08-01", "旧名社区").is_err());
        // Before the first version: the first version.
        assert_eq!(at("2015-01-01", "旧名社区").as_deref(), Ok("110108014001"));
        // Moved streets: an old 余杭 event by name resolves among 临平's current communities.
        let p = t
            .place(&DivisionFields {
                street_name: Some("临平街道"),
                community_name: Some("藕花洲"),
                community_required: true,
                ..fields("330110")
            })
            .unwrap();
        assert_eq!(p.district.code, "330113");
        assert_eq!(p.community_code.as_deref(), Some("330113001001"));
    }

    #[test]
    fn without_a_reference_names_do_not_stand_in_for_codes() {
        let t = DivisionTable::builtin();
        let f = DivisionFields {
            community_name: Some("二里庄社区"),
            community_required: true,
            ..fields("110108")
        };
        assert_eq!(
            t.place(&f),
            Err(DivisionError::MissingCommunity { name_sent: true })
        );
        let f = DivisionFields {
            community_required: true,
            ..fields("110108")
        };
        assert_eq!(
            reference().place(&f),
            Err(DivisionError::MissingCommunity { name_sent: false })
        );
        let f = DivisionFields {
            street_name: Some("学院路街道"),
            community_name: Some("二里庄社区"),
            ..fields("110108")
        };
        let p = t.place(&f).unwrap();
        assert_eq!((p.street_code, p.community_code), (None, None));
    }

    #[test]
    fn community_codes_are_checked_against_the_reference() {
        let t = reference();
        let f = DivisionFields {
            community_code: Some("110108012009"),
            ..fields("110108")
        };
        assert_eq!(
            t.place(&f),
            Err(DivisionError::UnknownCommunity("110108012009".into()))
        );
        assert!(DivisionTable::builtin().place(&f).is_ok());
    }
}
