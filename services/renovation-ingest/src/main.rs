//! `renovation-ingest`: lands topic `renovation.progress` into `<lake>/renovation_progress`
//! exactly once. Amounts sent in 万元 or 亿元 land in yuan.

use civicpulse_core::event::renovation::RenovationProgress;

fn main() -> std::process::ExitCode {
    civicpulse_core::service::ingest_main::<RenovationProgress>(
        "renovation-ingest",
        "127.0.0.1:9103",
    )
}
