//! Any bytes through the decode/validate path of the three streams: never a panic, and a row
//! that lands always has a district from the division table.
#![no_main]

use std::sync::LazyLock;

use civicpulse_core::decode::decode;
use civicpulse_core::division::DivisionTable;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;
use libfuzzer_sys::fuzz_target;

static CTX: LazyLock<Normaliser> = LazyLock::new(|| {
    let hasher = CallerHasher::new(b"fuzz-key-0123456789abcdef").expect("key");
    Normaliser::new(DivisionTable::builtin(), Some(hasher))
});

fuzz_target!(|data: &[u8]| {
    let at = SourcePosition::default();
    let divisions = CTX.divisions();
    if let Ok(row) = decode::<HotlineTicket>(data, 1 << 20, &CTX, at) {
        assert!(divisions.district(&row.district).is_some());
    }
    if let Ok(row) = decode::<FacilityChange>(data, 1 << 20, &CTX, at) {
        assert!(divisions.district(&row.district).is_some());
    }
    if let Ok(row) = decode::<RenovationProgress>(data, 1 << 20, &CTX, at) {
        assert!(divisions.district(&row.district).is_some());
    }
});
