//! # civicpulse-core
//!
//! What every civicpulse service shares: configuration, telemetry, Kafka clients, event decoding
//! and normalisation, the Delta Lake layout and the exactly-once landing engine.
#![warn(missing_docs)]

pub mod decode;
pub mod division;
pub mod event;
pub mod geo;
pub mod kafka;
pub mod lake;
pub mod landing;
pub mod metrics;
pub mod normalise;
pub mod pii;
pub mod reject;
pub mod row;
pub mod schema;
pub mod secret;
pub mod service;
pub mod settings;
pub mod telemetry;
