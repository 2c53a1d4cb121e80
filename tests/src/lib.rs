//! # civicpulse-tests
//!
//! The harness of civicpulse's end-to-end tests: a tansu broker run as a separate process on
//! loopback, Kafka helpers, the services run as processes from the workspace's target
//! directory, and a Python second reader of the lake.
#![warn(missing_docs)]

pub mod broker;
pub mod events;
pub mod kafka;
pub mod process;
pub mod python;
pub mod query;
pub mod s3;
pub mod scenario;

use std::path::PathBuf;

/// The workspace root: from the `CARGO_MANIFEST_DIR` cargo sets when it runs a test (and its
/// children inherit), else the one this crate was compiled in. A build shared by two clones
/// of the repository would otherwise read the other clone's files.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A free TCP port on loopback (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A test hash key (the services refuse to start without one).
pub const TEST_HASH_KEY: &str = "civicpulse-test-hash-key-0123456789";

/// Serialises the heavy end-to-end tests of one test binary: two cores run one at a time well.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Now as `YYYY-MM-DDTHH:MM:SS` at a fixed offset from UTC (8 for Asia/Shanghai, which has no
/// daylight saving), from the system clock.
pub fn clock_now(offset_hours: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
        + offset_hours * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now as RFC 3339 in UTC.
pub fn rfc3339_now() -> String {
    format!("{}Z", clock_now(0))
}
