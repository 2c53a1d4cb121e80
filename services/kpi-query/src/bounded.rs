//! Scalar functions that build values out of proportion to their input, bounded before they
//! allocate.
//!
//! DataFusion's memory pool counts what operators hold (sorts, joins, aggregations), not what a
//! scalar function builds: `repeat('x', 1e9)` allocates a gigabyte inside one projection, and
//! `range(0, 2e8)` a 1.6 GB list, whatever `query.memory_limit_bytes` says. Each function of
//! [`BOUNDED`] is wrapped ([`Wrapped`]) with a [`Bounded`] body that estimates, from its
//! arguments, how many bytes one call (one batch) will build and refuses with
//! [`DataFusionError::ResourcesExhausted`] (the engine's memory-limit error) above
//! `max_value_bytes`; the call's actual output is checked too, for functions whose estimate is
//! loose. Constant folding calls the same wrapper, so a literal bomb fails at planning's first
//! touch rather than in the optimizer.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::wrapped::{Body, Wrapped};

/// The functions wrapped with a [`Bounded`] body: those whose output can be much larger than
/// their input.
pub const BOUNDED: &[&str] = &[
    "repeat",
    "lpad",
    "rpad",
    "range",
    "generate_series",
    "array_repeat",
    "array_resize",
    "concat",
    "concat_ws",
    "make_array",
    "array_concat",
    "array_append",
    "array_prepend",
    "overlay",
    "replace",
    "regexp_replace",
    "string_to_array",
];

/// Replaces each function of [`BOUNDED`] registered in `ctx` by its bounded wrapper.
pub fn register(ctx: &SessionContext, max_value_bytes: usize) -> Result<()> {
    for name in BOUNDED {
        let inner = ctx.udf(name)?;
        ctx.register_udf(Wrapped::udf(
            inner.as_ref().clone(),
            Bounded { max_value_bytes },
        ));
    }
    Ok(())
}

/// The body of a function whose output is bounded to `max_value_bytes` per call.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Bounded {
    max_value_bytes: usize,
}

impl Bounded {
    fn too_big(&self, name: &str, bytes: u64, what: &str) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "{name}() would {what} {} MiB in one call, over the limit of {} MiB per value \
             (query.memory_limit_bytes / {VALUE_SHARE})",
            bytes >> 20,
            self.max_value_bytes >> 20
        ))
    }
}

/// The share of the query's memory limit one function call may build.
pub const VALUE_SHARE: usize = 16;

impl Body for Bounded {
    fn invoke(&self, inner: &ScalarUDF, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let estimate = estimate(inner.name(), &args.args, args.number_rows)?;
        if estimate > self.max_value_bytes as u64 {
            return Err(self.too_big(inner.name(), estimate, "build"));
        }
        let out = inner.invoke_with_args(args)?;
        let built = match &out {
            ColumnarValue::Array(a) => a.get_array_memory_size() as u64,
            ColumnarValue::Scalar(s) => s.size() as u64,
        };
        if built > self.max_value_bytes as u64 {
            return Err(self.too_big(inner.name(), built, "have built"));
        }
        Ok(out)
    }
}

