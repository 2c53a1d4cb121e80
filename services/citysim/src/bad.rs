//! Invalid records of every dead-letter class, made from a valid event of the same topic so
//! they look like what a broken upstream sends.

use civicpulse_core::reject::RejectClass;
use serde_json::Value;

use crate::SimError;
use crate::emit::Topic;
use crate::rng::{self, SimRng};

/// Payload size of an oversized record: just over the ingest's 1 MiB limit.
pub const OVERSIZED_BYTES: usize = 1024 * 1024 + 4096;

/// A dead-letter class the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadClass {
    /// Bytes that are not UTF-8 (a Latin-1 `é` inside a string).
    NotUtf8,
    /// A record cut off half way.
    NotJson,
    /// The entity id removed.
    MissingField,
    /// A field of the wrong JSON type.
    WrongType,
    /// An enum value the schema does not list.
    UnknownEnumValue,
    /// `schema_version` 2.0.
    UnsupportedSchemaVersion,
    /// `district_code` `../../etc`.
    InvalidDistrictCode,
    /// `district_code` `999999`.
    UnknownDistrict,
    /// A record over 1 MiB.
    Oversized,
}

impl BadClass {
    /// Every class, in injection order.
    pub const ALL: [BadClass; 9] = [
        BadClass::NotUtf8,
        BadClass::NotJson,
        BadClass::MissingField,
        BadClass::WrongType,
        BadClass::UnknownEnumValue,
        BadClass::UnsupportedSchemaVersion,
        BadClass::InvalidDistrictCode,
        BadClass::UnknownDistrict,
        BadClass::Oversized,
    ];

    /// The class the ingest validator files the record under.
    pub fn reject_class(self) -> RejectClass {
        match self {
            BadClass::NotUtf8 => RejectClass::NotUtf8,
            BadClass::NotJson => RejectClass::NotJson,
            BadClass::MissingField => RejectClass::MissingField,
            BadClass::WrongType => RejectClass::WrongType,
            BadClass::UnknownEnumValue => RejectClass::UnknownEnumValue,
            BadClass::UnsupportedSchemaVersion => RejectClass::UnsupportedSchemaVersion,
            BadClass::InvalidDistrictCode => RejectClass::InvalidDistrictCode,
            BadClass::UnknownDistrict => RejectClass::UnknownDistrict,
            BadClass::Oversized => RejectClass::Oversized,
        }
    }

    /// The dead-letter class name, e.g. `schema_violation.missing_field`.
    pub fn as_str(self) -> &'static str {
        self.reject_class().as_str()
    }
}

/// Picks the classes of a topic's invalid records: the first nine cycle through every class,
/// later ones are drawn at random with oversized records kept rare (they are 1 MiB each).
#[derive(Debug)]
pub struct BadPicker {
    rng: SimRng,
    made: u64,
}

impl BadPicker {
    /// A picker for `topic` under `seed`.
    pub fn new(seed: u64, topic: Topic) -> Self {
        Self {
            rng: rng::rng(seed, rng::Purpose::Bad, topic as u64),
            made: 0,
        }
    }

    /// Whether to inject an invalid record after the current valid one.
    pub fn roll(&mut self, ratio: f64) -> bool {
        ratio > 0.0 && rng::chance(&mut self.rng, ratio)
    }

    /// The class of the next invalid record.
    pub fn next_class(&mut self) -> BadClass {
        let n = self.made;
        self.made += 1;
        if n < BadClass::ALL.len() as u64 {
            return BadClass::ALL[n as usize];
        }
        let weights = [12.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0, 1.0];
        BadClass::ALL[rng::pick(&mut self.rng, &weights)]
    }
}

/// An invalid record of class `class` made from `valid`, a valid event of `topic`.
pub fn make(class: BadClass, topic: Topic, valid: &[u8]) -> Result<Vec<u8>, SimError> {
    let mut v: Value = serde_json::from_slice(valid)?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| SimError::Config("event is not a JSON object".into()))?;
    let set = |obj: &mut serde_json::Map<String, Value>, k: &str, val: Value| {
        obj.insert(k.to_owned(), val);
    };
    match class {
        BadClass::NotUtf8 => {
            let mut out = valid.to_vec();
            let needle = b"\"source_system\":\"";
            let at = find(&out, needle).map_or(1, |i| i + needle.len());
            // Latin-1 é: a lone continuation-less byte, invalid in UTF-8.
            out.insert(at, 0xE9);
            return Ok(out);
        }
        BadClass::NotJson => {
            let text = std::str::from_utf8(valid).map_err(|e| SimError::Config(e.to_string()))?;
            let mut cut = text.len() * 3 / 5;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return Ok(text.as_bytes()[..cut].to_vec());
        }
        BadClass::MissingField => {
            obj.remove(id_field(topic));
        }
        BadClass::WrongType => match topic {
            Topic::Hotline => set(obj, "ticket_version", Value::from("第七版")),
            Topic::Facility => set(obj, "facility_version", Value::from("v1")),
            Topic::Renovation => set(obj, "status_date", Value::from(20_240_930)),
        },
        BadClass::UnknownEnumValue => match topic {
            Topic::Hotline => set(obj, "channel", Value::from("carrier_pigeon")),
            Topic::Facility => set(obj, "facility_type", Value::from("spaceport")),
            Topic::Renovation => set(obj, "project_type", Value::from("moon_base")),
        },
        BadClass::UnsupportedSchemaVersion => set(obj, "schema_version", Value::from("2.0")),
        BadClass::InvalidDistrictCode => set(obj, "district_code", Value::from("../../etc")),
        BadClass::UnknownDistrict => set(obj, "district_code", Value::from("999999")),
        BadClass::Oversized => {
            let field = match topic {
                Topic::Hotline => "content",
                Topic::Facility => "address",
                Topic::Renovation => "remarks",
            };
            // Three bytes per character.
            set(obj, field, Value::from("长".repeat(OVERSIZED_BYTES / 3)));
        }
    }
    Ok(serde_json::to_vec(&v)?)
}

/// The required id field of a topic's events.
fn id_field(topic: Topic) -> &'static str {
    match topic {
        Topic::Hotline => "ticket_id",
        Topic::Facility => "facility_id",
        Topic::Renovation => "project_id",
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
