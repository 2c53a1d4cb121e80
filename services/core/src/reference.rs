//! The reference tables a city supplies beside its event feeds: `communities` (versioned by
//! `valid_from`), `life_circles` and `community_assessments`.
//!
//! This module is the one place their names and schemas are written down. It reads them from a
//! CSV file with a header (or a Parquet file) into an Arrow [`RecordBatch`] of the table's
//! schema, validating every value (codes, nesting community → street → district, districts of
//! the division table, unique versions, non-negative counts), and writes a batch into the lake
//! as a Delta table whose contents it replaces in one commit (older versions stay readable for
//! time travel).
//!
//! A version of a community holds from its `valid_from` to the `valid_from` of the code's next
//! version (the views `dim_community` etc. of kpi-query add `valid_to`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use crate::division::DivisionTable;
use crate::lake::{LakeError, LakeRoot, is_missing_local_table};

/// One of the reference tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReferenceTable {
    /// `communities`: one row per community and version.
    Communities,
    /// `life_circles`: the 5/10/15-minute life circles of each district, versioned.
    LifeCircles,
    /// `community_assessments`: one row per assessment of a community.
    CommunityAssessments,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text; `Some(n)`: exactly `n` ASCII digits.
    Text(Option<usize>),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A non-negative whole number.
    Count,
    /// A finite number; `true`: not negative.
    Number(bool),
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `是`/`否`).
    Bool,
    /// A calendar date `YYYY-MM-DD`.
    Date,
}

/// A column of a reference table.
#[derive(Debug, Clone, Copy)]
struct Column {
    name: &'static str,
    kind: Kind,
    /// A value is required in every row; otherwise an empty cell is NULL (unknown, never 0).
    required: bool,
    /// The file may leave the column out (all NULL).
    optional_in_file: bool,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        required: true,
        optional_in_file: false,
    }
}

const fn nullable(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        required: false,
        optional_in_file: false,
    }
}

const fn optional(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        required: false,
        optional_in_file: true,
    }
}

/// Life-circle levels.
pub const LIFE_CIRCLE_LEVELS: [&str; 3] = ["5min", "10min", "15min"];

const COMMUNITIES: &[Column] = &[
    col("community_code", Kind::Text(Some(12))),
    col("community_name", Kind::Text(None)),
    col("street_code", Kind::Text(Some(9))),
    col("street_name", Kind::Text(None)),
    col("district_code", Kind::Text(Some(6))),
    nullable("population", Kind::Count),
    nullable("households", Kind::Count),
    nullable("area_km2", Kind::Number(true)),
    optional("under3_population", Kind::Count),
    optional("elderly_population", Kind::Count),
    optional("on_digital_platform", Kind::Bool),
    optional("functional_zone", Kind::Text(None)),
    col("valid_from", Kind::Date),
];

const LIFE_CIRCLES: &[Column] = &[
    col("life_circle_id", Kind::Text(None)),
    col("name", Kind::Text(None)),
    col("level", Kind::OneOf(&LIFE_CIRCLE_LEVELS)),
    col("district_code", Kind::Text(Some(6))),
    col("valid_from", Kind::Date),
];

const COMMUNITY_ASSESSMENTS: &[Column] = &[
    col("assessment_id", Kind::Text(None)),
    col("community_code", Kind::Text(Some(12))),
    col("framework", Kind::Text(None)),
    nullable("score", Kind::Number(false)),
    nullable("passed", Kind::Bool),
    col("assessed_date", Kind::Date),
];

impl ReferenceTable {
    /// Every reference table, in load order.
    pub const ALL: [Self; 3] = [
        Self::Communities,
        Self::LifeCircles,
        Self::CommunityAssessments,
    ];

    /// The Delta table's name under the lake root (also the name kpi-query registers it by).
    pub fn name(self) -> &'static str {
        match self {
            Self::Communities => "communities",
            Self::LifeCircles => "life_circles",
            Self::CommunityAssessments => "community_assessments",
        }
    }

    /// The table named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The columns that identify a row: no two rows of a file share them.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            Self::Communities => &["community_code", "valid_from"],
            Self::LifeCircles => &["life_circle_id", "valid_from"],
            Self::CommunityAssessments => &["assessment_id"],
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Self::Communities => COMMUNITIES,
            Self::LifeCircles => LIFE_CIRCLES,
            Self::CommunityAssessments => COMMUNITY_ASSESSMENTS,
        }
    }

    /// The Arrow schema of the table (Utf8 text, Int64 counts, Float64 numbers, Boolean,
    /// Date32 dates; columns a row may leave empty are nullable).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<[SchemaRef; 3]> = OnceLock::new();
        let schemas = SCHEMAS.get_or_init(|| {
            ReferenceTable::ALL.map(|t| {
                Arc::new(Schema::new(
                    t.columns()
                        .iter()
                        .map(|c| Field::new(c.name, c.kind.data_type(), !c.required))
                        .collect::<Vec<_>>(),
                ))
            })
        });
        schemas[self as usize].clone()
    }

    /// An empty batch of the table's schema (what an absent table reads as).
    pub fn empty(self) -> RecordBatch {
        RecordBatch::new_empty(self.schema())
    }
}

