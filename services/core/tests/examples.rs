//! Every example under `schemas/examples/valid/` decodes and normalises; every example under
//! `schemas/examples/invalid/` is rejected for the class its file name gives
//! (`<schema>--<class>--<what>.json`); the same under `schemas/examples/with-reference/` with its
//! `communities.csv` as the communities reference; the committed JSON Schemas equal the
//! generated ones.

use std::path::{Path, PathBuf};

use civicpulse_core::decode::decode;
use civicpulse_core::division::DivisionTable;
use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;
use civicpulse_core::reject::{RejectClass, Rejection};
use civicpulse_core::settings::LandingSettings;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn normaliser() -> Normaliser {
    let hasher = CallerHasher::new(b"example-test-key-0123456789").unwrap();
    Normaliser::new(DivisionTable::builtin(), Some(hasher))
}

/// The division table with `schemas/examples/with-reference/communities.csv` as the lake's
/// `communities` reference.
fn normaliser_with_reference() -> Normaliser {
    use civicpulse_core::reference::{self, ReferenceTable};
    let path = schemas_dir().join("examples/with-reference/communities.csv");
    let divisions = DivisionTable::builtin();
    let batch = reference::read_file(ReferenceTable::Communities, &path, &divisions).unwrap();
    let records = civicpulse_core::service::community_records(&batch);
    assert_eq!(records.len(), batch.num_rows());
    let hasher = CallerHasher::new(b"example-test-key-0123456789").unwrap();
    Normaliser::new(divisions.with_communities(records), Some(hasher))
}

/// Decodes `bytes` as the stream named `schema`; `Ok(())` when it lands.
fn decode_as(schema: &str, bytes: &[u8]) -> Result<(), Rejection> {
    decode_with(&normaliser(), schema, bytes)
}

fn decode_with(ctx: &Normaliser, schema: &str, bytes: &[u8]) -> Result<(), Rejection> {
    let max = LandingSettings::default().max_record_bytes;
    let at = SourcePosition::default();
    match schema {
        "hotline_ticket" => decode::<HotlineTicket>(bytes, max, ctx, at).map(drop),
        "facility_change" => decode::<FacilityChange>(bytes, max, ctx, at).map(drop),
        "renovation_progress" => decode::<RenovationProgress>(bytes, max, ctx, at).map(drop),
        other => panic!("unknown schema {other}"),
    }
}

