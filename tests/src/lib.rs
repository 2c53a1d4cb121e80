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

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