impl fmt::Display for ReferenceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Text(_) | Kind::OneOf(_) => DataType::Utf8,
            Kind::Count => DataType::Int64,
            Kind::Number(_) => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date32,
        }
    }
}

/// Where in a file a value is: a line of a CSV file (the header is line 1) or a row of a
/// Parquet file (the first is row 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A CSV line.
    Line(usize),
    /// A Parquet row.
    Row(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Why a reference file was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not CSV or Parquet as expected (ragged rows, bad quoting, not Parquet …).
    #[error("{file}: {detail}")]
    Format {
        /// The file.
        file: String,
        /// What the reader said.
        detail: String,
    },
    /// A column of the table is missing from the file.
    #[error("{file}: {table} needs a column {column} (columns: {expected})")]
    MissingColumn {
        /// The file.
        file: String,
        /// The table.
        table: ReferenceTable,
        /// The missing column.
        column: &'static str,
        /// Every column of the table.
        expected: String,
    },
    /// The file has a column the table does not (a typo, or data the lake would drop).
    #[error(
        "{file}: column {position} {column:?} is not a column of {table} (columns: {expected})"
    )]
    UnknownColumn {
        /// The file.
        file: String,
        /// The table.
        table: ReferenceTable,
        /// The column's name as written.
        column: String,
        /// 1-based column number.
        position: usize,
        /// Every column of the table.
        expected: String,
    },
    /// A column appears twice.
    #[error("{file}: column {column} appears twice")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The column.
        column: String,
    },
    /// The file has no rows: loading it would empty the table.
    #[error("{file}: no rows (an empty file would empty table {table}; nothing was loaded)")]
    NoRows {
        /// The file.
        file: String,
        /// The table.
        table: ReferenceTable,
    },
    /// A value is malformed or breaks a rule.
    #[error("{file}: {position}, column {column_number} ({column}): {message}")]
    Value {
        /// The file.
        file: String,
        /// The line or row.
        position: Position,
        /// 1-based column number in the file.
        column_number: usize,
        /// The column.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Two rows share the table's key.
    #[error("{file}: {position}: {key} repeats {first} (one row per {columns})")]
    Duplicate {
        /// The file.
        file: String,
        /// The later row.
        position: Position,
        /// The earlier row.
        first: Position,
        /// The key's values.
        key: String,
        /// The key's columns.
        columns: String,
    },
    /// The file's extension is neither `.csv` nor `.parquet`.
    #[error("{0}: not a .csv or .parquet file")]
    UnknownFormat(String),
    /// The lake could not be written or read.
    #[error("{table}: {source}")]
    Lake {
        /// The table.
        table: ReferenceTable,
        /// The cause.
        source: LakeError,
    },
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Parses one value of a column; `Ok(None)` for an empty cell.
enum Value {
    Text(String),
    Count(i64),
    Number(f64),
    Bool(bool),
    Date(i32),
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn parse_value(kind: Kind, raw: &str) -> Result<Value, String> {
    let shown = truncate(raw);
    match kind {
        Kind::Text(None) => Ok(Value::Text(raw.to_owned())),
        Kind::Text(Some(n)) => {
            if raw.len() == n && raw.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Value::Text(raw.to_owned()))
            } else {
                Err(format!("{shown:?} is not a {n}-digit code"))
            }
        }
        Kind::OneOf(words) => match words.iter().find(|w| **w == raw) {
            Some(w) => Ok(Value::Text((*w).to_owned())),
            None => Err(format!("{shown:?} is not one of {}", words.join(", "))),
        },
        Kind::Count => match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Value::Count(v)),
            Ok(_) => Err(format!("{shown} is negative")),
            Err(_) => Err(format!("{shown:?} is not a whole number")),
        },
        Kind::Number(non_negative) => match raw.parse::<f64>() {
            Ok(v) if !v.is_finite() => Err(format!("{shown:?} is not a finite number")),
            Ok(v) if non_negative && v < 0.0 => Err(format!("{shown} is negative")),
            Ok(v) => Ok(Value::Number(v)),
            Err(_) => Err(format!("{shown:?} is not a number")),
        },
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "是" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "n" | "否" => Ok(Value::Bool(false)),
            _ => Err(format!("{shown:?} is not true or false")),
        },
        Kind::Date => {
            // A Parquet timestamp cast to text: accept its date when it is midnight.
            let date = raw
                .strip_suffix("T00:00:00")
                .or_else(|| raw.strip_suffix(" 00:00:00"))
                .unwrap_or(raw);
            match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Ok(d) if date.len() == 10 => Ok(Value::Date(days_since_epoch(d))),
                _ => Err(format!("{shown:?} is not a date YYYY-MM-DD")),
            }
        }
    }
}

