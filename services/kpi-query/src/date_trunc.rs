//! `date_trunc` to a week, month, quarter or year over timestamps without a time zone, by day
//! arithmetic.
//!
//! Every KPI groups by `date_trunc({grain}, <a date>)`: the date is cast to a timestamp without
//! a time zone, and DataFusion truncates each such value through a time-zone-aware calendar
//! conversion, a large share of a hotline KPI's time over millions of tickets. Without a time
//! zone, truncating to a week or coarser depends only on the value's day, so [`Coarse`] goes
//! through the calendar once per run of one day; every other call (finer precisions, time
//! zones, scalars, times) goes to DataFusion's function unchanged.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, AsArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampNanosecondType};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::wrapped::{Body, Wrapped};

const NANOS_PER_DAY: i64 = 86_400_000_000_000;
/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Replaces `date_trunc` registered in `ctx` by its wrapper with [`Coarse`] as its body.
pub fn register(ctx: &SessionContext) -> Result<()> {
    let inner = ctx.udf("date_trunc")?;
    ctx.register_udf(Wrapped::udf(inner.as_ref().clone(), Coarse));
    Ok(())
}

/// The body of `date_trunc` with a day-based path for week, month, quarter and year over
/// timestamps without a time zone; everything else is the inner function's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Coarse;

/// The precisions [`Coarse`] truncates itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Week,
    Month,
    Quarter,
    Year,
}

impl Precision {
    fn of(granularity: &ColumnarValue) -> Option<Self> {
        let text = match granularity {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(v))
                | ScalarValue::Utf8View(Some(v))
                | ScalarValue::LargeUtf8(Some(v)),
            ) => v,
            _ => return None,
        };
        match text.to_ascii_lowercase().as_str() {
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            "year" => Some(Self::Year),
            _ => None,
        }
    }

    /// The first day of the period holding `day` (days since 1970-01-01), `None` outside the
    /// calendar.
    fn start(self, day: i64) -> Option<i64> {
        if self == Self::Week {
            // 1970-01-01 was a Thursday; weeks start on Monday (ISO, as DataFusion and DuckDB).
            return Some(day - (day + 3).rem_euclid(7));
        }
        let date = NaiveDate::from_num_days_from_ce_opt(
            i32::try_from(day)
                .ok()?
                .checked_add(UNIX_EPOCH_DAYS_FROM_CE)?,
        )?;
        let month = match self {
            Self::Month => date.month(),
            Self::Quarter => (date.month0() / 3) * 3 + 1,
            Self::Year | Self::Week => 1,
        };
        let first = NaiveDate::from_ymd_opt(date.year(), month, 1)?;
        Some(i64::from(
            first.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE,
        ))
    }
}

/// Truncates `values` to `precision`, going through the calendar once per run of one day.
fn truncate(
    values: &TimestampNanosecondArray,
    precision: Precision,
) -> Result<TimestampNanosecondArray> {
    let mut last: Option<(i64, i64)> = None;
    let mut out = Vec::with_capacity(values.len());
    for (i, &v) in values.values().iter().enumerate() {
        if values.is_null(i) {
            out.push(0);
            continue;
        }
        let day = v.div_euclid(NANOS_PER_DAY);
        let start = match last {
            Some((d, start)) if d == day => start,
            _ => {
                let start = precision
                    .start(day)
                    .and_then(|s| s.checked_mul(NANOS_PER_DAY))
                    .ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "date_trunc: the {} holding {} starts before the earliest \
                             timestamp (1677-09-21)",
                            format!("{precision:?}").to_lowercase(),
                            chrono::DateTime::from_timestamp_nanos(v).naive_utc()
                        ))
                    })?;
                last = Some((day, start));
                start
            }
        };
        out.push(start);
    }
    Ok(TimestampNanosecondArray::new(
        out.into(),
        values.nulls().cloned(),
    ))
}

impl Body for Coarse {
    fn invoke(&self, inner: &ScalarUDF, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [granularity, ColumnarValue::Array(values)] = args.args.as_slice()
            && values.data_type() == &DataType::Timestamp(TimeUnit::Nanosecond, None)
            && let Some(precision) = Precision::of(granularity)
        {
            let values = values.as_primitive::<TimestampNanosecondType>();
            return Ok(ColumnarValue::Array(Arc::new(truncate(values, precision)?)));
        }
        inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::util::display::array_value_to_string;

    /// Every day from 1900 to 2100 (day -25567 is 1900-01-01), at midnight and later, NULL and
    /// the end of the nanosecond range, at each precision: the same as DataFusion's own function.
    #[tokio::test]
    async fn agrees_with_datafusion() -> Result<()> {
        let plain = SessionContext::new();
        let ours = SessionContext::new();
        register(&ours)?;
        let sql = |precision: &str| {
            format!(
                "SELECT date_trunc('{precision}', CAST(d AS TIMESTAMP)) AS t, \
                 date_trunc('{precision}', CAST(d AS TIMESTAMP) + INTERVAL '13 hours') AS u \
                 FROM (SELECT CAST(CAST(n - 25567 AS INT) AS DATE) AS d \
                       FROM generate_series(0, 73413) AS s(n)) \
                 UNION ALL SELECT date_trunc('{precision}', CAST(NULL AS TIMESTAMP)), \
                 date_trunc('{precision}', TIMESTAMP '2262-04-11 23:47:16') \
                 UNION ALL SELECT date_trunc('{precision}', TIMESTAMP '1969-12-31 23:59:59.9'), \
                 date_trunc('{precision}', TIMESTAMP '2024-02-29 12:00:00')"
            )
        };
        for precision in ["week", "MONTH", "quarter", "Year", "day", "hour"] {
            let run = |ctx: SessionContext| {
                let sql = sql(precision);
                async move { ctx.sql(&sql).await?.collect().await }
            };
            let render = |batches: Vec<RecordBatch>| -> Vec<String> {
                batches
                    .iter()
                    .flat_map(|b| {
                        (0..b.num_rows()).map(move |i| {
                            (0..b.num_columns())
                                .map(|c| array_value_to_string(b.column(c), i).expect("renders"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                    })
                    .collect()
            };
            let expected = render(run(plain.clone()).await?);
            let got = render(run(ours.clone()).await?);
            assert_eq!(expected.len(), 73_416, "{precision}");
            assert_eq!(got, expected, "{precision}");
        }
        Ok(())
    }

    #[test]
    fn a_period_starting_before_the_earliest_timestamp_is_an_error() {
        let values = TimestampNanosecondArray::from(vec![Some(-9_223_372_036_000_000_000), None]);
        let err = truncate(&values, Precision::Month).expect_err("1677-09-01 is out of range");
        assert!(
            err.to_string()
                .contains("the month holding 1677-09-21 00:12:44 starts before"),
            "{err}"
        );
        let fine = truncate(&values, Precision::Week);
        assert!(
            fine.is_err(),
            "the Monday before 1677-09-21 is out of range too"
        );
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2024-06-05 (Wednesday) is day 19879; its week starts on Monday 2024-06-03.
        assert_eq!(Precision::Week.start(19_879), Some(19_877));
        assert_eq!(Precision::Quarter.start(19_879), Some(19_814)); // 2024-04-01
        assert_eq!(Precision::Year.start(-1), Some(-365)); // 1969-01-01
    }
}
