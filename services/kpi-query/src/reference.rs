//! The reference tables every view may join: the calendar, the division table and the
//! versioned weights of the hotline's three rates.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use civicpulse_core::division::DivisionTable;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;

use crate::settings::WeightVersion;

/// First and last day of `calendar`.
pub const CALENDAR_RANGE: (NaiveDate, NaiveDate) = (
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date"),
    NaiveDate::from_ymd_opt(2040, 12, 31).expect("valid date"),
);

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn table(columns: Vec<(&str, DataType, bool, ArrayRef)>) -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, t, nullable, _)| Field::new(*name, t.clone(), *nullable))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, _, _, a)| a).collect(),
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// One row per day: ISO week (Monday–Sunday) and the first days of its month, quarter and
/// year. Dates are local dates in Asia/Shanghai, as `event_date` is.
pub fn calendar() -> Result<Arc<MemTable>> {
    let (first, last) = CALENDAR_RANGE;
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let date = |f: &dyn Fn(&NaiveDate) -> NaiveDate| -> ArrayRef {
        Arc::new(Date32Array::from_iter_values(
            days.iter().map(|d| days_since_epoch(f(d))),
        ))
    };
    let first_of = |d: &NaiveDate, month: u32| {
        NaiveDate::from_ymd_opt(d.year(), month, 1).expect("first of month")
    };
    table(vec![
        ("day", DataType::Date32, false, date(&|d| *d)),
        (
            "iso_year",
            DataType::Int32,
            false,
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.iso_week().year()),
            )),
        ),
        (
            "iso_week",
            DataType::Int32,
            false,
            Arc::new(Int32Array::from_iter_values(
                days.iter().map(|d| d.iso_week().week() as i32),
            )),
        ),
        (
            "week",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from_iter_values(days.iter().map(|d| {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }))),
        ),
        (
            "week_start",
            DataType::Date32,
            false,
            date(&|d| *d - chrono::Days::new(d.weekday().num_days_from_monday() as u64)),
        ),
        (
            "month_start",
            DataType::Date32,
            false,
            date(&|d| first_of(d, d.month())),
        ),
        (
            "quarter_start",
            DataType::Date32,
            false,
            date(&|d| first_of(d, (d.month() - 1) / 3 * 3 + 1)),
        ),
        (
            "year_start",
            DataType::Date32,
            false,
            date(&|d| first_of(d, 1)),
        ),
    ])
}

/// The GB/T 2260 districts of the built-in division table.
pub fn divisions() -> Result<Arc<MemTable>> {
    let table_ = DivisionTable::builtin();
    let districts: Vec<_> = table_.districts().collect();
    let text = |f: &dyn Fn(&civicpulse_core::division::District) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            districts.iter().map(|d| f(d)),
        ))
    };
    table(vec![
        ("code", DataType::Utf8, false, text(&|d| &d.code)),
        ("name_zh", DataType::Utf8, false, text(&|d| &d.name_zh)),
        ("name_en", DataType::Utf8, false, text(&|d| &d.name_en)),
        ("city_code", DataType::Utf8, false, text(&|d| &d.city_code)),
        (
            "city_name_zh",
            DataType::Utf8,
            false,
            text(&|d| &d.city_name_zh),
        ),
        (
            "city_name_en",
            DataType::Utf8,
            false,
            text(&|d| &d.city_name_en),
        ),
        ("level", DataType::Utf8, false, text(&|_| "district")),
    ])
}

/// The configured weight versions of the three rates.
pub fn weight_versions(versions: &[WeightVersion]) -> Result<Arc<MemTable>> {
    let float = |f: &dyn Fn(&WeightVersion) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(versions.iter().map(f)))
    };
    table(vec![
        (
            "scheme",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|v| v.scheme.as_str()),
            )),
        ),
        (
            "valid_from",
            DataType::Date32,
            false,
            Arc::new(Date32Array::from_iter_values(
                versions.iter().map(|v| days_since_epoch(v.valid_from)),
            )),
        ),
        (
            "w_response",
            DataType::Float64,
            false,
            float(&|v| v.w_response),
        ),
        (
            "w_resolution",
            DataType::Float64,
            false,
            float(&|v| v.w_resolution),
        ),
        (
            "w_satisfaction",
            DataType::Float64,
            false,
            float(&|v| v.w_satisfaction),
        ),
        (
            "basic_credit",
            DataType::Float64,
            false,
            float(&|v| v.basic_credit),
        ),
        (
            "source",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|v| v.source.as_str()),
            )),
        ),
        (
            "verified",
            DataType::Boolean,
            false,
            Arc::new(BooleanArray::from_iter(
                versions.iter().map(|v| Some(v.verified)),
            )),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_weeks_are_iso_weeks() {
        let d = NaiveDate::from_ymd_opt(2024, 12, 30).unwrap();
        assert_eq!(d.iso_week().year(), 2025, "30 Dec 2024 is in 2025-W01");
        assert!(calendar().is_ok());
        assert!(divisions().is_ok());
    }
}