enum Builder {
    Text(StringBuilder),
    Count(Int64Builder),
    Number(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text(_) | Kind::OneOf(_) => Self::Text(StringBuilder::new()),
            Kind::Count => Self::Count(Int64Builder::new()),
            Kind::Number(_) => Self::Number(Float64Builder::new()),
            Kind::Bool => Self::Bool(BooleanBuilder::new()),
            Kind::Date => Self::Date(Date32Builder::new()),
        }
    }

    fn push(&mut self, value: Option<Value>) {
        match (self, value) {
            (Self::Text(b), Some(Value::Text(v))) => b.append_value(v),
            (Self::Count(b), Some(Value::Count(v))) => b.append_value(v),
            (Self::Number(b), Some(Value::Number(v))) => b.append_value(v),
            (Self::Bool(b), Some(Value::Bool(v))) => b.append_value(v),
            (Self::Date(b), Some(Value::Date(v))) => b.append_value(v),
            (Self::Text(b), None) => b.append_null(),
            (Self::Count(b), None) => b.append_null(),
            (Self::Number(b), None) => b.append_null(),
            (Self::Bool(b), None) => b.append_null(),
            (Self::Date(b), None) => b.append_null(),
            _ => unreachable!("parse_value returns the column's kind"),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Text(mut b) => Arc::new(b.finish()),
            Self::Count(mut b) => Arc::new(b.finish()),
            Self::Number(mut b) => Arc::new(b.finish()),
            Self::Bool(mut b) => Arc::new(b.finish()),
            Self::Date(mut b) => Arc::new(b.finish()),
        }
    }
}

/// A file's columns as text, in file order, with how positions are counted.
struct TextTable {
    file: String,
    names: Vec<String>,
    columns: Vec<StringArray>,
    rows: usize,
    /// CSV: line of row `i` is `i + 2`; Parquet: row `i + 1`.
    csv: bool,
}

impl TextTable {
    fn position(&self, row: usize) -> Position {
        if self.csv {
            Position::Line(row + 2)
        } else {
            Position::Row(row + 1)
        }
    }
}

fn format_error(file: &str, e: impl fmt::Display) -> ReferenceError {
    ReferenceError::Format {
        file: file.to_owned(),
        detail: e.to_string(),
    }
}

/// Reads CSV text (with a header line; a UTF-8 byte-order mark is skipped) as text columns.
fn csv_text(file: &str, bytes: &[u8]) -> Result<TextTable, ReferenceError> {
    use arrow::csv::reader::{Format, ReaderBuilder};
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(format_error(
            file,
            "not UTF-8 text (save the file as UTF-8; GBK is not read)",
        ));
    }
    let format = Format::default().with_header(true);
    let (header, _) = format
        .infer_schema(Cursor::new(bytes), Some(0))
        .map_err(|e| format_error(file, e))?;
    let names: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = ReaderBuilder::new(schema)
        .with_format(format)
        .build(Cursor::new(bytes))
        .map_err(|e| format_error(file, e))?;
    let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    for batch in reader {
        let batch = batch.map_err(|e| format_error(file, e))?;
        for (i, c) in batch.columns().iter().enumerate() {
            columns[i].push(c.clone());
        }
    }
    text_table(file, names, columns, true)
}

fn text_table(
    file: &str,
    names: Vec<String>,
    columns: Vec<Vec<ArrayRef>>,
    csv: bool,
) -> Result<TextTable, ReferenceError> {
    let mut out = Vec::with_capacity(columns.len());
    for (name, parts) in names.iter().zip(columns) {
        let mut texts = Vec::with_capacity(parts.len());
        for part in parts {
            let text = arrow::compute::cast(&part, &DataType::Utf8).map_err(|e| {
                format_error(file, format!("column {name} cannot be read as text: {e}"))
            })?;
            texts.push(text);
        }
        let refs: Vec<&dyn Array> = texts.iter().map(|a| a.as_ref()).collect();
        let joined = if refs.is_empty() {
            Arc::new(StringArray::from(Vec::<Option<&str>>::new())) as ArrayRef
        } else {
            arrow::compute::concat(&refs).map_err(|e| format_error(file, e))?
        };
        out.push(joined.as_string::<i32>().clone());
    }
    let rows = out.first().map_or(0, |c| c.len());
    Ok(TextTable {
        file: file.to_owned(),
        names,
        columns: out,
        rows,
        csv,
    })
}

/// Reads a Parquet file's columns as text (numbers, dates and booleans cast to their text).
fn parquet_text(file: &str, data: std::fs::File) -> Result<TextTable, ReferenceError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| format_error(file, e))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let reader = builder.build().map_err(|e| format_error(file, e))?;
    let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    for batch in reader {
        let batch = batch.map_err(|e| format_error(file, e))?;
        for (i, c) in batch.columns().iter().enumerate() {
            columns[i].push(c.clone());
        }
    }
    text_table(file, names, columns, false)
}

/// Parses a reference file by its extension (`.csv`, or `.parquet`/`.parq`).
pub fn read_file(
    table: ReferenceTable,
    path: &Path,
    divisions: &DivisionTable,
) -> Result<RecordBatch, ReferenceError> {
    let file = path.display().to_string();
    let io = |source| ReferenceError::Io {
        file: file.clone(),
        source,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => parse_csv(table, &file, &std::fs::read(path).map_err(io)?, divisions),
        Some("parquet" | "parq") => parse_parquet(
            table,
            &file,
            std::fs::File::open(path).map_err(io)?,
            divisions,
        ),
        _ => Err(ReferenceError::UnknownFormat(file)),
    }
}

