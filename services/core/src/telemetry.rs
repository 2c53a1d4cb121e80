//! Logging setup shared by every service.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::TelemetrySettings;

/// Installs the global `tracing` subscriber: human-readable or JSON lines on stderr, filtered by
/// `RUST_LOG` when set, else by `settings.log_level`.
pub fn init(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // delta-rs logs every snapshot load at info: keep it to warnings unless asked for.
        let level = &settings.log_level;
        if level.contains('=') {
            EnvFilter::new(level)
        } else {
            EnvFilter::new(format!("{level},buoyant_kernel=warn,deltalake_core=warn"))
        }
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
