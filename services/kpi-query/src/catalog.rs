//! The SQL of `sql/`: the views every query can use and the KPI catalogue.
//!
//! Both are compiled into the binary, so a running service answers exactly the definitions of
//! the commit it was built from.

use std::fmt;

use chrono::{NaiveDate, Weekday};
use include_dir::{Dir, include_dir};
use serde::Serialize;

use crate::reference::CALENDAR_RANGE;

static SQL: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../sql");

/// Why a catalogue file or a KPI request is refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A KPI file lacks a header line.
    #[error("{file}: header `-- {key}:` is missing")]
    MissingHeader {
        /// The file.
        file: String,
        /// The key.
        key: &'static str,
    },
    /// No KPI has this id.
    #[error("no KPI {0} in the catalogue (GET /kpis lists them)")]
    UnknownKpi(String),
    /// A parameter is malformed.
    #[error("{0}")]
    BadParameter(String),
}

/// A view of `sql/views/`.
#[derive(Debug, Clone)]
pub struct View {
    /// View name (the file name without its order prefix).
    pub name: String,
    /// Its `SELECT`.
    pub sql: String,
}

/// One KPI of `sql/kpis/`.
#[derive(Debug, Clone, Serialize)]
pub struct Kpi {
    /// `K13`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Unit, e.g. `部`.
    pub unit: String,
    /// `flow`, `stock` or `ratio`.
    pub kind: String,
    /// Default grain and drill-downs.
    pub grain: String,
    /// Definition in words.
    pub definition: String,
    /// The published figure it relates to.
    pub published: String,
    /// The `SELECT` with `{from}`, `{to}` and `{grain}` placeholders.
    #[serde(skip)]
    pub sql: String,
}

/// Time grain of a KPI answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
}

impl Grain {
    /// Parses `week`, `month`, `quarter` or `year`.
    pub fn parse(value: &str) -> Result<Self, CatalogError> {
        match value {
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "quarter" => Ok(Self::Quarter),
            "year" => Ok(Self::Year),
            other => Err(CatalogError::BadParameter(format!(
                "grain {other:?} is not one of week, month, quarter, year"
            ))),
        }
    }

    /// The `date_trunc` unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validated parameters of a KPI answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiParams {
    /// First local date, inclusive.
    pub from: NaiveDate,
    /// Last local date, inclusive.
    pub to: NaiveDate,
    /// Periods.
    pub grain: Grain,
    /// A district code, a city code (its districts rolled up), or every district.
    pub district: Option<String>,
    /// First day of a week period (Monday: ISO weeks).
    pub week_start: Weekday,
}

impl KpiParams {
    /// Checks the values a request gave; they are put into SQL text, so only dates, a grain
    /// and a six-digit code pass.
    pub fn new(
        from: &str,
        to: &str,
        grain: &str,
        district: Option<&str>,
    ) -> Result<Self, CatalogError> {
        let date = |name: &str, v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                CatalogError::BadParameter(format!("{name} {v:?} is not a date YYYY-MM-DD"))
            })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if from > to {
            return Err(CatalogError::BadParameter(format!(
                "from {from} is after to {to}"
            )));
        }
        let (first, last) = CALENDAR_RANGE;
        if from < first || to > last {
            return Err(CatalogError::BadParameter(format!(
                "dates must lie within {first}..{last}"
            )));
        }
        let district = match district
            .map(str::trim)
            .filter(|d| !d.is_empty() && *d != "all")
        {
            None => None,
            Some(d) if d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()) => Some(d.to_owned()),
            Some(d) => {
                return Err(CatalogError::BadParameter(format!(
                    "district {d:?} is not a six-digit district or city code"
                )));
            }
        };
        Ok(Self {
            from,
            to,
            grain: Grain::parse(grain)?,
            district,
            week_start: Weekday::Mon,
        })
    }

    /// Weeks start on `day` instead of Monday (a statistical week such as Friday to Thursday).
    pub fn with_week_start(mut self, day: Weekday) -> Self {
        self.week_start = day;
        self
    }
}

/// Parses a weekday: `monday` … `sunday` or `mon` … `sun`, any case.
pub fn parse_weekday(value: &str) -> Result<Weekday, CatalogError> {
    value.trim().parse::<Weekday>().map_err(|_| {
        CatalogError::BadParameter(format!(
            "week_start {value:?} is not a weekday (monday … sunday)"
        ))
    })
}