/// Bytes one call of function `name` over `args` (`rows` rows) builds, at most (roughly).
fn estimate(name: &str, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let arg = |i: usize| args.get(i);
    // Saturating: a few huge counts must not wrap to a small estimate.
    let sum = |v: Vec<i64>| {
        v.into_iter()
            .map(|x| x.max(0) as u64)
            .fold(0, u64::saturating_add)
    };
    Ok(match name {
        // Output per row: the string times the count.
        "repeat" => match (arg(0), arg(1)) {
            (Some(s), Some(n)) => sum(zip_with(
                &byte_lengths(s, rows)?,
                &integers(n, rows)?,
                |l, n| l.saturating_mul(n.max(0)),
            )),
            _ => 0,
        },
        // Output per row: up to n characters of up to 4 bytes.
        "lpad" | "rpad" => match arg(1) {
            Some(n) => sum(integers(n, rows)?).saturating_mul(4),
            None => 0,
        },
        "range" | "generate_series" => series_elements(args, rows)?.saturating_mul(8),
        "array_repeat" => match (arg(0), arg(1)) {
            (Some(e), Some(n)) => {
                let each = (total_bytes(e, rows) / rows.max(1) as u64).max(8);
                sum(integers(n, rows)?).saturating_mul(each)
            }
            _ => 0,
        },
        "array_resize" => match arg(1) {
            Some(n) => sum(integers(n, rows)?).saturating_mul(16),
            None => 0,
        },
        // Up to one copy of the inputs (the separator once per argument).
        "concat" | "concat_ws" | "make_array" | "array_concat" | "array_append"
        | "array_prepend" | "overlay" => {
            let inputs = args
                .iter()
                .map(|a| total_bytes(a, rows))
                .fold(0, u64::saturating_add);
            match (name, arg(0)) {
                ("concat_ws", Some(sep)) => {
                    inputs.saturating_add(total_bytes(sep, rows).saturating_mul(args.len() as u64))
                }
                _ => inputs,
            }
        }
        // An empty pattern matches at every character: each match inserts the replacement,
        // whose group references copy at most the input again.
        "replace" | "regexp_replace" => match (arg(0), arg(2)) {
            (Some(s), Some(to)) => {
                let longest = byte_lengths(to, rows)?
                    .into_iter()
                    .max()
                    .unwrap_or(0)
                    .max(0) as u64;
                let factor = if name == "replace" { 1 } else { 2 };
                total_bytes(s, rows)
                    .saturating_add(rows as u64)
                    .saturating_mul(longest.saturating_mul(factor).saturating_add(1))
            }
            _ => 0,
        },
        // One element (offset and value) per character at worst.
        "string_to_array" => arg(0).map_or(0, |s| total_bytes(s, rows).saturating_mul(16)),
        _ => 0,
    })
}

/// Applies `f` row by row.
fn zip_with(a: &[i64], b: &[i64], f: impl Fn(i64, i64) -> i64) -> Vec<i64> {
    a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect()
}

/// `f` of the argument's values, one per row; a scalar is computed once, never repeated into
/// an array (a scalar may be the very value too big to copy).
fn per_row(
    value: &ColumnarValue,
    rows: usize,
    f: impl Fn(&ArrayRef) -> Result<Vec<i64>>,
) -> Result<Vec<i64>> {
    match value {
        ColumnarValue::Array(a) => f(a),
        ColumnarValue::Scalar(s) => {
            let one = f(&s.to_array_of_size(1)?)?;
            Ok(vec![one.first().copied().unwrap_or(0); rows.max(1)])
        }
    }
}

