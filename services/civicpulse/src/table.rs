//! The per-district table of headline KPIs for one ISO week, answered by kpi-query's engine
//! from the catalogue (`sql/kpis/`), never by a formula of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::{Datelike, NaiveDate};
use kpi_query::{Grain, KpiParams, LakeOptions, QueryEngine, QueryError};

/// One column of the table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// KPI id in the catalogue (also the header).
    pub kpi: &'static str,
    /// A ratio, printed as a percentage (`–` without a denominator); else a count (0 without
    /// rows).
    pub ratio: bool,
}

/// The headline KPIs of the demo's table: hotline requests, the resolution and satisfaction
/// rates, elevators installed, age-friendly households, inclusive childcare places.
pub const COLUMNS: [Column; 6] = [
    Column {
        kpi: "K23",
        ratio: false,
    },
    Column {
        kpi: "K26",
        ratio: true,
    },
    Column {
        kpi: "K27",
        ratio: true,
    },
    Column {
        kpi: "K13",
        ratio: false,
    },
    Column {
        kpi: "K15",
        ratio: false,
    },
    Column {
        kpi: "K04",
        ratio: false,
    },
];

/// Width of a value column.
const CELL: usize = 9;

/// An ISO week, Monday to Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    /// Its Monday.
    pub monday: NaiveDate,
}

impl Week {
    /// Its Sunday.
    pub fn sunday(&self) -> NaiveDate {
        self.monday + chrono::Days::new(6)
    }

    /// `YYYY-Www`, as citysim's ground truth names weeks.
    pub fn label(&self) -> String {
        let w = self.monday.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    }
}

/// One line of the table: a district or the city.
#[derive(Debug, Clone)]
pub struct Line {
    /// District (or city) code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Values in [`COLUMNS`] order; `None` is a ratio without a denominator.
    pub values: Vec<Option<f64>>,
}

/// The table of one week.
#[derive(Debug, Clone)]
pub struct KpiTable {
    /// The week.
    pub week: Week,
    /// One line per district, then the city.
    pub lines: Vec<Line>,
    /// Per column: the KPI's Chinese and English name and unit, from the catalogue.
    pub legend: Vec<String>,
}

/// Answers [`COLUMNS`] for `week` for the districts `codes` (in that order) and their city
/// `city_code` through `engine`.
pub async fn build(
    engine: &QueryEngine,
    week: Week,
    codes: &[&str],
    city_code: &str,
) -> Result<KpiTable, QueryError> {
    let names = district_names(engine, codes, city_code).await?;
    let mut lines: Vec<Line> = codes
        .iter()
        .chain(std::iter::once(&city_code))
        .map(|code| {
            let (zh, en) = names.get(*code).cloned().unwrap_or_default();
            Line {
                code: (*code).to_owned(),
                name_zh: zh,
                name_en: en,
                values: Vec::with_capacity(COLUMNS.len()),
            }
        })
        .collect();
    let (from, to) = (week.monday.to_string(), week.sunday().to_string());
    for column in COLUMNS {
        let mut by_district = BTreeMap::new();
        for district in [None, Some(city_code)] {
            let params = KpiParams::new(&from, &to, Grain::Week.as_str(), district)?;
            let batches = engine
                .kpi(column.kpi, &params, &LakeOptions::default())
                .await?
                .collect()
                .await?;
            for batch in &batches {
                for (code, value) in district_values(batch)? {
                    by_district.insert(code, value);
                }
            }
        }
        for line in &mut lines {
            let value = match by_district.get(&line.code) {
                Some(v) => *v,
                None if column.ratio => None,
                None => Some(0.0),
            };
            line.values.push(value);
        }
    }
    let mut legend = Vec::with_capacity(COLUMNS.len());
    for column in COLUMNS {
        let kpi = engine.catalog().kpi(column.kpi)?;
        let unit = if column.ratio { "%" } else { &kpi.unit };
        legend.push(format!(
            "{}  {} {} ({unit})",
            kpi.id, kpi.name_zh, kpi.name_en
        ));
    }
    Ok(KpiTable {
        week,
        lines,
        legend,
    })
}

/// `code → (name_zh, name_en)` of the districts and the city, from kpi-query's `divisions`.
async fn district_names(
    engine: &QueryEngine,
    codes: &[&str],
    city_code: &str,
) -> Result<BTreeMap<String, (String, String)>, QueryError> {
    // Codes come from citysim's profiles: six digits, safe in SQL text.
    let list = codes
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT code, name_zh, name_en FROM divisions WHERE code IN ({list}) \
         UNION ALL SELECT DISTINCT city_code, city_name_zh, city_name_en FROM divisions \
         WHERE city_code = '{city_code}'"
    );
    let batches = engine
        .sql(&sql, &LakeOptions::default())
        .await?
        .collect()
        .await?;
    let mut names = BTreeMap::new();
    for batch in &batches {
        let (code, zh, en) = (text(batch, 0)?, text(batch, 1)?, text(batch, 2)?);
        for i in 0..batch.num_rows() {
            names.insert(
                code.value(i).to_owned(),
                (zh.value(i).to_owned(), en.value(i).to_owned()),
            );
        }
    }
    Ok(names)
}

