//! Landed rows and their Arrow form.
//!
//! Each lake table is declared once with [`lake_row!`]: a plain Rust struct whose field types map
//! to Arrow columns through [`Column`]. The macro derives the table's Arrow schema and a columnar
//! builder from that one definition, so the schema a reader sees cannot drift from the code that
//! fills it.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A point in time, stored as microseconds since the Unix epoch in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The timestamp of a `chrono` UTC time.
    pub fn from_utc(t: DateTime<Utc>) -> Self {
        Self(t.timestamp_micros())
    }

    /// This timestamp as a `chrono` UTC time.
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }
}

/// A calendar date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// The date of a `chrono` calendar date.
    pub fn from_naive(d: NaiveDate) -> Self {
        Self((d - NaiveDate::default()).num_days() as i32)
    }

    /// This date as a `chrono` calendar date.
    pub fn to_naive(self) -> NaiveDate {
        NaiveDate::default() + chrono::TimeDelta::days(self.0 as i64)
    }
}

/// A decimal with two places and precision `P`, stored as an integer count of hundredths
/// (e.g. yuan and fen for money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal2<const P: u8>(pub i128);

impl<const P: u8> Decimal2<P> {
    /// The largest absolute value in hundredths that fits precision `P`.
    pub const MAX_HUNDREDTHS: i128 = 10i128.pow(P as u32) - 1;

    /// Rounds `value` to hundredths; `None` when it is not finite or does not fit precision `P`.
    pub fn from_f64(value: f64) -> Option<Self> {
        let hundredths = (value * 100.0).round();
        // Compared as integers: near 10^18 the float bound rounds up to 10^18 itself, which has
        // 19 digits and would be written into a DECIMAL(18,2) that readers cannot decode.
        if !hundredths.is_finite() || hundredths.abs() >= 1e37 {
            return None;
        }
        Some(Self(hundredths as i128)).filter(Self::fits)
    }

    /// Whether the value fits precision `P`.
    pub fn fits(&self) -> bool {
        self.0.abs() <= Self::MAX_HUNDREDTHS
    }

    /// The value as a float (for tests and display).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// Money in yuan: `DECIMAL(18,2)`.
pub type Yuan = Decimal2<18>;

/// What the lake accepts in a column value beyond its Arrow type: checked on every row before it
/// is buffered, so the writer never meets a value it cannot store or a reader cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimits {
    /// Earliest year of a timestamp (UTC).
    pub min_year: i32,
    /// Earliest year of a calendar date (facilities opened long before the feeds began).
    pub min_date_year: i32,
    /// Latest year of a timestamp or date.
    pub max_year: i32,
    /// Largest UTF-8 length of one text value (a list's values count together).
    pub max_field_bytes: usize,
}

impl Default for RowLimits {
    fn default() -> Self {
        Self {
            min_year: 2000,
            min_date_year: 1900,
            max_year: 2100,
            max_field_bytes: 768 * 1024,
        }
    }
}

/// A rule a column value broke (the value itself is never repeated: it may be personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A timestamp outside `min_year..=max_year`.
    TimeOutOfRange,
    /// A date outside `min_date_year..=max_year`.
    DateOutOfRange,
    /// A text value containing U+0000 (PostgreSQL clients and many tools cannot carry it).
    NulCharacter,
    /// A text value longer than `max_field_bytes`.
    TooLong,
    /// A float that is NaN or infinite.
    NotFinite,
    /// A decimal with more digits than its column's precision.
    DecimalOverflow,
}

impl Violation {
    /// The rule, as said in dead-letter messages.
    pub fn rule(self, limits: &RowLimits) -> String {
        match self {
            Self::TimeOutOfRange => format!(
                "is outside the accepted years {}..={}",
                limits.min_year, limits.max_year
            ),
            Self::DateOutOfRange => format!(
                "is outside the accepted years {}..={}",
                limits.min_date_year, limits.max_year
            ),
            Self::NulCharacter => "contains a NUL character (U+0000)".into(),
            Self::TooLong => format!("is longer than {} bytes", limits.max_field_bytes),
            Self::NotFinite => "is not a finite number".into(),
            Self::DecimalOverflow => "does not fit its decimal precision".into(),
        }
    }
}

fn check_text(value: &str, limits: &RowLimits) -> Result<(), Violation> {
    if value.len() > limits.max_field_bytes {
        Err(Violation::TooLong)
    } else if value.contains('\0') {
        Err(Violation::NulCharacter)
    } else {
        Ok(())
    }
}

/// A Rust type that maps to one Arrow column.
pub trait Column: Sized {
    /// The Arrow builder that collects values of this type.
    type Builder: ArrayBuilder;
    /// The Arrow type of the column.
    fn data_type() -> DataType;
    /// Whether the column may hold nulls.
    const NULLABLE: bool = false;
    /// A builder with room for `capacity` values.
    fn builder(capacity: usize) -> Self::Builder;
    /// Appends one value.
    fn append(builder: &mut Self::Builder, value: &Self);
    /// Appends a null (only called for nullable columns).
    fn append_null(builder: &mut Self::Builder);
    /// Whether the value is one the lake accepts (see [`RowLimits`]).
    fn check(&self, _limits: &RowLimits) -> Result<(), Violation> {
        Ok(())
    }
}

