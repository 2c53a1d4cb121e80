//! `hotline-ingest`: lands topic `hotline.tickets` into `<lake>/hotline_tickets` exactly once.
//! Caller phone numbers are replaced by a keyed hash: `CIVICPULSE_HASH_KEY` must be set.

use civicpulse_core::event::hotline::HotlineTicket;

fn main() -> std::process::ExitCode {
    civicpulse_core::service::ingest_main::<HotlineTicket>("hotline-ingest", "127.0.0.1:9101")
}