/// `(district, value)` of a KPI answer's rows (one period: the week).
fn district_values(batch: &RecordBatch) -> Result<Vec<(String, Option<f64>)>, QueryError> {
    let index = |name: &str| {
        batch
            .schema()
            .index_of(name)
            .map_err(|e| QueryError::Execution(e.to_string()))
    };
    let districts = text(batch, index("district")?)?;
    let values = cast(batch.column(index("value")?), &DataType::Float64)
        .map_err(|e| QueryError::Execution(e.to_string()))?;
    let values = values
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to Float64");
    Ok((0..batch.num_rows())
        .map(|i| {
            let v = (!values.is_null(i)).then(|| values.value(i));
            (districts.value(i).to_owned(), v)
        })
        .collect())
}

/// Column `i` of `batch` as plain UTF-8 strings.
fn text(batch: &RecordBatch, i: usize) -> Result<StringArray, QueryError> {
    let column =
        cast(batch.column(i), &DataType::Utf8).map_err(|e| QueryError::Execution(e.to_string()))?;
    Ok(column
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8")
        .clone())
}

impl KpiTable {
    /// The table as text: a header, one line per district, the city last. Each line starts
    /// with the six-digit code and ends with the [`COLUMNS`] values: counts as integers, ratios
    /// as percentages with one decimal, `–` for a ratio without a denominator.
    pub fn render(&self) -> String {
        let name_width = self
            .lines
            .iter()
            .map(|l| width(&l.name_zh) + 1 + width(&l.name_en))
            .max()
            .unwrap_or(0)
            .max("district".len());
        let mut out = String::new();
        let _ = write!(out, "{:<6}  {}", "code", pad("district", name_width));
        for c in COLUMNS {
            let _ = write!(out, "  {}", pad_left(c.kpi, CELL));
        }
        out.push('\n');
        for (n, line) in self.lines.iter().enumerate() {
            if n + 1 == self.lines.len() {
                let rule = 8 + name_width + COLUMNS.len() * (CELL + 2);
                out.push_str(&"-".repeat(rule));
                out.push('\n');
            }
            let name = format!("{} {}", line.name_zh, line.name_en);
            let _ = write!(out, "{:<6}  {}", line.code, pad(&name, name_width));
            for (c, v) in COLUMNS.iter().zip(&line.values) {
                let cell = match v {
                    None => "–".to_owned(),
                    Some(v) if c.ratio => format!("{:.1}%", v * 100.0),
                    Some(v) => format!("{v:.0}"),
                };
                let _ = write!(out, "  {}", pad_left(&cell, CELL));
            }
            out.push('\n');
        }
        out.push('\n');
        for line in &self.legend {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Columns `s` takes on a terminal: CJK characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if (c as u32) >= 0x1100 && c != '–' {
                2
            } else {
                1
            }
        })
        .sum()
}

fn pad(s: &str, to: usize) -> String {
    format!("{s}{}", " ".repeat(to.saturating_sub(width(s))))
}

fn pad_left(s: &str, to: usize) -> String {
    format!("{}{s}", " ".repeat(to.saturating_sub(width(s))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_named_as_the_truth_names_them() {
        let week = Week {
            monday: NaiveDate::from_ymd_opt(2024, 6, 24).unwrap(),
        };
        assert_eq!(week.label(), "2024-W26");
        assert_eq!(week.sunday().to_string(), "2024-06-30");
        let first = Week {
            monday: NaiveDate::from_ymd_opt(2024, 12, 30).unwrap(),
        };
        assert_eq!(first.label(), "2025-W01");
    }

    #[test]
    fn lines_start_with_the_code_and_end_with_the_values() {
        let table = KpiTable {
            week: Week {
                monday: NaiveDate::from_ymd_opt(2024, 6, 24).unwrap(),
            },
            lines: vec![
                Line {
                    code: "110108".into(),
                    name_zh: "海淀区".into(),
                    name_en: "Haidian".into(),
                    values: vec![
                        Some(120.0),
                        Some(0.8765),
                        None,
                        Some(2.0),
                        Some(7.0),
                        Some(0.0),
                    ],
                },
                Line {
                    code: "110000".into(),
                    name_zh: "北京市".into(),
                    name_en: "Beijing".into(),
                    values: vec![
                        Some(120.0),
                        Some(0.8765),
                        None,
                        Some(2.0),
                        Some(7.0),
                        Some(0.0),
                    ],
                },
            ],
            legend: vec!["K23  诉求受理量 Requests received (件)".into()],
        };
        let text = table.render();
        let line = text.lines().find(|l| l.starts_with("110108")).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[1..3], ["海淀区", "Haidian"]);
        assert_eq!(cells[3..], ["120", "87.6%", "–", "2", "7", "0"]);
        // The Chinese name takes two columns a character: the value columns line up.
        let header = text.lines().next().unwrap();
        assert_eq!(width(line), width(header));
    }
}
