//! # civicpulse
//!
//! The `civicpulse` command line. `civicpulse demo` runs a simulated city through the whole
//! pipeline in one process: an embedded Kafka-protocol broker ([`broker`]), citysim, the three
//! ingest services, the lake, kpi-query and a per-district table of the last week's headline
//! KPIs ([`table`]). `civicpulse land` lands JSONL files of events into a lake without a
//! broker ([`land`]).
#![warn(missing_docs)]

pub mod broker;
pub mod demo;
pub mod land;
pub mod progress;
pub mod report;
pub mod sink;
pub mod table;
