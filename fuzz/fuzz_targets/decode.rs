//! Any bytes through decode → validate → normalise → partition path of the three streams.
//!
//! Invariants: never a panic; a row that lands has a district from the division table, a month
//! `YYYY-MM` within the years normalisation allows, a partition path that stays inside the
//! lake, and free text that holds no mobile number (in any written form) and not the caller's
//! name. An input starting with byte 0xFF (never valid UTF-8, so never a record) is split on
//! 0x00 into a hotline ticket's content, caller name, caller phone, event time and district
//! code, set into a valid example, so the masker and the time bounds are fuzzed past the parser.
#![no_main]

use std::path::{Component, Path};
use std::sync::LazyLock;

use civicpulse_core::decode::decode;
use civicpulse_core::division::DivisionTable;
use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;
use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;

/// Years of the event month that normalisation lets through (event times in 2000..=2100 UTC;
/// the Asia/Shanghai month of the last hours of 2100 is in 2101).
const MONTH_YEARS: std::ops::RangeInclusive<i32> = 2000..=2101;

static CTX: LazyLock<Normaliser> = LazyLock::new(|| {
    let hasher = CallerHasher::new(b"fuzz-key-0123456789abcdef").expect("key");
    Normaliser::new(DivisionTable::builtin(), Some(hasher))
});

const HOTLINE_EXAMPLE: &str =
    include_str!("../../schemas/examples/valid/hotline_ticket--surveyed.json");

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0xFF, rest)) => structured_hotline(rest),
        _ => {
            if let Some(row) = land::<HotlineTicket>(data) {
                check_hotline(&row, None);
            }
            if let Some(row) = land::<FacilityChange>(data) {
                check_partition::<FacilityChange>(&row.district, &row.month);
                check_text(row.address.as_deref());
            }
            if let Some(row) = land::<RenovationProgress>(data) {
                check_partition::<RenovationProgress>(&row.district, &row.month);
                check_text(row.remarks.as_deref());
            }
        }
    }
});

fn land<E: Event>(data: &[u8]) -> Option<E::Row> {
    decode::<E>(data, 1 << 20, &CTX, SourcePosition::default()).ok()
}

fn structured_hotline(rest: &[u8]) {
    let mut parts = rest.split(|&b| b == 0).map(String::from_utf8_lossy);
    let mut event: serde_json::Value = serde_json::from_str(HOTLINE_EXAMPLE).expect("example");
    for field in [
        "content",
        "caller_name",
        "caller_phone",
        "event_time",
        "district_code",
    ] {
        if let Some(value) = parts.next() {
            event[field] = serde_json::Value::String(value.into_owned());
        }
    }
    let name = event["caller_name"].as_str().map(str::to_owned);
    let payload = serde_json::to_vec(&event).expect("JSON");
    if let Some(row) = land::<HotlineTicket>(&payload) {
        check_hotline(&row, name.as_deref());
    }
}

fn check_hotline(row: &<HotlineTicket as Event>::Row, caller_name: Option<&str>) {
    check_partition::<HotlineTicket>(&row.district, &row.month);
    let texts = [&row.title, &row.content, &row.location_text, &row.reply_text];
    let tags = row.tags.iter().flatten().map(Some);
    for text in texts.into_iter().map(Option::as_ref).chain(tags) {
        let text = text.map(String::as_str);
        check_text(text);
        if let (Some(text), Some(name)) = (text, caller_name) {
            // A Chinese name of two or more characters is replaced by surname + 某 (one
            // containing 某 could be rebuilt by its own replacement).
            let chinese = name.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            if chinese && name.chars().count() >= 2 && !name.contains('某') {
                assert!(!text.contains(name), "caller name {name:?} in {text:?}");
            }
        }
    }
}

fn check_partition<E: Event>(district: &str, month: &str) {
    assert!(
        CTX.divisions().district(district).is_some(),
        "district {district:?}"
    );
    let b = month.as_bytes();
    let shaped = b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit);
    assert!(shaped, "month {month:?}");
    let year: i32 = month[..4].parse().expect("digits");
    let m: u32 = month[5..].parse().expect("digits");
    assert!(MONTH_YEARS.contains(&year) && (1..=12).contains(&m), "month {month:?}");
    let root = Path::new("/lake");
    let path = root
        .join(E::TABLE)
        .join(format!("district={district}"))
        .join(format!("month={month}"));
    assert!(
        path.starts_with(root)
            && path.components().count() == 5
            && path.components().skip(2).all(|c| matches!(c, Component::Normal(_))),
        "partition path {path:?}"
    );
}

/// No run of whole digit groups joined by single separators (after NFKC) in `text` is a
/// mobile number, with or without `0`, `86` or `0086` before it.
fn check_text(text: Option<&str>) {
    let Some(text) = text else { return };
    let folded: Vec<char> = text.nfkc().collect();
    let mut chain: Vec<String> = Vec::new();
    let mut i = 0;
    while i <= folded.len() {
        let group_start = i;
        while i < folded.len() && folded[i].is_ascii_digit() {
            i += 1;
        }
        if i > group_start {
            chain.push(folded[group_start..i].iter().collect());
            let joined = i + 1 < folded.len()
                && matches!(folded[i], ' ' | '.' | '-')
                && folded[i + 1].is_ascii_digit();
            if joined {
                i += 1;
                continue;
            }
        }
        check_chain(&chain, text);
        chain.clear();
        i += 1;
    }
}

fn check_chain(chain: &[String], text: &str) {
    let mobile = |d: &str| {
        let b = d.as_bytes();
        b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
    };
    for start in 0..chain.len() {
        let mut d = String::new();
        for group in &chain[start..] {
            d.push_str(group);
            if d.len() > 15 {
                break;
            }
            let found = mobile(&d)
                || ["0", "86", "0086"]
                    .iter()
                    .any(|p| d.strip_prefix(p).is_some_and(mobile));
            assert!(!found, "mobile number {d} left in {text:?}");
        }
    }
}
