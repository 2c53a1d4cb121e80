//! Normalisation shared by every stream: division codes, time zones, money, coordinates and
//! personal data.

use chrono::Datelike;

use crate::division::{DivisionError, DivisionTable};
use crate::event::RawEnvelope;
use crate::event::types::shanghai;
use crate::geo::{self, CoordSys};
use crate::pii::{self, CallerHasher};
use crate::reject::{RejectClass, Rejection};
use crate::row::{Date, Decimal2, LakeRow, RowLimits, Timestamp, Violation};

/// Where a record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourcePosition {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
}

/// A checked and normalised envelope, ready to become the first columns of a landed row.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Idempotency key.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Schema version as sent.
    pub schema_version: String,
    /// Source system.
    pub source_system: String,
    /// Source record id.
    pub source_record_id: Option<String>,
    /// Event time (UTC).
    pub event_time: Timestamp,
    /// Source ingest time (UTC).
    pub ingest_time: Timestamp,
    /// City code from the division table.
    pub city_code: String,
    /// Current district code (after the crosswalk): also the partition value.
    pub district_code: String,
    /// District name from the division table.
    pub district_name: String,
    /// Street code, checked.
    pub street_code: Option<String>,
    /// Street name.
    pub street_name: Option<String>,
    /// Community code, checked.
    pub community_code: Option<String>,
    /// Community name.
    pub community_name: Option<String>,
    /// Event date in Asia/Shanghai.
    pub event_date: Date,
    /// Event month `YYYY-MM` in Asia/Shanghai: the second partition value.
    pub month: String,
    /// Where the record was read from.
    pub source: SourcePosition,
}

/// Validates and normalises events: the division table, the caller hash key and the limits.
#[derive(Debug, Clone)]
pub struct Normaliser {
    divisions: DivisionTable,
    hasher: Option<CallerHasher>,
    limits: RowLimits,
}

impl Normaliser {
    /// A normaliser over `divisions` hashing caller numbers with `hasher` (streams without
    /// personal data need none).
    pub fn new(divisions: DivisionTable, hasher: Option<CallerHasher>) -> Self {
        Self {
            divisions,
            hasher,
            limits: RowLimits::default(),
        }
    }

    /// The same normaliser accepting values within `limits`.
    pub fn with_limits(self, limits: RowLimits) -> Self {
        Self { limits, ..self }
    }

    /// What a landed value may be.
    pub fn limits(&self) -> &RowLimits {
        &self.limits
    }

    /// Checks every column of a normalised row against the limits, so that the writer never
    /// meets a value it cannot store (a month like `10000-01`, a 19-digit decimal, a NUL).
    pub fn check_row<R: LakeRow>(&self, row: &R) -> Result<(), Rejection> {
        row.check(&self.limits).map_err(|(field, violation)| {
            let class = match violation {
                Violation::TooLong => RejectClass::Oversized,
                _ => RejectClass::InvalidValue,
            };
            Rejection::new(class, format!("{field} {}", violation.rule(&self.limits)))
        })
    }

    /// A year (e.g. a compound's construction year) within the limits' date years.
    pub fn year(&self, field: &str, year: Option<i16>) -> Result<Option<i16>, Rejection> {
        match year {
            Some(y) if !(self.limits.min_date_year..=self.limits.max_year).contains(&y.into()) => {
                Err(Rejection::new(
                    RejectClass::InvalidValue,
                    format!("{field} {}", Violation::DateOutOfRange.rule(&self.limits)),
                ))
            }
            _ => Ok(year),
        }
    }

    /// The division table in use.
    pub fn divisions(&self) -> &DivisionTable {
        &self.divisions
    }