/// An array's values as i64 (null or not a number: 0).
fn as_integers(array: &ArrayRef) -> Result<Vec<i64>> {
    let options = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let ints = cast_with_options(array, &DataType::Int64, &options)?;
    Ok(ints
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

/// The argument's values as i64 per row (null or not a number: 0).
fn integers(value: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    per_row(value, rows, as_integers)
}

/// The byte length of the argument's value per row.
fn byte_lengths(value: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    per_row(value, rows, |array| match length(array) {
        Ok(lengths) => as_integers(&lengths),
        // Not a string: its memory spread over its rows.
        Err(_) => {
            let each = (array.get_array_memory_size() / array.len().max(1)) as i64;
            Ok(vec![each; array.len()])
        }
    })
}

/// Memory of the argument over `rows` rows.
fn total_bytes(value: &ColumnarValue, rows: usize) -> u64 {
    match value {
        ColumnarValue::Array(a) => a.get_array_memory_size() as u64,
        // A scalar's payload (its heap part), once per row.
        ColumnarValue::Scalar(s) => {
            let payload = s.size().saturating_sub(std::mem::size_of::<ScalarValue>());
            (payload.max(8) as u64).saturating_mul(rows.max(1) as u64)
        }
    }
}

/// Elements `range`/`generate_series` builds over all rows: integers, dates or timestamps.
fn series_elements(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let (start, stop, step) = match args {
        [stop] => (None, stop, None),
        [start, stop] => (Some(start), stop, None),
        [start, stop, step, ..] => (Some(start), stop, Some(step)),
        [] => return Ok(0),
    };
    let temporal = matches!(
        stop.data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    let points = |v: &ColumnarValue| -> Result<Vec<i64>> {
        if temporal {
            per_row(v, rows, |array| {
                let ns = cast(array, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
                as_integers(&cast(&ns, &DataType::Int64)?)
            })
        } else {
            integers(v, rows)
        }
    };
    let stops = points(stop)?;
    let starts = match start {
        Some(s) => points(s)?,
        None => vec![0; stops.len()],
    };
    let steps = match step {
        None if temporal => vec![86_400_000_000_000; stops.len()],
        None => vec![1; stops.len()],
        Some(ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(i)))) => {
            // A month counts as 28 days: more elements, never fewer.
            let ns = (i64::from(i.months) * 28 + i64::from(i.days))
                .saturating_mul(86_400_000_000_000)
                .saturating_add(i.nanoseconds);
            vec![ns; stops.len()]
        }
        Some(ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(i)))) => {
            let ns = i64::from(i.days)
                .saturating_mul(86_400_000_000_000)
                .saturating_add(i64::from(i.milliseconds).saturating_mul(1_000_000));
            vec![ns; stops.len()]
        }
        Some(ColumnarValue::Scalar(ScalarValue::IntervalYearMonth(Some(m)))) => {
            vec![i64::from(*m).saturating_mul(28 * 86_400_000_000_000); stops.len()]
        }
        Some(s) if !temporal => integers(s, rows)?,
        // Another interval form: one element per nanosecond of the span, at worst.
        Some(_) => vec![1; stops.len()],
    };
    Ok(starts
        .iter()
        .zip(&stops)
        .zip(&steps)
        .map(|((a, b), s)| {
            let span = (i128::from(*b) - i128::from(*a)).unsigned_abs();
            let step = i128::from(*s).unsigned_abs().max(1);
            u64::try_from(span / step + 1).unwrap_or(u64::MAX)
        })
        .fold(0u64, u64::saturating_add))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<()> {
        ctx.sql(sql).await?.collect().await.map(|_| ())
    }

    fn exhausted(r: Result<()>) -> bool {
        matches!(
            r.as_ref().map_err(|e| e.find_root()),
            Err(DataFusionError::ResourcesExhausted(_))
        )
    }

    #[tokio::test]
    async fn bombs_are_refused_and_small_values_pass() {
        let ctx = SessionContext::new();
        register(&ctx, 1 << 20).unwrap();
        for sql in [
            "SELECT repeat('x', 2000000)",
            "SELECT length(repeat('ab', 1000000000)) AS n",
            // Four counts of 2^62 wrapped a plain sum to 0.
            "SELECT repeat('x', n) FROM (VALUES (4611686018427387904), (4611686018427387904), \
             (4611686018427387904), (4611686018427387904)) t(n)",
            "SELECT lpad('x', 1000000000, 'y')",
            "SELECT rpad('x', 1000000)",
            "SELECT range(0, 200000000)",
            "SELECT generate_series(1, 200000000)",
            "SELECT generate_series(DATE '2000-01-01', DATE '2100-01-01', INTERVAL '1 second')",
            "SELECT range(TIMESTAMP '2000-01-01', TIMESTAMP '2001-01-01', INTERVAL '1 millisecond')",
            "SELECT array_repeat(1, 200000000)",
            "SELECT array_resize([1], 200000000, 0)",
            "SELECT replace(repeat('a', 100000), 'a', repeat('b', 100))",
            "SELECT regexp_replace(repeat('a', 100000), '', 'bbbbbbbbbb', 'g')",
            "SELECT length(repeat(CAST(value AS VARCHAR), 100000)) FROM generate_series(1, 1000)",
        ] {
            assert!(exhausted(run(&ctx, sql).await), "{sql}");
        }
        for sql in [
            "SELECT repeat('x', 1000), lpad('7', 5, '0'), rpad('a', 3)",
            "SELECT range(0, 1000), generate_series(1, 10, 2), array_repeat('a', 10)",
            "SELECT generate_series(DATE '2024-01-01', DATE '2024-12-31', INTERVAL '1 day')",
            "SELECT concat('a', 'b'), concat_ws('-', 'a', 'b'), replace('abc', 'b', 'x')",
            "SELECT regexp_replace('abc', 'b', 'x', 'g'), string_to_array('a,b', ',')",
            "SELECT repeat(CAST(value AS VARCHAR), 3) FROM generate_series(1, 100000)",
        ] {
            run(&ctx, sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let answer = ctx
            .sql("SELECT repeat('ab', 3) AS r, cardinality(range(5)) AS n")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&answer)
            .unwrap()
            .to_string();
        assert!(text.contains("ababab") && text.contains("| 5 "), "{text}");
    }
}
