//! The three event streams: raw input types (what feeds send), landed rows (what the lake holds)
//! and the normalisation between them.
//!
//! Raw types derive `serde` for decoding and `schemars` for the JSON Schemas in `schemas/`;
//! landed rows are declared with [`lake_row!`](crate::lake_row) and give each table's Arrow schema.

pub mod facility;
pub mod hotline;
pub mod renovation;
pub(crate) mod types;

pub use types::{EventTime, Number};

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::Rejection;
use crate::row::LakeRow;

/// One of the event streams civicpulse lands: a raw event type and its lake table.
pub trait Event: DeserializeOwned + Serialize + schemars::JsonSchema + Send + 'static {
    /// The landed row this event becomes.
    type Row: LakeRow;
    /// Schema name, e.g. `hotline_ticket` (`schemas/<name>.v1.json`).
    const SCHEMA: &'static str;
    /// Default Kafka topic, e.g. `hotline.tickets`.
    const TOPIC: &'static str;
    /// Lake table directory under the lake root, e.g. `hotline_tickets`.
    const TABLE: &'static str;
    /// Whether events carry caller phone numbers, so the service needs the hash key.
    const HASHES_CALLERS: bool = false;

    /// The `schema_version` the event claims.
    fn schema_version(&self) -> &str;

    /// Validates and normalises the event into its landed row.
    fn normalise(self, ctx: &Normaliser, source: SourcePosition) -> Result<Self::Row, Rejection>;
}

/// The envelope fields every raw event carries (§4.0 of the domain reference), moved out of a
/// decoded event for normalisation.
#[derive(Debug, Clone, Default)]
pub struct RawEnvelope {
    /// Idempotency key (UUIDv7).
    pub event_id: String,
    /// Event type as sent.
    pub event_type: String,
    /// Schema version as sent.
    pub schema_version: String,
    /// Source system, e.g. `bj12345`.
    pub source_system: String,
    /// Record id in the source system.
    pub source_record_id: Option<String>,
    /// When the event happened.
    pub event_time: Option<EventTime>,
    /// When the source system recorded it.
    pub ingest_time: Option<EventTime>,
    /// City code (province-level for Beijing and Chongqing).
    pub city_code: String,
    /// District code as sent (6 digits; may be a retired code).
    pub district_code: String,
    /// District name as sent.
    pub district_name: String,
    /// Street code (9 digits).
    pub street_code: Option<String>,
    /// Street name.
    pub street_name: Option<String>,
    /// Community code (12 digits).
    pub community_code: Option<String>,
    /// Community name.
    pub community_name: Option<String>,
    /// Event date as sent (the landed value is derived from `event_time`).
    pub event_date: Option<NaiveDate>,
}

/// Declares a string enum whose JSON values and Chinese labels are given per variant.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = ($json:literal, $zh:literal) ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = $zh] #[serde(rename = $json)] $variant, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The value as written in events and landed in the lake.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $json, )* }
            }

            /// The Chinese label.
            pub fn label_zh(self) -> &'static str {
                match self { $( $name::$variant => $zh, )* }
            }
        }
    };
}
pub(crate) use string_enum;

/// Declares a raw event struct: the envelope fields followed by the stream's own fields.
macro_rules! raw_event {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            event_type: $event_type:ty,
            community_code: $community:ty,
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub struct $name {
            /// 事件ID: idempotency key (UUIDv7).
            pub event_id: String,
            /// 事件类型.
            pub event_type: $event_type,
            /// 模式版本: `1.x` is supported.
            pub schema_version: String,
            /// 来源系统, e.g. `bj12345`.
            pub source_system: String,
            /// 源记录ID.
            pub source_record_id: Option<String>,
            /// 事件发生时间 (RFC 3339; without an offset it is read as Asia/Shanghai time).
            pub event_time: $crate::event::EventTime,
            /// 入库时间 in the source system.
            pub ingest_time: $crate::event::EventTime,
            /// 城市代码 (province-level for Beijing and Chongqing).
            #[schemars(regex(pattern = r"^[0-9]{6}$"))]
            pub city_code: String,
            /// 区县代码: GB/T 2260 six-digit code, the partition key.
            #[schemars(regex(pattern = r"^[0-9]{6}$"))]
            pub district_code: String,
            /// 区县名称.
            pub district_name: String,
            /// 街道/乡镇代码 (9 digits, nested under the district).
            #[schemars(regex(pattern = r"^[0-9]{9}$"))]
            pub street_code: Option<String>,
            /// 街道名称.
            pub street_name: Option<String>,
            /// 社区代码 (12 digits, nested under the street). Facility and renovation events need one: when it is absent or empty, the ingest resolves `community_name` within the district through the communities reference and refuses the event if it cannot.
            #[schemars(regex(pattern = r"^[0-9]{12}$"))]
            #[serde(default, skip_serializing_if = "crate::event::IntoOption::is_absent")]
            pub community_code: $community,
            /// 社区名称.
            pub community_name: Option<String>,
            /// 事件日期 (informational: the landed date is derived from `event_time` in Asia/Shanghai).
            pub event_date: Option<chrono::NaiveDate>,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// Moves the envelope fields out for normalisation.
            pub fn take_envelope(&mut self) -> $crate::event::RawEnvelope {
                use std::mem::take;
                $crate::event::RawEnvelope {
                    event_id: take(&mut self.event_id),
                    event_type: self.event_type.as_str().to_owned(),
                    schema_version: take(&mut self.schema_version),
                    source_system: take(&mut self.source_system),
                    source_record_id: self.source_record_id.take(),
                    event_time: Some(self.event_time),
                    ingest_time: Some(self.ingest_time),
                    city_code: take(&mut self.city_code),
                    district_code: take(&mut self.district_code),
                    district_name: take(&mut self.district_name),
                    street_code: self.street_code.take(),
                    street_name: self.street_name.take(),
                    community_code: $crate::event::IntoOption::into_option(take(&mut self.community_code)),
                    community_name: self.community_name.take(),
                    event_date: self.event_date,
                }
            }
        }
    };
}
pub(crate) use raw_event;