/// Parses CSV `bytes` (header line first) into a batch of `table`'s schema; `file` names the
/// source in errors.
pub fn parse_csv(
    table: ReferenceTable,
    file: &str,
    bytes: &[u8],
    divisions: &DivisionTable,
) -> Result<RecordBatch, ReferenceError> {
    let text = csv_text(file, bytes)?;
    build(table, &text, divisions)
}

/// Parses an open Parquet file into a batch of `table`'s schema; columns may be text or typed
/// (codes as text or integers, dates as DATE or text); `file` names the source in errors.
pub fn parse_parquet(
    table: ReferenceTable,
    file: &str,
    data: std::fs::File,
    divisions: &DivisionTable,
) -> Result<RecordBatch, ReferenceError> {
    let text = parquet_text(file, data)?;
    build(table, &text, divisions)
}

fn build(
    table: ReferenceTable,
    text: &TextTable,
    divisions: &DivisionTable,
) -> Result<RecordBatch, ReferenceError> {
    let file = &text.file;
    let expected = || {
        table
            .columns()
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Which file column feeds each table column.
    let mut seen = HashSet::new();
    for (i, name) in text.names.iter().enumerate() {
        let name = name.trim();
        if !table.columns().iter().any(|c| c.name == name) {
            return Err(ReferenceError::UnknownColumn {
                file: file.clone(),
                table,
                column: truncate(name),
                position: i + 1,
                expected: expected(),
            });
        }
        if !seen.insert(name) {
            return Err(ReferenceError::DuplicateColumn {
                file: file.clone(),
                column: name.to_owned(),
            });
        }
    }
    let mut sources = Vec::new();
    for c in table.columns() {
        let source = text.names.iter().position(|n| n.trim() == c.name);
        if source.is_none() && !c.optional_in_file {
            return Err(ReferenceError::MissingColumn {
                file: file.clone(),
                table,
                column: c.name,
                expected: expected(),
            });
        }
        sources.push(source);
    }
    if text.rows == 0 {
        return Err(ReferenceError::NoRows {
            file: file.clone(),
            table,
        });
    }
    let mut builders: Vec<Builder> = table
        .columns()
        .iter()
        .map(|c| Builder::new(c.kind))
        .collect();
    let mut rows: Vec<Row> = Vec::with_capacity(text.rows);
    for row in 0..text.rows {
        let mut values = Row::default();
        for ((c, source), builder) in table.columns().iter().zip(&sources).zip(&mut builders) {
            let raw = source.and_then(|s| {
                let column = &text.columns[s];
                (!column.is_null(row)).then(|| column.value(row).trim())
            });
            let raw = raw.filter(|r| !r.is_empty());
            let error = |message: String| ReferenceError::Value {
                file: file.clone(),
                position: text.position(row),
                column_number: source.map_or(0, |s| s + 1),
                column: c.name,
                message,
            };
            let value = match raw {
                None if c.required => return Err(error("empty; a value is required".into())),
                None => None,
                Some(raw) => Some(parse_value(c.kind, raw).map_err(error)?),
            };
            if let Some(Value::Text(v)) = &value {
                values.text.insert(c.name, v.clone());
            }
            if let Some(Value::Date(v)) = &value {
                values.text.insert(c.name, v.to_string());
            }
            builder.push(value);
        }
        rows.push(values);
    }
    // Rules across columns and rows.
    let column_number = |name: &str| {
        let i = table
            .columns()
            .iter()
            .position(|c| c.name == name)
            .expect("a column of the table");
        sources[i].map_or(0, |s| s + 1)
    };
    let mut keys: HashMap<Vec<&str>, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let error = |column: &'static str, message: String| ReferenceError::Value {
            file: file.clone(),
            position: text.position(i),
            column_number: column_number(column),
            column,
            message,
        };
        check_row(table, row, divisions).map_err(|(c, m)| error(c, m))?;
        let key: Vec<&str> = table.key().iter().map(|k| row.get(k)).collect();
        if let Some(first) = keys.insert(key.clone(), i) {
            let shown = table
                .key()
                .iter()
                .zip(&key)
                .map(|(k, v)| {
                    if *k == "valid_from" || *k == "assessed_date" {
                        format!("{k} {}", show_date(v))
                    } else {
                        format!("{k} {v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ReferenceError::Duplicate {
                file: file.clone(),
                position: text.position(i),
                first: text.position(first),
                key: shown,
                columns: table.key().join(" and "),
            });
        }
    }
    let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
    RecordBatch::try_new(table.schema(), arrays).map_err(|e| format_error(file, e))
}

fn show_date(days: &str) -> String {
    days.parse::<i64>()
        .ok()
        .and_then(|d| {
            NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_days(chrono::Days::new(d as u64))
        })
        .map_or_else(|| days.to_owned(), |d| d.to_string())
}

/// The text (and date) values of one parsed row, by column.
#[derive(Default)]
struct Row {
    text: HashMap<&'static str, String>,
}

impl Row {
    fn get(&self, column: &str) -> &str {
        self.text.get(column).map_or("", String::as_str)
    }
}

/// The district `code` names: a current district of the division table.
fn check_district(divisions: &DivisionTable, code: &str) -> Result<(), String> {
    if divisions.district(code).is_some() {
        return Ok(());
    }
    match divisions.resolve_district(code) {
        Ok(current) => Err(format!(
            "district {code} is retired: use {} ({}) as in division table {}",
            current.code,
            current.name_zh,
            divisions.version()
        )),
        Err(_) => Err(format!(
            "district {code} is not in division table {}",
            divisions.version()
        )),
    }
}

/// Whether the first six digits of `code` are `district` or a retired code that maps to it.
fn nests_in_district(divisions: &DivisionTable, code: &str, district: &str) -> bool {
    let prefix = &code[..6];
    prefix == district
        || divisions
            .resolve_district(prefix)
            .is_ok_and(|d| d.code == district)
}

fn check_row(
    table: ReferenceTable,
    row: &Row,
    divisions: &DivisionTable,
) -> Result<(), (&'static str, String)> {
    match table {
        ReferenceTable::Communities => {
            let (community, street, district) = (
                row.get("community_code"),
                row.get("street_code"),
                row.get("district_code"),
            );
            check_district(divisions, district).map_err(|m| ("district_code", m))?;
            if !nests_in_district(divisions, street, district) {
                return Err((
                    "street_code",
                    format!("street {street} is not under district {district}"),
                ));
            }
            if !community.starts_with(street) {
                return Err((
                    "community_code",
                    format!("community {community} is not under street {street}"),
                ));
            }
        }
        ReferenceTable::LifeCircles => {
            check_district(divisions, row.get("district_code"))
                .map_err(|m| ("district_code", m))?;
        }
        ReferenceTable::CommunityAssessments => {
            let community = row.get("community_code");
            if divisions.resolve_district(&community[..6]).is_err() {
                return Err((
                    "community_code",
                    format!(
                        "community {community} is not under a district of division table {}",
                        divisions.version()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The community codes of a `communities` batch (every version).
pub fn community_codes(batch: &RecordBatch) -> BTreeSet<String> {
    batch
        .column_by_name("community_code")
        .map(|c| {
            let c = c.as_string::<i32>();
            (0..c.len())
                .filter(|i| c.is_valid(*i))
                .map(|i| c.value(i).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that every assessment names a community of `communities` (any version); the first
/// that does not, as an error naming `file` and its row. Use it when both are loaded together.
pub fn check_assessed_communities(
    assessments: &RecordBatch,
    file: &str,
    csv: bool,
    communities: &BTreeSet<String>,
) -> Result<(), ReferenceError> {
    let codes = assessments
        .column_by_name("community_code")
        .expect("community_code")
        .as_string::<i32>();
    let number = COMMUNITY_ASSESSMENTS
        .iter()
        .position(|c| c.name == "community_code")
        .expect("column");
    for i in 0..codes.len() {
        if !communities.contains(codes.value(i)) {
            return Err(ReferenceError::Value {
                file: file.to_owned(),
                position: if csv {
                    Position::Line(i + 2)
                } else {
                    Position::Row(i + 1)
                },
                column_number: number + 1,
                column: "community_code",
                message: format!(
                    "community {} is not in the communities loaded with it",
                    codes.value(i)
                ),
            });
        }
    }
    Ok(())
}

fn lake_error(table: ReferenceTable, e: impl Into<LakeError>) -> ReferenceError {
    ReferenceError::Lake {
        table,
        source: e.into(),
    }
}

/// Opens the reference table in the lake; `None` when it does not exist yet.
pub async fn open_table(
    root: &LakeRoot,
    storage: &HashMap<String, String>,
    table: ReferenceTable,
) -> Result<Option<DeltaTable>, ReferenceError> {
    let url = root.table_url(table.name());
    if is_missing_local_table(&url) {
        return Ok(None);
    }
    let delta = DeltaTable::try_from_url_with_storage_options(url, storage.clone())
        .await
        .map_err(|e| lake_error(table, e))?;
    Ok(delta.version().is_some().then_some(delta))
}

/// Replaces the contents of reference table `table` in the lake with `batch` (which must have
/// the table's schema) in one commit, creating the table if needed. Returns the new version.
/// Earlier versions stay readable (time travel) until `lake-maintain` vacuums their files.
pub async fn write_table(
    root: &LakeRoot,
    storage: &HashMap<String, String>,
    table: ReferenceTable,
    batch: RecordBatch,
) -> Result<u64, ReferenceError> {
    let fail = |e: DeltaTableError| lake_error(table, e);
    if batch.schema() != table.schema() {
        return Err(lake_error(
            table,
            LakeError::SchemaMismatch {
                table: table.name().into(),
                detail: "the batch does not have the table's schema".into(),
            },
        ));
    }
    let url = root.table_url(table.name());
    let missing = is_missing_local_table(&url);
    if let Ok(path) = url.to_file_path() {
        std::fs::create_dir_all(&path).map_err(|source| {
            lake_error(
                table,
                LakeError::CreateDir {
                    path: path.display().to_string(),
                    source,
                },
            )
        })?;
    }
    let mut delta = if missing {
        // Not loaded: asking delta-rs to load a table without a log logs an error.
        deltalake::DeltaTableBuilder::from_url(url)
            .map_err(fail)?
            .with_storage_options(storage.clone())
            .build()
            .map_err(fail)?
    } else {
        DeltaTable::try_from_url_with_storage_options(url, storage.clone())
            .await
            .map_err(fail)?
    };
    if delta.version().is_none() {
        let columns: StructType = table
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| lake_error(table, e))?;
        delta = delta
            .create()
            .with_columns(columns.fields().cloned())
            .with_configuration([("delta.checkpointInterval", Some("50"))])
            .await
            .map_err(fail)?;
    }
    // The existing columns must be the ones this build writes.
    let existing: StructType = delta.snapshot().map_err(fail)?.schema().as_ref().clone();
    let wanted: StructType = table
        .schema()
        .as_ref()
        .try_into_kernel()
        .map_err(|e| lake_error(table, e))?;
    if existing != wanted {
        return Err(lake_error(
            table,
            LakeError::SchemaMismatch {
                table: table.name().into(),
                detail: format!("{existing:?} != {wanted:?}"),
            },
        ));
    }
    let mut writer = RecordBatchWriter::for_table(&delta).map_err(fail)?;
    writer.write(batch).await.map_err(fail)?;
    let adds = writer.flush().await.map_err(fail)?;
    let mut actions: Vec<Action> = delta
        .snapshot()
        .map_err(fail)?
        .log_data()
        .iter()
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    actions.extend(adds.into_iter().map(Action::Add));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: None,
    };
    let done = CommitBuilder::default()
        .with_actions(actions)
        .build(
            Some(delta.snapshot().map_err(fail)?),
            delta.log_store(),
            operation,
        )
        .await
        .map_err(fail)?;
    Ok(done.version())
}

/// Reads reference table `table` from the lake (its latest version) as one batch of its
/// schema; an empty batch when the table does not exist yet.
pub async fn read_table(
    root: &LakeRoot,
    storage: &HashMap<String, String>,
    table: ReferenceTable,
) -> Result<RecordBatch, ReferenceError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let fail = |e: DeltaTableError| lake_error(table, e);
    let Some(delta) = open_table(root, storage, table).await? else {
        return Ok(table.empty());
    };
    let store = delta.log_store().object_store(None);
    let paths: Vec<String> = delta
        .snapshot()
        .map_err(fail)?
        .log_data()
        .iter()
        .map(|f| f.path().to_string())
        .collect();
    let mut batches = Vec::new();
    for path in paths {
        // Reference tables are small: each file is read whole.
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(path);
        let data = store
            .get(&path)
            .await
            .map_err(|e| lake_error(table, DeltaTableError::from(e)))?
            .bytes()
            .await
            .map_err(|e| lake_error(table, DeltaTableError::from(e)))?;
        let parts = ParquetRecordBatchReaderBuilder::try_new(data)
            .map_err(|e| lake_error(table, DeltaTableError::from(e)))?
            .build()
            .map_err(|e| lake_error(table, DeltaTableError::from(e)))?;
        for part in parts {
            let part = part.map_err(|e| lake_error(table, e))?;
            // Files hold the table's columns in its order; nullability may differ.
            batches.push(
                RecordBatch::try_new(table.schema(), part.columns().to_vec())
                    .map_err(|e| lake_error(table, e))?,
            );
        }
    }
    arrow::compute::concat_batches(&table.schema(), &batches).map_err(|e| lake_error(table, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "community_code,community_name,street_code,street_name,district_code,population,households,area_km2,under3_population,elderly_population,on_digital_platform,functional_zone,valid_from";

    fn communities(rows: &[&str]) -> Result<RecordBatch, ReferenceError> {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        parse_csv(
            ReferenceTable::Communities,
            "c.csv",
            text.as_bytes(),
            &DivisionTable::builtin(),
        )
    }

    const GOOD: &str =
        "110108001001,万柳社区,110108001,万柳地区,110108,5200,2100,0.8,130,980,true,,2024-01-01";

    fn err(rows: &[&str]) -> String {
        communities(rows).unwrap_err().to_string()
    }

    #[test]
    fn a_good_file_parses_to_the_schema() {
        let b = communities(&[
            GOOD,
            "110108001001,万柳社区,110108001,万柳地区,110108,5300,2150,0.8,,,false,中关村,2025-01-01",
            "\"110108001002\",\"新街, 社区\",110108001,万柳地区,110108,0,0,,,,是, ,2024-01-01",
        ])
        .unwrap();
        assert_eq!(b.schema(), ReferenceTable::Communities.schema());
        assert_eq!(b.num_rows(), 3);
        let name = b
            .column_by_name("community_name")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(name.value(2), "新街, 社区");
        let under3 = b.column_by_name("under3_population").unwrap();
        assert!(under3.is_null(1), "an empty count is NULL, not 0");
        let zone = b
            .column_by_name("functional_zone")
            .unwrap()
            .as_string::<i32>();
        assert!(zone.is_null(0) && zone.is_null(2));
        assert_eq!(zone.value(1), "中关村");
        let platform = b
            .column_by_name("on_digital_platform")
            .unwrap()
            .as_boolean();
        assert!(platform.value(0) && !platform.value(1) && platform.value(2));
        let from = b
            .column_by_name("valid_from")
            .unwrap()
            .as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!(from.value(0), 19723, "2024-01-01");
    }

    #[test]
    fn a_byte_order_mark_and_column_order_do_not_matter() {
        let text = "\u{feff}valid_from,district_code,street_code,community_code,community_name,street_name,population,households,area_km2\n2024-01-01,110108,110108001,110108001001,万柳,万柳地区,1,1,1\n";
        let b = parse_csv(
            ReferenceTable::Communities,
            "c.csv",
            text.as_bytes(),
            &DivisionTable::builtin(),
        )
        .unwrap();
        assert_eq!(b.num_rows(), 1);
        assert!(b.column_by_name("functional_zone").unwrap().is_null(0));
    }

    #[test]
    fn bad_codes_are_refused_with_file_line_and_column() {
        let e = err(&[
            GOOD,
            "11010800100,万柳社区,110108001,万柳地区,110108,5200,2100,0.8,,,,,2024-01-01",
        ]);
        assert_eq!(
            e,
            "c.csv: line 3, column 1 (community_code): \"11010800100\" is not a 12-digit code"
        );
        let e = err(&["110108001001,万柳社区,11010800a,万柳地区,110108,1,1,,,,,,2024-01-01"]);
        assert!(e.contains("line 2, column 3 (street_code)"), "{e}");
        let e = err(&["110108001001,万柳社区,110108001,万柳地区,999999,1,1,,,,,,2024-01-01"]);
        assert!(
            e.contains("column 5 (district_code): district 999999 is not in division table"),
            "{e}"
        );
        let e = err(&["330103001001,x,330103001,y,330103,1,1,,,,,,2024-01-01"]);
        assert!(e.contains("district 330103 is retired: use 330105"), "{e}");
    }

    #[test]
    fn codes_must_nest() {
        let e = err(&["110108002001,万柳社区,110108001,万柳地区,110108,1,1,,,,,,2024-01-01"]);
        assert!(
            e.contains(
                "column 1 (community_code): community 110108002001 is not under street 110108001"
            ),
            "{e}"
        );
        let e = err(&["110105001001,x,110105001,y,110108,1,1,,,,,,2024-01-01"]);
        assert!(
            e.contains("column 3 (street_code): street 110105001 is not under district 110108"),
            "{e}"
        );
        // A street under a retired code of the district nests (330103 is now 330105).
        assert!(communities(&["330103001001,x,330103001,y,330105,1,1,,,,,,2024-01-01"]).is_ok());
    }

    #[test]
    fn values_must_have_their_type() {
        for (row, expected) in [
            (
                "110108001001,万柳,110108001,万柳地区,110108,-3,1,,,,,,2024-01-01",
                "line 2, column 6 (population): -3 is negative",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1.5,1,,,,,,2024-01-01",
                "column 6 (population): \"1.5\" is not a whole number",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,-0.1,,,,,2024-01-01",
                "column 8 (area_km2): -0.1 is negative",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,NaN,,,,,2024-01-01",
                "is not a finite number",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,,,,maybe,,2024-01-01",
                "column 11 (on_digital_platform): \"maybe\" is not true or false",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,,,,,,2024-13-01",
                "column 13 (valid_from): \"2024-13-01\" is not a date YYYY-MM-DD",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,,,,,,",
                "column 13 (valid_from): empty; a value is required",
            ),
            (
                "110108001001,,110108001,万柳地区,110108,1,1,,,,,,2024-01-01",
                "column 2 (community_name): empty",
            ),
            (
                "110108001001,万柳,110108001,万柳地区,110108,1,1,,,,,2024-01-01",
                "c.csv: ",
            ),
        ] {
            let e = err(&[row]);
            assert!(e.contains(expected), "{row}: {e}");
        }
    }

    #[test]
    fn a_version_appears_once() {
        let e = err(&[
            GOOD,
            "110108001002,b,110108001,万柳地区,110108,1,1,,,,,,2024-01-01",
            "110108001001,again,110108001,万柳地区,110108,1,1,,,,,,2024-01-01",
        ]);
        assert_eq!(
            e,
            "c.csv: line 4: community_code 110108001001, valid_from 2024-01-01 repeats line 2 (one row per community_code and valid_from)"
        );
        // Another valid_from is another version.
        assert!(
            communities(&[
                GOOD,
                "110108001001,万柳社区,110108001,万柳地区,110108,1,1,,,,,,2024-07-01"
            ])
            .is_ok()
        );
    }

    #[test]
    fn columns_are_checked_by_name() {
        let t = DivisionTable::builtin();
        let missing = "community_code,community_name,street_code,street_name,district_code,households,valid_from\n";
        let e = parse_csv(ReferenceTable::Communities, "c.csv", missing.as_bytes(), &t)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.csv: communities needs a column population (columns: community_code, community_name"), "{e}");
        let typo = format!("{HEADER},populaton\n");
        let e = parse_csv(ReferenceTable::Communities, "c.csv", typo.as_bytes(), &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 14 \"populaton\" is not a column of communities"),
            "{e}"
        );
        let e = parse_csv(
            ReferenceTable::Communities,
            "c.csv",
            format!("{HEADER}\n").as_bytes(),
            &t,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no rows"), "{e}");
        let e = parse_csv(ReferenceTable::Communities, "c.csv", b"\xff\xfe", &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn life_circles_and_assessments() {
        let t = DivisionTable::builtin();
        let lc = "life_circle_id,name,level,district_code,valid_from\nHD-15-01,万柳15分钟生活圈,15min,110108,2024-01-01\nHD-5-01,a,5min,110108,2024-01-01\n";
        let b = parse_csv(ReferenceTable::LifeCircles, "l.csv", lc.as_bytes(), &t).unwrap();
        assert_eq!(b.num_rows(), 2);
        let bad =
            "life_circle_id,name,level,district_code,valid_from\nX,a,20min,110108,2024-01-01\n";
        let e = parse_csv(ReferenceTable::LifeCircles, "l.csv", bad.as_bytes(), &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 3 (level): \"20min\" is not one of 5min, 10min, 15min"),
            "{e}"
        );
        let a = "assessment_id,community_code,framework,score,passed,assessed_date\nA1,110108001001,完整社区,86.5,true,2024-05-01\nA2,110108001002,完整社区,,,2024-05-01\n";
        let b = parse_csv(
            ReferenceTable::CommunityAssessments,
            "a.csv",
            a.as_bytes(),
            &t,
        )
        .unwrap();
        assert_eq!(b.num_rows(), 2);
        let known = ["110108001001".to_owned()].into_iter().collect();
        let e = check_assessed_communities(&b, "a.csv", true, &known)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.csv: line 3, column 2 (community_code): community 110108001002 is not in the communities"), "{e}");
        let dup = "assessment_id,community_code,framework,score,passed,assessed_date\nA1,110108001001,f,1,true,2024-05-01\nA1,110108001001,f,1,true,2024-06-01\n";
        let e = parse_csv(
            ReferenceTable::CommunityAssessments,
            "a.csv",
            dup.as_bytes(),
            &t,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 3: assessment_id A1 repeats line 2"), "{e}");
    }

    #[test]
    fn parquet_input_with_typed_columns() {
        use arrow::array::{Date32Array, Float64Array, Int64Array};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("community_code", DataType::Int64, false),
            Field::new("community_name", DataType::Utf8, false),
            Field::new("street_code", DataType::Utf8, false),
            Field::new("street_name", DataType::Utf8, false),
            Field::new("district_code", DataType::Utf8, false),
            Field::new("population", DataType::Int64, true),
            Field::new("households", DataType::Int64, true),
            Field::new("area_km2", DataType::Float64, true),
            Field::new("valid_from", DataType::Date32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![110108001001, 110108001002])),
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(StringArray::from(vec!["110108001", "110108001"])),
                Arc::new(StringArray::from(vec!["s", "s"])),
                Arc::new(StringArray::from(vec!["110108", "110108"])),
                Arc::new(Int64Array::from(vec![Some(10), None])),
                Arc::new(Int64Array::from(vec![Some(4), Some(-1)])),
                Arc::new(Float64Array::from(vec![Some(0.5), None])),
                Arc::new(Date32Array::from(vec![19723, 19723])),
            ],
        )
        .unwrap();
        let write = |batch: &RecordBatch| {
            let file = std::fs::File::create(&path).unwrap();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
            w.write(batch).unwrap();
            w.close().unwrap();
        };
        write(&batch);
        let t = DivisionTable::builtin();
        let e = read_file(ReferenceTable::Communities, &path, &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("c.parquet: row 2, column 7 (households): -1 is negative"),
            "{e}"
        );
        write(&batch.slice(0, 1));
        let b = read_file(ReferenceTable::Communities, &path, &t).unwrap();
        assert_eq!(b.schema(), ReferenceTable::Communities.schema());
        let code = b
            .column_by_name("community_code")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(code.value(0), "110108001001");
        let from = b
            .column_by_name("valid_from")
            .unwrap()
            .as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!(from.value(0), 19723);
        let e = read_file(ReferenceTable::Communities, &dir.path().join("c.xlsx"), &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a .csv or .parquet file"), "{e}");
    }

    #[tokio::test]
    async fn write_replaces_and_read_returns_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot::parse(dir.path().join("lake").to_str().unwrap()).unwrap();
        let storage = HashMap::new();
        let t = ReferenceTable::Communities;
        assert_eq!(read_table(&root, &storage, t).await.unwrap().num_rows(), 0);
        let first = communities(&[
            GOOD,
            "110108001002,b,110108001,万柳地区,110108,1,1,,,,,,2024-01-01",
        ])
        .unwrap();
        assert_eq!(write_table(&root, &storage, t, first).await.unwrap(), 1);
        assert_eq!(read_table(&root, &storage, t).await.unwrap().num_rows(), 2);
        let second = communities(&[GOOD]).unwrap();
        assert_eq!(
            write_table(&root, &storage, t, second.clone())
                .await
                .unwrap(),
            2
        );
        let back = read_table(&root, &storage, t).await.unwrap();
        assert_eq!(back, second);
        // The first load stays readable at its version.
        let mut old = open_table(&root, &storage, t).await.unwrap().unwrap();
        old.load_version(1).await.unwrap();
        assert_eq!(old.snapshot().unwrap().log_data().num_files(), 1);
    }
}