/// The Arrow field of a column of type `T`.
pub fn field<T: Column>(name: &str) -> Field {
    Field::new(name, T::data_type(), T::NULLABLE)
}

macro_rules! primitive_column {
    ($t:ty, $builder:ty, $dt:expr, $conv:expr) => {
        primitive_column!($t, $builder, $dt, $conv, |_: &$t, _: &RowLimits| Ok(()));
    };
    ($t:ty, $builder:ty, $dt:expr, $conv:expr, $check:expr) => {
        impl Column for $t {
            type Builder = $builder;
            fn data_type() -> DataType {
                $dt
            }
            fn builder(capacity: usize) -> Self::Builder {
                <$builder>::with_capacity(capacity).with_data_type($dt)
            }
            fn append(builder: &mut Self::Builder, value: &Self) {
                builder.append_value($conv(value));
            }
            fn append_null(builder: &mut Self::Builder) {
                builder.append_null();
            }
            fn check(&self, limits: &RowLimits) -> Result<(), Violation> {
                $check(self, limits)
            }
        }
    };
}

primitive_column!(i16, Int16Builder, DataType::Int16, |v: &i16| *v);
primitive_column!(i32, Int32Builder, DataType::Int32, |v: &i32| *v);
primitive_column!(i64, Int64Builder, DataType::Int64, |v: &i64| *v);
primitive_column!(
    f64,
    Float64Builder,
    DataType::Float64,
    |v: &f64| *v,
    |v: &f64, _: &RowLimits| if v.is_finite() {
        Ok(())
    } else {
        Err(Violation::NotFinite)
    }
);
primitive_column!(
    Date,
    Date32Builder,
    DataType::Date32,
    |v: &Date| v.0,
    |v: &Date, l: &RowLimits| match NaiveDate::default()
        .checked_add_signed(chrono::TimeDelta::days(v.0.into()))
    {
        Some(d) if (l.min_date_year..=l.max_year).contains(&d.year()) => Ok(()),
        _ => Err(Violation::DateOutOfRange),
    }
);
primitive_column!(
    Timestamp,
    TimestampMicrosecondBuilder,
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    |v: &Timestamp| v.0,
    |v: &Timestamp, l: &RowLimits| match DateTime::from_timestamp_micros(v.0) {
        Some(t) if (l.min_year..=l.max_year).contains(&t.year()) => Ok(()),
        _ => Err(Violation::TimeOutOfRange),
    }
);

impl<const P: u8> Column for Decimal2<P> {
    type Builder = Decimal128Builder;
    fn data_type() -> DataType {
        DataType::Decimal128(P, 2)
    }
    fn builder(capacity: usize) -> Self::Builder {
        Decimal128Builder::with_capacity(capacity).with_data_type(Self::data_type())
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        builder.append_value(value.0);
    }
    fn append_null(builder: &mut Self::Builder) {
        builder.append_null();
    }
    fn check(&self, _: &RowLimits) -> Result<(), Violation> {
        if self.fits() {
            Ok(())
        } else {
            Err(Violation::DecimalOverflow)
        }
    }
}

impl Column for bool {
    type Builder = BooleanBuilder;
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn builder(capacity: usize) -> Self::Builder {
        BooleanBuilder::with_capacity(capacity)
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        builder.append_value(*value);
    }
    fn append_null(builder: &mut Self::Builder) {
        builder.append_null();
    }
}

impl Column for String {
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> Self::Builder {
        StringBuilder::with_capacity(capacity, capacity * 16)
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        builder.append_value(value);
    }
    fn append_null(builder: &mut Self::Builder) {
        builder.append_null();
    }
    fn check(&self, limits: &RowLimits) -> Result<(), Violation> {
        check_text(self, limits)
    }
}

impl Column for Vec<String> {
    type Builder = ListBuilder<StringBuilder>;
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
    }
    fn builder(capacity: usize) -> Self::Builder {
        ListBuilder::with_capacity(StringBuilder::new(), capacity).with_field(Arc::new(Field::new(
            "element",
            DataType::Utf8,
            true,
        )))
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        for v in value {
            builder.values().append_value(v);
        }
        builder.append(true);
    }
    fn append_null(builder: &mut Self::Builder) {
        builder.append(false);
    }
    fn check(&self, limits: &RowLimits) -> Result<(), Violation> {
        if self.iter().map(String::len).sum::<usize>() > limits.max_field_bytes {
            return Err(Violation::TooLong);
        }
        self.iter().try_for_each(|v| check_text(v, limits))
    }
}

impl<T: Column> Column for Option<T> {
    type Builder = T::Builder;
    const NULLABLE: bool = true;
    fn data_type() -> DataType {
        T::data_type()
    }
    fn builder(capacity: usize) -> Self::Builder {
        T::builder(capacity)
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        match value {
            Some(v) => T::append(builder, v),
            None => T::append_null(builder),
        }
    }
    fn append_null(builder: &mut Self::Builder) {
        T::append_null(builder);
    }
    fn check(&self, limits: &RowLimits) -> Result<(), Violation> {
        self.as_ref().map_or(Ok(()), |v| v.check(limits))
    }
}

