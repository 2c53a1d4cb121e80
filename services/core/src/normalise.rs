//! Normalisation shared by every stream: division codes, time zones, money, coordinates and
//! personal data.

use chrono::Datelike;

use crate::division::{DivisionError, DivisionFields, DivisionTable};
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
        let event_day = raw
            .event_time
            .map(|t| t.0.with_timezone(&shanghai()).date_naive());
        let placed = self
            .divisions
            .place(&DivisionFields {
                city_code: &raw.city_code,
                district_code: &raw.district_code,
                district_name: &raw.district_name,
                street_code: raw.street_code.as_deref(),
                street_name: raw.street_name.as_deref(),
                community_code: raw.community_code.as_deref(),
                community_name: raw.community_name.as_deref(),
                date: event_day,
                community_required,
            })
            .map_err(division_rejection)?;
        let district = placed.district;
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
            street_code: placed.street_code,
            street_name: raw.street_name,
            community_code: placed.community_code,
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
            "community_code is not in the communities reference".to_owned(),
        ),
        e @ DivisionError::UnplacedZone(_) => (RejectClass::UnplacedFunctionalZone, e.to_string()),
        DivisionError::UnresolvedCommunity { district, problem } => (
            RejectClass::UnresolvedCommunity,
            format!(
                "community_code is missing and community_name {problem} of district {district} \
                 in the communities reference (send community_code, or street_name to tell \
                 communities of one name apart)"
            ),
        ),
        DivisionError::MissingCommunity { name_sent } => (
            RejectClass::MissingField,
            if name_sent {
                "missing field `community_code` (community_name is resolved only with a \
                 communities reference in the lake)"
                    .to_owned()
            } else {
                "missing field `community_code`".to_owned()
            },
        ),
    };
    Rejection::new(class, message)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::Value;

    use super::*;
    use crate::decode::decode;
    use crate::division::CommunityRecord;
    use crate::event::Event;
    use crate::event::facility::FacilityChange;
    use crate::event::hotline::HotlineTicket;
    use crate::event::renovation::RenovationProgress;

    /// The committed example `name`, with `fields` replaced (`null` removes a field).
    fn example(name: &str, fields: &[(&str, Value)]) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../schemas/examples/valid/{name}.json"));
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let o = v.as_object_mut().unwrap();
        for (k, value) in fields {
            if value.is_null() {
                o.remove(*k);
            } else {
                o.insert((*k).to_owned(), value.clone());
            }
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn land<E: Event>(ctx: &Normaliser, payload: &[u8]) -> Result<E::Row, Rejection> {
        decode::<E>(payload, 1 << 20, ctx, SourcePosition::default())
    }

    fn builtin() -> Normaliser {
        let hasher = CallerHasher::new(b"normalise-test-key-0123456789").unwrap();
        Normaliser::new(DivisionTable::builtin(), Some(hasher))
    }

    fn with_reference() -> Normaliser {
        let row = |code: &str, name: &str, street_name: &str, zone: Option<&str>| CommunityRecord {
            community_code: code.into(),
            community_name: name.into(),
            street_code: code[..9].into(),
            street_name: street_name.into(),
            district_code: code[..6].into(),
            functional_zone: zone.map(str::to_owned),
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        };
        let divisions = DivisionTable::builtin().with_communities([
            row("110108012001", "二里庄社区", "学院路街道", None),
            row("110108012002", "石板房社区", "学院路街道", None),
            row("110108013001", "石板房社区", "清河街道", None),
            row(
                "110115001001",
                "荣华社区",
                "荣华街道",
                Some("北京经济技术开发区"),
            ),
            row("500236001001", "永安社区", "永安街道", None),
        ]);
        let hasher = CallerHasher::new(b"normalise-test-key-0123456789").unwrap();
        Normaliser::new(divisions, Some(hasher))
    }

    fn division(district: &str, street: &str, community: &str) -> Vec<(&'static str, Value)> {
        let city = if district.starts_with("50") {
            "500000"
        } else if district.starts_with("33") {
            "330100"
        } else {
            "110000"
        };
        vec![
            ("city_code", city.into()),
            ("district_code", district.into()),
            ("street_code", street.into()),
            ("community_code", community.into()),
        ]
    }

    #[test]
    fn a_chongqing_county_event_lands() {
        // 500236 奉节县 was missing from division table mca-2024 (unknown_district).
        for ctx in [builtin(), with_reference()] {
            let payload = example(
                "hotline_ticket--surveyed",
                &division("500236", "500236001", "500236001001"),
            );
            let row = land::<HotlineTicket>(&ctx, &payload).unwrap();
            assert_eq!(
                (row.district_code.as_str(), row.district_name.as_str()),
                ("500236", "奉节县")
            );
            assert_eq!(row.city_code, "500000");
        }
        let payload = example(
            "facility_change--created",
            &division("500243", "500243001", "500243001001"),
        );
        let row = land::<FacilityChange>(&builtin(), &payload).unwrap();
        assert_eq!(
            (row.district_code.as_str(), row.district_name.as_str()),
            ("500243", "彭水苗族土家族自治县")
        );
    }

    #[test]
    fn a_moved_street_moves_the_event_and_keeps_its_code() {
        let mut fields = division("330110", "330110001", "330110001001");
        fields.push(("street_name", "临平街道".into()));
        let payload = example("renovation_progress--declared-yuan", &fields);
        let row = land::<RenovationProgress>(&builtin(), &payload).unwrap();
        assert_eq!(
            (
                row.district_code.as_str(),
                row.district.as_str(),
                row.district_name.as_str()
            ),
            ("330113", "330113", "临平区")
        );
        assert_eq!(row.street_code.as_deref(), Some("330110001"));
        assert_eq!(row.community_code.as_deref(), Some("330110001001"));
        // 江干's 下沙 goes to 钱塘, its other streets to 上城.
        let mut fields = division("330104", "330104002", "330104002001");
        fields.push(("street_name", "下沙街道".into()));
        let row = land::<HotlineTicket>(&builtin(), &example("hotline_ticket--surveyed", &fields))
            .unwrap();
        assert_eq!(row.district_code, "330114");
        let mut fields = division("330104", "330104003", "330104003001");
        fields.push(("street_name", "凯旋街道".into()));
        let row = land::<HotlineTicket>(&builtin(), &example("hotline_ticket--surveyed", &fields))
            .unwrap();
        assert_eq!(row.district_code, "330102");
    }

    #[test]
    fn names_only_resolve_through_the_reference() {
        let names = |street: Option<&str>, community: &str| {
            vec![
                ("city_code", "110000".into()),
                ("district_code", "110108".into()),
                ("street_code", Value::Null),
                ("community_code", Value::Null),
                ("street_name", street.map_or(Value::Null, Into::into)),
                ("community_name", community.into()),
            ]
        };
        let ctx = with_reference();
        // A facility sent with names only lands with both codes.
        let payload = example("facility_change--created", &names(None, "二里庄"));
        let row = land::<FacilityChange>(&ctx, &payload).unwrap();
        assert_eq!(row.community_code.as_deref(), Some("110108012001"));
        assert_eq!(row.street_code.as_deref(), Some("110108012"));
        assert_eq!(row.community_name.as_deref(), Some("二里庄"));
        // An empty code counts as absent.
        let mut f = names(Some("清河街道"), "石板房社区");
        f.push(("community_code", "".into()));
        let row = land::<FacilityChange>(&ctx, &example("facility_change--created", &f)).unwrap();
        assert_eq!(row.community_code.as_deref(), Some("110108013001"));
        // Ambiguous and unknown names: facility and renovation events are dead-lettered …
        for (name, problem) in [
            ("石板房社区", "matches 2 communities"),
            ("无名社区", "matches no community"),
        ] {
            let payload = example("facility_change--created", &names(None, name));
            let r = land::<FacilityChange>(&ctx, &payload).unwrap_err();
            assert_eq!(r.class, RejectClass::UnresolvedCommunity, "{r}");
            assert!(r.message.contains(problem), "{r}");
            assert!(!r.message.contains(name), "{r}");
            let payload = example("renovation_progress--declared-yuan", &names(None, name));
            let r = land::<RenovationProgress>(&ctx, &payload).unwrap_err();
            assert_eq!(r.class, RejectClass::UnresolvedCommunity, "{r}");
            // … and hotline tickets land without the code.
            let payload = example("hotline_ticket--surveyed", &names(None, name));
            let row = land::<HotlineTicket>(&ctx, &payload).unwrap();
            assert_eq!(row.community_code, None);
            assert_eq!(row.community_name.as_deref(), Some(name));
        }
        // Without the reference, a facility needs its code.
        let payload = example("facility_change--created", &names(None, "二里庄"));
        let r = land::<FacilityChange>(&builtin(), &payload).unwrap_err();
        assert_eq!(r.class, RejectClass::MissingField, "{r}");
        // With it, community codes it does not list are refused.
        let payload = example(
            "hotline_ticket--surveyed",
            &division("110108", "110108012", "110108012077"),
        );
        let r = land::<HotlineTicket>(&ctx, &payload).unwrap_err();
        assert_eq!(r.class, RejectClass::InvalidDivisionCode, "{r}");
        assert!(land::<HotlineTicket>(&builtin(), &payload).is_ok());
    }

    #[test]
    fn functional_zones_land_in_their_gb_district_or_are_dead_lettered() {
        let zone = |district: &str, street: Option<&str>, community_name: Option<&str>| {
            let fields = [
                ("city_code", "110000".into()),
                ("district_code", district.into()),
                ("district_name", "北京经济技术开发区".into()),
                ("street_code", street.map_or(Value::Null, Into::into)),
                ("community_code", Value::Null),
                ("street_name", Value::Null),
                (
                    "community_name",
                    community_name.map_or(Value::Null, Into::into),
                ),
            ];
            example("hotline_ticket--surveyed", &fields)
        };
        let row =
            land::<HotlineTicket>(&builtin(), &zone("11E001", Some("110115001"), None)).unwrap();
        assert_eq!(
            (row.district_code.as_str(), row.district_name.as_str()),
            ("110115", "大兴区")
        );
        let row = land::<HotlineTicket>(&with_reference(), &zone("经开区", None, Some("荣华社区")))
            .unwrap();
        assert_eq!(row.district_code, "110115");
        assert_eq!(row.community_code.as_deref(), Some("110115001001"));
        let r = land::<HotlineTicket>(&with_reference(), &zone("", None, Some("二里庄社区")))
            .unwrap_err();
        assert_eq!(r.class, RejectClass::UnplacedFunctionalZone, "{r}");
        assert!(r.message.contains("北京经济技术开发区"), "{r}");
    }
}