    /// Checks and normalises the envelope of an event.
    pub fn envelope(
        &self,
        raw: RawEnvelope,
        source: SourcePosition,
        community_required: bool,
    ) -> Result<Envelope, Rejection> {
        if raw.event_id.trim().is_empty() {
            return Err(Rejection::new(
                RejectClass::InvalidValue,
                "event_id is empty",
            ));
        }
        let district = self
            .divisions
            .resolve_district(&raw.district_code)
            .map_err(division_rejection)?;
        if let Some(street) = &raw.street_code {
            self.divisions
                .check_street(district, &raw.district_code, street)
                .map_err(division_rejection)?;
        }
        match &raw.community_code {
            Some(community) => self
                .divisions
                .check_community(
                    district,
                    &raw.district_code,
                    raw.street_code.as_deref(),
                    community,
                )
                .map_err(division_rejection)?,
            None if community_required => {
                return Err(Rejection::new(
                    RejectClass::MissingField,
                    "missing field `community_code`",
                ));
            }
            None => {}
        }
        let event_time = raw
            .event_time
            .ok_or_else(|| Rejection::new(RejectClass::MissingField, "missing field `event_time`"))?
            .0;
        let ingest_time = raw.ingest_time.map_or(event_time, |t| t.0);
        let local = event_time.with_timezone(&shanghai()).date_naive();
        Ok(Envelope {
            event_id: raw.event_id,
            event_type: raw.event_type,
            schema_version: raw.schema_version,
            source_system: raw.source_system,
            source_record_id: raw.source_record_id,
            event_time: Timestamp::from_utc(event_time),
            ingest_time: Timestamp::from_utc(ingest_time),
            city_code: district.city_code.clone(),
            district_code: district.code.clone(),
            district_name: district.name_zh.clone(),
            street_code: raw.street_code,
            street_name: raw.street_name,
            community_code: raw.community_code,
            community_name: raw.community_name,
            event_date: Date::from_naive(local),
            month: format!("{:04}-{:02}", local.year(), local.month()),
            source,
        })
    }

    /// Converts coordinates to WGS84; both or neither must be given, and on the globe.
    pub fn coordinates(
        &self,
        sys: Option<CoordSys>,
        lng: Option<f64>,
        lat: Option<f64>,
    ) -> Result<(Option<f64>, Option<f64>), Rejection> {
        match (lng, lat) {
            (None, None) => Ok((None, None)),
            (Some(lng), Some(lat)) if geo::valid_lng_lat(lng, lat) => {
                let (lng, lat) = geo::to_wgs84(sys.unwrap_or(CoordSys::Wgs84), lng, lat);
                Ok((Some(lng), Some(lat)))
            }
            (Some(_), Some(_)) => Err(Rejection::new(
                RejectClass::InvalidValue,
                "lng/lat are not a longitude in -180..=180 and a latitude in -90..=90",
            )),
            _ => Err(Rejection::new(
                RejectClass::InvalidValue,
                "lng and lat must be given together",
            )),
        }
    }

    /// A decimal with two places: `value × factor` (e.g. 万元 to yuan), checked against the
    /// column's precision.
    pub fn decimal<const P: u8>(
        &self,
        field: &str,
        value: Option<crate::event::Number>,
        factor: f64,
    ) -> Result<Option<Decimal2<P>>, Rejection> {
        value
            .map(|v| {
                Decimal2::from_f64(v.0 * factor).ok_or_else(|| {
                    Rejection::new(
                        RejectClass::InvalidValue,
                        format!("{field} does not fit DECIMAL({P},2)"),
                    )
                })
            })
            .transpose()
    }

    /// Free text with phone and ID-card numbers masked.
    pub fn mask(&self, text: Option<String>) -> Option<String> {
        text.map(|t| match pii::mask_text(&t) {
            std::borrow::Cow::Borrowed(_) => t,
            std::borrow::Cow::Owned(masked) => masked,
        })
    }

    /// The keyed hash of a caller's phone number; `None` without a key, so a phone number
    /// never lands in clear.
    pub fn caller_hash(&self, phone: &str) -> Option<String> {
        self.hasher.as_ref()?.hash_phone(phone)
    }
}

/// The rejection for a division error, naming the field and the rule but not the value sent.
fn division_rejection(e: DivisionError) -> Rejection {
    use crate::division::DIVISION_TABLE_VERSION as TABLE;
    let (class, message) = match e {
        DivisionError::NotADistrictCode(_) => (
            RejectClass::InvalidDistrictCode,
            "district_code is not a 6-digit division code".to_owned(),
        ),
        DivisionError::UnknownDistrict(_) => (
            RejectClass::UnknownDistrict,
            format!("district_code is not in division table {TABLE}"),
        ),
        DivisionError::InvalidStreetCode { .. } => (
            RejectClass::InvalidDivisionCode,
            "street_code is not a 9-digit code under its district".to_owned(),
        ),
        DivisionError::InvalidCommunityCode { .. } => (
            RejectClass::InvalidDivisionCode,
            "community_code is not a 12-digit code under its street or district".to_owned(),
        ),
        DivisionError::UnknownCommunity(_) => (
            RejectClass::InvalidDivisionCode,
            "community_code is not in the configured community list".to_owned(),
        ),
    };
    Rejection::new(class, message)
}