/// A row type declared with [`lake_row!`]: it knows its Arrow schema and its builder.
pub trait LakeRow: Send + 'static {
    /// The columnar builder for rows of this type.
    type Builder: RowBuilder<Row = Self>;
    /// The Arrow schema of the table (partition columns included).
    fn schema() -> arrow::datatypes::SchemaRef;
    /// The first column whose value the lake does not accept, with the rule it broke.
    fn check(&self, limits: &RowLimits) -> Result<(), (&'static str, Violation)>;
}

/// Collects rows into Arrow columns.
pub trait RowBuilder: Send + 'static {
    /// The row type collected.
    type Row;
    /// An empty builder with room for `capacity` rows.
    fn with_capacity(capacity: usize) -> Self;
    /// Appends one row.
    fn push(&mut self, row: &Self::Row);
    /// Rows appended since the last [`finish`](Self::finish).
    fn len(&self) -> usize;
    /// True when no row is buffered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The buffered rows as Arrow arrays in schema order; the builder is left empty.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

/// Declares a landed row struct, its Arrow schema and its columnar builder.
///
/// ```ignore
/// lake_row! {
///     /// One landed ticket event.
///     pub struct TicketRow => TicketRowBuilder {
///         /// Idempotency key of the event.
///         event_id: String,
///         closed_time: Option<Timestamp>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! lake_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident => $builder:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        #[doc = concat!("Columnar builder for [`", stringify!($name), "`].")]
        pub struct $builder {
            rows: usize,
            $( $field: <$ty as $crate::row::Column>::Builder, )*
        }

        impl $crate::row::LakeRow for $name {
            type Builder = $builder;
            fn schema() -> ::arrow::datatypes::SchemaRef {
                static SCHEMA: ::std::sync::OnceLock<::arrow::datatypes::SchemaRef> =
                    ::std::sync::OnceLock::new();
                SCHEMA
                    .get_or_init(|| {
                        ::std::sync::Arc::new(::arrow::datatypes::Schema::new(vec![
                            $( $crate::row::field::<$ty>(stringify!($field)), )*
                        ]))
                    })
                    .clone()
            }
            fn check(
                &self,
                limits: &$crate::row::RowLimits,
            ) -> Result<(), (&'static str, $crate::row::Violation)> {
                $( <$ty as $crate::row::Column>::check(&self.$field, limits)
                    .map_err(|v| (stringify!($field), v))?; )*
                Ok(())
            }
        }

        impl $crate::row::RowBuilder for $builder {
            type Row = $name;
            fn with_capacity(capacity: usize) -> Self {
                Self {
                    rows: 0,
                    $( $field: <$ty as $crate::row::Column>::builder(capacity), )*
                }
            }
            fn push(&mut self, row: &$name) {
                self.rows += 1;
                $( <$ty as $crate::row::Column>::append(&mut self.$field, &row.$field); )*
            }
            fn len(&self) -> usize {
                self.rows
            }
            fn finish(&mut self) -> Vec<::arrow::array::ArrayRef> {
                self.rows = 0;
                vec![ $( ::arrow::array::ArrayBuilder::finish(&mut self.$field), )* ]
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, RecordBatch};

    lake_row! {
        /// A test row.
        pub struct TestRow => TestRowBuilder {
            id: String,
            at: Timestamp,
            on: Option<Date>,
            amount: Option<Yuan>,
            tags: Option<Vec<String>>,
            flag: Option<bool>,
        }
    }

    #[test]
    fn schema_and_builder_agree() {
        let mut b = TestRowBuilder::with_capacity(2);
        b.push(&TestRow {
            id: "a".into(),
            at: Timestamp(1),
            on: Some(Date(19000)),
            amount: Yuan::from_f64(850000.0),
            tags: Some(vec!["x".into(), "y".into()]),
            flag: None,
        });
        b.push(&TestRow {
            id: "b".into(),
            at: Timestamp(2),
            on: None,
            amount: None,
            tags: None,
            flag: Some(true),
        });
        let batch = RecordBatch::try_new(TestRow::schema(), b.finish()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(3).null_count(), 1);
        assert_eq!(
            batch.schema().field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(!batch.schema().field(0).is_nullable());
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn decimal_rounds_to_hundredths_and_checks_precision() {
        assert_eq!(Yuan::from_f64(85.12 * 10_000.0), Some(Decimal2(85_120_000)));
        assert_eq!(Decimal2::<5>::from_f64(100.0), Some(Decimal2(10_000)));
        assert_eq!(Decimal2::<5>::from_f64(1000.0), None);
        assert_eq!(Yuan::from_f64(f64::NAN), None);
    }

    #[test]
    fn date_round_trips() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
        assert_eq!(Date::from_naive(d).to_naive(), d);
    }
}
