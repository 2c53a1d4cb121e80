//! Every example under `schemas/examples/valid/` decodes and normalises; every example under
//! `schemas/examples/invalid/` is rejected for the class its file name gives
//! (`<schema>--<class>--<what>.json`); the committed JSON Schemas equal the generated ones.

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

/// Decodes `bytes` as the stream named `schema`; `Ok(())` when it lands.
fn decode_as(schema: &str, bytes: &[u8]) -> Result<(), Rejection> {
    let ctx = normaliser();
    let max = LandingSettings::default().max_record_bytes;
    let at = SourcePosition::default();
    match schema {
        "hotline_ticket" => decode::<HotlineTicket>(bytes, max, &ctx, at).map(drop),
        "facility_change" => decode::<FacilityChange>(bytes, max, &ctx, at).map(drop),
        "renovation_progress" => decode::<RenovationProgress>(bytes, max, &ctx, at).map(drop),
        other => panic!("unknown schema {other}"),
    }
}

fn examples(kind: &str) -> Vec<(String, Vec<String>, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(schemas_dir().join("examples").join(kind))
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
}

#[test]
fn every_invalid_example_is_rejected_for_its_class() {
    let invalid = examples("invalid");
    let mut classes = std::collections::BTreeSet::new();
    for (name, parts, bytes) in invalid {
        let expected = RejectClass::parse(&parts[1])
            .unwrap_or_else(|| panic!("{name}: {} is not a reject class", parts[1]));
        let rejection = decode_as(&parts[0], &bytes).expect_err(&name);
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
