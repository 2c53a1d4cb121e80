//! # citysim
//!
//! A simulated city's complete-community (完整社区) programme that emits the three civicpulse
//! event streams — 12345 hotline tickets, facility registry changes and renovation progress —
//! in the raw event types of `civicpulse-core`, plus a ground truth of the headline KPIs the
//! events imply.
//!
//! ```text
//! City::build ──► renovation::Plan ──┬─► RenovationGen ─┐
//!                                    └─► HotlineGen ────┼─► Simulation (windows, merge,
//!                facility::plan ─────────► FacilityGen ─┘    invalid records) ─► Sink
//!                                                                         └─► GroundTruth
//! ```
//!
//! Generation is deterministic: every (stream, district) pair draws from its own seeded ChaCha
//! stream and ids come from hashes of stable identifiers, so generators run in parallel and
//! the same seed and arguments give byte-identical output.
#![warn(missing_docs)]

pub mod bad;
pub mod city;
pub mod clock;
pub mod emit;
pub mod facility;
pub mod hotline;
pub mod json;
pub mod lake_sink;
pub mod names;
pub mod profile;
pub mod reference;
pub mod renovation;
pub mod rng;
pub mod sim;
pub mod sink;
pub mod truth;

pub use emit::Topic;
pub use lake_sink::LakeSink;
pub use sim::{Observer, SimConfig, Simulation};
pub use sink::{JsonlSink, KafkaSink, MemorySink, NullSink, Record, RecordKind, Sink, SinkError};
pub use truth::GroundTruth;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The arguments describe no valid run.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An event could not be serialised (a bug).
    #[error("cannot serialise an event: {0}")]
    Json(#[from] serde_json::Error),
    /// An event could not be written as JSON (a bug).
    #[error("cannot write an event: {0}")]
    Write(#[from] json::JsonError),
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
