//! Helpers shared by the citysim integration tests.
#![allow(dead_code)]

use std::sync::atomic::AtomicBool;

use chrono::NaiveDate;
use citysim::clock::Period;
use citysim::sim::Quiet;
use citysim::{GroundTruth, SimConfig, Simulation, Sink, Topic};
use civicpulse_core::decode::decode;
use civicpulse_core::division::DivisionTable;
use civicpulse_core::event::facility::{FacilityChange, FacilityChangeRow};
use civicpulse_core::event::hotline::{HotlineTicket, HotlineTicketRow};
use civicpulse_core::event::renovation::{RenovationProgress, RenovationProgressRow};
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;
use civicpulse_core::reject::Rejection;
use civicpulse_core::settings::LandingSettings;

/// The period `from..=to` (`YYYY-MM-DD`).
pub fn period(from: &str, to: &str) -> Period {
    Period {
        from: NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
        to: NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap(),
    }
}

/// A configuration of `city` (by name).
pub fn config(city: &str, from: &str, to: &str, scale: f64, seed: u64) -> SimConfig {
    SimConfig::new(
        citysim::profile::city(city).unwrap(),
        period(from, to),
        scale,
        seed,
    )
}

/// Runs `config` into `sink`.
pub fn run(config: SimConfig, sink: &mut dyn Sink) -> GroundTruth {
    let mut sim = Simulation::new(config).unwrap();
    sim.run(sink, &mut Quiet, &AtomicBool::new(false)).unwrap()
}

/// The ingest services' normaliser: built-in division table, a caller hash key.
pub fn normaliser() -> Normaliser {
    let hasher = CallerHasher::new(b"citysim-test-key-0123456789").unwrap();
    Normaliser::new(DivisionTable::builtin(), Some(hasher))
}

/// A landed row of any stream.
pub enum Row {
    Hotline(Box<HotlineTicketRow>),
    Facility(Box<FacilityChangeRow>),
    Renovation(Box<RenovationProgressRow>),
}

/// Decodes and normalises `bytes` exactly as the ingest service of `topic` does.
pub fn land(ctx: &Normaliser, topic: Topic, bytes: &[u8]) -> Result<Row, Rejection> {
    let max = LandingSettings::default().max_record_bytes;
    let at = SourcePosition::default();
    Ok(match topic {
        Topic::Hotline => Row::Hotline(Box::new(decode::<HotlineTicket>(bytes, max, ctx, at)?)),
        Topic::Facility => Row::Facility(Box::new(decode::<FacilityChange>(bytes, max, ctx, at)?)),
        Topic::Renovation => {
            Row::Renovation(Box::new(decode::<RenovationProgress>(bytes, max, ctx, at)?))
        }
    })
}
