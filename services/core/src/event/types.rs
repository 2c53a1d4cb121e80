//! Scalar types of raw events that need more care than serde's defaults.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Asia/Shanghai: UTC+8 all year (China has no daylight saving time).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A timestamp in an event: RFC 3339 with an offset, or a naive `YYYY-MM-DD[T ]HH:MM:SS` that
/// feeds send in Asia/Shanghai local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(pub DateTime<Utc>);

impl EventTime {
    /// Parses an event timestamp; `None` when it is neither form.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Self(t.with_timezone(&Utc)));
        }
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .and_then(|naive| naive.and_local_timezone(shanghai()).single())
            .map(|t| Self(t.with_timezone(&Utc)))
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom("invalid value, expected an RFC 3339 timestamp")
        })
    }
}

impl JsonSchema for EventTime {
    fn schema_name() -> Cow<'static, str> {
        "EventTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 timestamp; without an offset it is Asia/Shanghai local time"
        })
    }
}

/// A decimal quantity or amount: a JSON number, or a string holding one (feeds that keep
/// exact decimals send strings).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Float(f64),
            #[serde(borrow)]
            Text(Cow<'a, str>),
        }
        let value = match Raw::deserialize(d)? {
            Raw::Float(v) => v,
            Raw::Text(s) => s.trim().parse::<f64>().map_err(|_| {
                serde::de::Error::custom("invalid type, expected a number or a string holding one")
            })?,
        };
        if value.is_finite() {
            Ok(Self(value))
        } else {
            Err(serde::de::Error::custom(
                "invalid value, expected a finite number",
            ))
        }
    }
}

impl JsonSchema for Number {
    fn schema_name() -> Cow<'static, str> {
        "Number".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "number" },
                { "type": "string", "pattern": r"^\s*-?[0-9]+(\.[0-9]+)?\s*$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_times_are_shanghai_local() {
        let a = EventTime::parse("2024-05-06 10:21:00").unwrap();
        let b = EventTime::parse("2024-05-06T02:21:00Z").unwrap();
        assert_eq!(a, b);
        assert!(EventTime::parse("yesterday").is_none());
    }

    #[test]
    fn numbers_accept_strings() {
        let n: Number = serde_json::from_str("\"85.12\"").unwrap();
        assert_eq!(n.0, 85.12);
        assert!(serde_json::from_str::<Number>("\"lots\"").is_err());
    }
}
