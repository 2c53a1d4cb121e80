//! # civicpulse-core
//!
//! What every civicpulse service shares: configuration, telemetry, Kafka clients, event decoding
//! and normalisation, the Delta Lake layout and the exactly-once landing engine.
#![warn(missing_docs)]

pub mod decode;
pub mod division;
pub mod event;
pub mod geo;
#[cfg(feature = "runtime")]
pub mod kafka;
#[cfg(feature = "runtime")]
pub mod lake;
#[cfg(feature = "runtime")]
pub mod landing;
#[cfg(feature = "runtime")]
pub mod metrics;
pub mod normalise;
pub mod pii;
#[cfg(feature = "runtime")]
pub mod reference;
pub mod reject;
pub mod row;
pub mod schema;
pub mod secret;
#[cfg(feature = "runtime")]
pub mod service;
#[cfg(feature = "runtime")]
pub mod settings;
#[cfg(feature = "runtime")]
pub mod telemetry;