/// The examples under `schemas/examples/<dir>`: name, name parts, bytes.
fn examples(dir: &str) -> Vec<(String, Vec<String>, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(schemas_dir().join("examples").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let parts = name.split("--").map(str::to_owned).collect();
            (name, parts, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_valid_example_lands() {
    let valid = examples("valid");
    assert!(valid.len() >= 3);
    for (name, parts, bytes) in valid {
        decode_as(&parts[0], &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let ctx = normaliser_with_reference();
    let valid = examples("with-reference/valid");
    assert!(valid.len() >= 2);
    for (name, parts, bytes) in valid {
        decode_with(&ctx, &parts[0], &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_invalid_example_is_rejected_for_its_class() {
    let plain = normaliser();
    let with_reference = normaliser_with_reference();
    let invalid = examples("invalid").into_iter().map(|e| (&plain, e)).chain(
        examples("with-reference/invalid")
            .into_iter()
            .map(|e| (&with_reference, e)),
    );
    let mut classes = std::collections::BTreeSet::new();
    for (ctx, (name, parts, bytes)) in invalid {
        let expected = RejectClass::parse(&parts[1])
            .unwrap_or_else(|| panic!("{name}: {} is not a reject class", parts[1]));
        let rejection = decode_with(ctx, &parts[0], &bytes).expect_err(&name);
        assert_eq!(rejection.class, expected, "{name}: {rejection}");
        assert!(!rejection.message.is_empty());
        classes.insert(expected);
    }
    // Every class decided by decoding has an example (`unwritable` is the writer's, tested
    // end to end in tests/tests/hostile_feed.rs).
    assert_eq!(classes.len(), RejectClass::ALL.len() - 1, "{classes:?}");
    assert!(!classes.contains(&RejectClass::Unwritable));
}

#[test]
fn names_resolve_and_zones_are_placed_with_the_reference() {
    let ctx = normaliser_with_reference();
    let dir = schemas_dir().join("examples/with-reference/valid");
    let bytes = std::fs::read(dir.join("facility_change--names-only.json")).unwrap();
    let row = decode::<FacilityChange>(&bytes, 1 << 20, &ctx, SourcePosition::default()).unwrap();
    assert_eq!(row.street_code.as_deref(), Some("110108012"));
    assert_eq!(row.community_code.as_deref(), Some("110108012001"));
    let bytes =
        std::fs::read(dir.join("hotline_ticket--functional-zone-by-community-name.json")).unwrap();
    let row = decode::<HotlineTicket>(&bytes, 1 << 20, &ctx, SourcePosition::default()).unwrap();
    assert_eq!(row.district, "110115");
    assert_eq!(row.community_code.as_deref(), Some("110115001001"));
    // Without the reference the same names-only facility has no community.
    let bytes = std::fs::read(dir.join("facility_change--names-only.json")).unwrap();
    assert_eq!(
        decode_as("facility_change", &bytes).unwrap_err().class,
        RejectClass::MissingField
    );
}

#[test]
fn rejections_name_the_field() {
    let bytes = std::fs::read(schemas_dir().join(
        "examples/invalid/hotline_ticket--schema_violation.wrong_type--version-as-text.json",
    ))
    .unwrap();
    let rejection = decode_as("hotline_ticket", &bytes).unwrap_err();
    assert!(rejection.message.contains("ticket_version"), "{rejection}");
}

#[test]
fn personal_data_never_lands_in_clear() {
    let bytes =
        std::fs::read(schemas_dir().join("examples/valid/hotline_ticket--surveyed.json")).unwrap();
    let row =
        decode::<HotlineTicket>(&bytes, 1 << 20, &normaliser(), SourcePosition::default()).unwrap();
    let debug = format!("{row:?}");
    assert!(!debug.contains("13800138000"), "{debug}");
    assert!(!debug.contains("0013-8000"), "{debug}");
    assert!(!debug.contains("张先生\""), "{debug}");
    assert_eq!(row.caller_hash.as_ref().map(String::len), Some(64));
    assert!(row.content.unwrap().contains("138****8000"));
}

#[test]
fn money_lands_in_yuan_and_retired_codes_are_mapped() {
    let dir = schemas_dir().join("examples/valid");
    let bytes = std::fs::read(dir.join("renovation_progress--completed-wanyuan.json")).unwrap();
    let row =
        decode::<RenovationProgress>(&bytes, 1 << 20, &normaliser(), SourcePosition::default())
            .unwrap();
    assert_eq!(row.investment_planned_yuan.unwrap().0, 85_000_000); // 85 万元 in fen
    assert_eq!(row.investment_completed_cum_yuan.unwrap().0, 83_200_000);
    assert_eq!(row.amount_unit_raw.as_deref(), Some("万元"));
    assert_eq!(row.month, "2024-09");
    assert_eq!(row.district, "500103");

    let bytes = std::fs::read(dir.join("hotline_ticket--retired-district-code.json")).unwrap();
    let row =
        decode::<HotlineTicket>(&bytes, 1 << 20, &normaliser(), SourcePosition::default()).unwrap();
    assert_eq!(row.district, "330105");
    assert_eq!(row.district_name, "拱墅区");
}

#[test]
fn event_dates_are_shanghai_dates() {
    // 2024-05-06 10:21 local (no offset) is 02:21 UTC, still 2024-05-06 in Shanghai.
    let dir = schemas_dir().join("examples/valid");
    let bytes = std::fs::read(dir.join("hotline_ticket--created-minimal-local-time.json")).unwrap();
    let row =
        decode::<HotlineTicket>(&bytes, 1 << 20, &normaliser(), SourcePosition::default()).unwrap();
    assert_eq!(row.event_date.to_naive().to_string(), "2024-05-06");
    assert_eq!(
        row.event_time.to_utc().to_rfc3339(),
        "2024-05-06T02:21:00+00:00"
    );
}

#[test]
fn committed_schemas_equal_generated() {
    for (file, text) in civicpulse_core::schema::all() {
        let path = schemas_dir().join(&file);
        if std::env::var_os("CIVICPULSE_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{file} differs from the code: run `CIVICPULSE_BLESS=1 cargo test -p civicpulse-core --test examples` and commit"
        );
    }
}

#[test]
fn schemas_list_required_fields_and_enums() {
    let schema = civicpulse_core::schema::json_schema::<HotlineTicket>();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "event_id",
        "district_code",
        "ticket_id",
        "received_time",
        "status",
    ] {
        assert!(required.contains(&field), "{field} not required");
    }
    assert!(!required.contains(&"community_code"));
    let text = schema.to_string();
    assert!(text.contains("\"hotline.ticket_surveyed\""));
    assert!(text.contains("\"basic\""));
    let _ = HotlineTicket::TOPIC;
}
