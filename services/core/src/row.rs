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
use chrono::{DateTime, NaiveDate, Utc};

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
        (hundredths.is_finite() && hundredths.abs() <= Self::MAX_HUNDREDTHS as f64)
            .then_some(Self(hundredths as i128))
    }

    /// The value as a float (for tests and display).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// Money in yuan: `DECIMAL(18,2)`.
pub type Yuan = Decimal2<18>;

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
}

/// The Arrow field of a column of type `T`.
pub fn field<T: Column>(name: &str) -> Field {
    Field::new(name, T::data_type(), T::NULLABLE)
}

macro_rules! primitive_column {
    ($t:ty, $builder:ty, $dt:expr, $conv:expr) => {
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
        }
    };
}

primitive_column!(i16, Int16Builder, DataType::Int16, |v: &i16| *v);
primitive_column!(i32, Int32Builder, DataType::Int32, |v: &i32| *v);
primitive_column!(i64, Int64Builder, DataType::Int64, |v: &i64| *v);
primitive_column!(f64, Float64Builder, DataType::Float64, |v: &f64| *v);
primitive_column!(Date, Date32Builder, DataType::Date32, |v: &Date| v.0);
primitive_column!(
    Timestamp,
    TimestampMicrosecondBuilder,
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    |v: &Timestamp| v.0
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
}

/// A row type declared with [`lake_row!`]: it knows its Arrow schema and its builder.
pub trait LakeRow: Send + 'static {
    /// The columnar builder for rows of this type.
    type Builder: RowBuilder<Row = Self>;
    /// The Arrow schema of the table (partition columns included).
    fn schema() -> arrow::datatypes::SchemaRef;
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
