//! Why a record could not land: the classes a dead-letter record is filed under.

use std::fmt;

/// The class of a rejected record, written to the dead-letter header `civicpulse.error.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectClass {
    /// Larger than the configured record limit.
    Oversized,
    /// The payload is not valid UTF-8.
    NotUtf8,
    /// The payload is not JSON.
    NotJson,
    /// A required field is missing.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// An enum field has a value outside its enum.
    UnknownEnumValue,
    /// A field has a value of the right type that cannot be accepted (bad timestamp, empty id,
    /// number out of range, coordinates off the globe).
    InvalidValue,
    /// The event claims a `schema_version` this service does not read.
    UnsupportedSchemaVersion,
    /// The district field is not a 6-digit code (e.g. `../../etc`).
    InvalidDistrictCode,
    /// A well-formed district code that is not in the division table.
    UnknownDistrict,
    /// A street or community code that is malformed, not nested under its district, or not in
    /// the communities reference.
    InvalidDivisionCode,
    /// The district field names a functional zone (e.g. 北京经济技术开发区), which has no GB code,
    /// and no street or community code or name places the event in a GB district.
    UnplacedFunctionalZone,
    /// A facility or renovation event without `community_code` whose `community_name` matches
    /// no community, or several, of its district in the communities reference.
    UnresolvedCommunity,
    /// Passed validation, but the lake's writer refused the row (found by bisecting the batch
    /// whose write failed): a gap in validation to report, never a reason to stop landing.
    Unwritable,
}

impl RejectClass {
    /// Every class, for metrics.
    pub const ALL: &'static [RejectClass] = &[
        Self::Oversized,
        Self::NotUtf8,
        Self::NotJson,
        Self::MissingField,
        Self::WrongType,
        Self::UnknownEnumValue,
        Self::InvalidValue,
        Self::UnsupportedSchemaVersion,
        Self::InvalidDistrictCode,
        Self::UnknownDistrict,
        Self::InvalidDivisionCode,
        Self::UnplacedFunctionalZone,
        Self::UnresolvedCommunity,
        Self::Unwritable,
    ];

    /// The class name as written in dead-letter headers and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::NotUtf8 => "not_utf8",
            Self::NotJson => "not_json",
            Self::MissingField => "schema_violation.missing_field",
            Self::WrongType => "schema_violation.wrong_type",
            Self::UnknownEnumValue => "schema_violation.unknown_enum_value",
            Self::InvalidValue => "schema_violation.invalid_value",
            Self::UnsupportedSchemaVersion => "unsupported_schema_version",
            Self::InvalidDistrictCode => "invalid_district_code",
            Self::UnknownDistrict => "unknown_district",
            Self::InvalidDivisionCode => "invalid_division_code",
            Self::UnplacedFunctionalZone => "unplaced_functional_zone",
            Self::UnresolvedCommunity => "unresolved_community",
            Self::Unwritable => "unwritable",
        }
    }

    /// The class named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for RejectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that cannot land, with its class and a message for the person reading the
/// dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct Rejection {
    /// The class.
    pub class: RejectClass,
    /// What exactly is wrong, naming the field.
    pub message: String,
}

impl Rejection {
    /// A rejection of class `class`.
    pub fn new(class: RejectClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}
