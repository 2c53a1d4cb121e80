//! `facility-ingest`: lands topic `facility.changes` into `<lake>/facility_changes` exactly once.

use civicpulse_core::event::facility::FacilityChange;

fn main() -> std::process::ExitCode {
    civicpulse_core::service::ingest_main::<FacilityChange>("facility-ingest", "127.0.0.1:9102")
}