/// The views and KPIs compiled from `sql/`.
#[derive(Debug, Clone)]
pub struct KpiCatalog {
    views: Vec<View>,
    kpis: Vec<Kpi>,
}

impl KpiCatalog {
    /// The catalogue of this build.
    pub fn builtin() -> Result<Self, CatalogError> {
        let mut views: Vec<(&str, &str)> = SQL
            .get_dir("views")
            .map(|d| d.files().filter_map(sql_file).collect())
            .unwrap_or_default();
        views.sort();
        let views = views
            .into_iter()
            .map(|(file, sql)| View {
                name: view_name(file),
                sql: sql.to_owned(),
            })
            .collect();
        let mut kpis = SQL
            .get_dir("kpis")
            .map(|d| {
                d.files()
                    .filter_map(sql_file)
                    .map(|(file, sql)| parse_kpi(file, sql))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        kpis.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Self { views, kpis })
    }

    /// Views in creation order.
    pub fn views(&self) -> &[View] {
        &self.views
    }

    /// KPIs by id.
    pub fn kpis(&self) -> &[Kpi] {
        &self.kpis
    }

    /// The KPI `id` (case-insensitive).
    pub fn kpi(&self, id: &str) -> Result<&Kpi, CatalogError> {
        self.kpis
            .iter()
            .find(|k| k.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| CatalogError::UnknownKpi(id.to_owned()))
    }
}

fn sql_file<'a>(f: &'a include_dir::File<'a>) -> Option<(&'a str, &'a str)> {
    let name = f.path().file_name()?.to_str()?;
    if !name.ends_with(".sql") {
        return None;
    }
    Some((name, f.contents_utf8()?))
}

/// `03_hotline_ticket_latest.sql` → `hotline_ticket_latest`.
fn view_name(file: &str) -> String {
    let stem = file.trim_end_matches(".sql");
    match stem.split_once('_') {
        Some((order, rest)) if order.bytes().all(|b| b.is_ascii_digit()) => rest.to_owned(),
        _ => stem.to_owned(),
    }
}

fn parse_kpi(file: &str, sql: &str) -> Result<Kpi, CatalogError> {
    let header = |key: &'static str| -> Result<String, CatalogError> {
        let prefix = format!("-- {key}:");
        sql.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
            .ok_or_else(|| CatalogError::MissingHeader {
                file: file.to_owned(),
                key,
            })
    };
    Ok(Kpi {
        id: header("id")?,
        name_zh: header("name_zh")?,
        name_en: header("name_en")?,
        unit: header("unit")?,
        kind: header("kind")?,
        grain: header("grain")?,
        definition: header("definition")?,
        published: header("published").unwrap_or_default(),
        sql: sql.to_owned(),
    })
}

impl Kpi {
    /// The KPI's `SELECT` with the parameters put in: one row per district, period and item.
    pub fn render(&self, params: &KpiParams) -> String {
        let days = params.week_start.num_days_from_monday();
        let sql = if params.grain == Grain::Week && days > 0 {
            shift_weeks(&self.sql, days)
        } else {
            self.sql.clone()
        };
        sql.replace("{from}", &format!("DATE '{}'", params.from))
            .replace("{to}", &format!("DATE '{}'", params.to))
            .replace("{grain}", &format!("'{}'", params.grain))
    }

    /// The query that answers the KPI for `params`: district names joined, filtered to the
    /// district, or rolled up to the city when `params.district` is a city code.
    pub fn answer_sql(&self, params: &KpiParams) -> String {
        let body = self.render(params);
        let body = body.trim().trim_end_matches(';');
        answer_over(&format!("(\n{body}\n)"), params.district.as_deref())
    }
}