/// Declares a landed row: the normalised envelope, the stream's own columns, then the partition
/// columns and the Kafka position the row came from.
macro_rules! event_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident => $builder:ident { $($body:tt)* }
    ) => {
        $crate::lake_row! {
            $(#[$meta])*
            pub struct $name => $builder {
                /// 事件ID: idempotency key.
                event_id: String,
                /// 事件类型.
                event_type: String,
                /// 模式版本 as sent.
                schema_version: String,
                /// 来源系统.
                source_system: String,
                /// 源记录ID.
                source_record_id: Option<String>,
                /// 事件发生时间 (UTC).
                event_time: $crate::row::Timestamp,
                /// 入库时间 in the source system (UTC).
                ingest_time: $crate::row::Timestamp,
                /// 城市代码.
                city_code: String,
                /// 区县代码 (current code: retired codes are mapped through the crosswalk).
                district_code: String,
                /// 区县名称 (from the division table).
                district_name: String,
                /// 街道/乡镇代码.
                street_code: Option<String>,
                /// 街道名称.
                street_name: Option<String>,
                /// 社区代码.
                community_code: Option<String>,
                /// 社区名称.
                community_name: Option<String>,
                /// 事件日期 in Asia/Shanghai.
                event_date: $crate::row::Date,
                $($body)*
                /// Partition: district code.
                district: String,
                /// Partition: event month `YYYY-MM` in Asia/Shanghai.
                month: String,
                /// Kafka partition the event was read from.
                kafka_partition: i32,
                /// Kafka offset the event was read from.
                kafka_offset: i64,
            }
        }
    };
}
pub(crate) use event_row;

/// Builds a landed row from a normalised [`Envelope`] and the stream's own fields.
macro_rules! row_with_envelope {
    ($row:ident, $env:expr, { $($field:ident : $value:expr),* $(,)? }) => {{
        let env: $crate::normalise::Envelope = $env;
        $row {
            event_id: env.event_id,
            event_type: env.event_type,
            schema_version: env.schema_version,
            source_system: env.source_system,
            source_record_id: env.source_record_id,
            event_time: env.event_time,
            ingest_time: env.ingest_time,
            city_code: env.city_code,
            district_code: env.district_code.clone(),
            district_name: env.district_name,
            street_code: env.street_code,
            street_name: env.street_name,
            community_code: env.community_code,
            community_name: env.community_name,
            event_date: env.event_date,
            $($field: $value,)*
            district: env.district_code,
            month: env.month,
            kafka_partition: env.source.partition,
            kafka_offset: env.source.offset,
        }
    }};
}
pub(crate) use row_with_envelope;

/// Turns a required or optional raw field into an optional one.
pub trait IntoOption {
    /// The value, if any.
    fn into_option(self) -> Option<String>;
    /// Whether there is no value.
    fn is_absent(&self) -> bool;
}

/// A field absent from the record (decoded as empty) or empty is `None`.
impl IntoOption for String {
    fn into_option(self) -> Option<String> {
        (!self.is_empty()).then_some(self)
    }

    fn is_absent(&self) -> bool {
        self.is_empty()
    }
}

impl IntoOption for Option<String> {
    fn into_option(self) -> Option<String> {
        self
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}