/// The answer of a KPI whose rows (district, period, item, value, numerator, denominator) are
/// `rows` (a table name or a parenthesised query): district names joined, filtered to
/// `district`, or rolled up to the city when `district` is a city code.
pub fn answer_over(rows: &str, district: Option<&str>) -> String {
    match district {
        // County-level codes never end in 00: this is a city (110000, 330100), whose
        // districts are summed, ratios from their summed parts.
        Some(code) if code.ends_with("00") => {
            format!(
                "SELECT c.city_code AS district, MIN(c.city_name_zh) AS district_name_zh, \
                 MIN(c.city_name_en) AS district_name_en, k.period, k.item, \
                 CASE WHEN COUNT(k.denominator) > 0 \
                      THEN SUM(k.numerator) / NULLIF(SUM(k.denominator), 0) \
                      ELSE SUM(k.value) END AS value, \
                 SUM(k.numerator) AS numerator, SUM(k.denominator) AS denominator \
                 FROM {rows} AS k JOIN divisions c ON c.code = k.district \
                 WHERE c.city_code = '{code}' \
                 GROUP BY c.city_code, k.period, k.item ORDER BY k.period, k.item"
            )
        }
        district => {
            let filter = district
                .map(|d| format!("WHERE k.district = '{d}' "))
                .unwrap_or_default();
            format!(
                "SELECT k.district, d.name_zh AS district_name_zh, d.name_en AS district_name_en, \
                 k.period, k.item, k.value, k.numerator, k.denominator \
                 FROM {rows} AS k LEFT JOIN divisions d ON d.code = k.district \
                 {filter}ORDER BY k.district, k.period, k.item"
            )
        }
    }
}

/// Rewrites every `date_trunc({grain}, d)` as the start of a week beginning `days` after Monday:
/// `(date_trunc('week', d - days) + days)`. Every period of the catalogue is written that way,
/// so the definitions stay the ones in `sql/kpis/`; the form runs on DataFusion and DuckDB.
fn shift_weeks(sql: &str, days: u32) -> String {
    const CALL: &str = "date_trunc({grain}, ";
    let mut out = String::with_capacity(sql.len() + 256);
    let mut rest = sql;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let after = &rest[at + CALL.len()..];
        // The argument ends at the parenthesis that closes the call.
        let mut depth = 0usize;
        let end = after
            .char_indices()
            .find(|&(_, c)| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth == 0 => true,
                ')' => {
                    depth -= 1;
                    false
                }
                _ => false,
            })
            .map_or(after.len(), |(i, _)| i);
        let arg = &after[..end];
        out.push_str(&format!(
            "(date_trunc('week', {arg} - INTERVAL '{days} days') + INTERVAL '{days} days')"
        ));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_validated_before_they_reach_sql() {
        assert!(KpiParams::new("2024-01-01", "2024-12-31", "week", Some("110108")).is_ok());
        for (from, to, grain, district) in [
            ("2024-01-01'; DROP", "2024-12-31", "week", None),
            ("2024-12-31", "2024-01-01", "week", None),
            ("2024-01-01", "2024-12-31", "day'", None),
            ("2024-01-01", "2024-12-31", "week", Some("1' OR '1'='1")),
            ("1999-01-01", "2024-12-31", "week", None),
        ] {
            assert!(
                KpiParams::new(from, to, grain, district).is_err(),
                "{from} {grain} {district:?}"
            );
        }
    }

    #[test]
    fn weeks_can_start_on_another_day() {
        let sql = "SELECT CAST(date_trunc({grain}, CAST(day + INTERVAL '1 day' AS DATE)) AS DATE), \
                   CAST(date_trunc({grain}, event_date) AS DATE) FROM t";
        assert_eq!(
            shift_weeks(sql, 4),
            "SELECT CAST((date_trunc('week', CAST(day + INTERVAL '1 day' AS DATE) - INTERVAL '4 days') \
             + INTERVAL '4 days') AS DATE), CAST((date_trunc('week', event_date - INTERVAL '4 days') \
             + INTERVAL '4 days') AS DATE) FROM t"
        );
        let catalog = KpiCatalog::builtin().unwrap();
        let params = KpiParams::new("2024-06-07", "2024-06-13", "week", None).unwrap();
        let friday = params.clone().with_week_start(Weekday::Fri);
        for kpi in catalog.kpis() {
            let shifted = kpi.render(&friday);
            assert!(!shifted.contains("{grain}") && !shifted.contains("date_trunc('week', day)"));
            assert_eq!(
                shifted.matches("date_trunc(").count(),
                kpi.sql.matches("date_trunc(").count(),
                "{}",
                kpi.id
            );
        }
        assert_eq!(parse_weekday("Friday").unwrap(), Weekday::Fri);
        assert!(parse_weekday("someday").is_err());
    }

    #[test]
    fn view_names_drop_the_order_prefix() {
        assert_eq!(
            view_name("03_hotline_ticket_latest.sql"),
            "hotline_ticket_latest"
        );
        assert_eq!(view_name("dim_week.sql"), "dim_week");
    }
}
