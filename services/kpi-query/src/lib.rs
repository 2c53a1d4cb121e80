//! kpi-query: the civicpulse KPI catalogue in SQL over the lake, served read-only over HTTP
//! and the PostgreSQL wire protocol.
//!
//! - [`lake`]: the lake's Delta tables as DataFusion tables that are current at every query,
//!   or as of a past time;
//! - [`state`]: the state tables, read at the event-table version they have applied;
//! - [`catalog`]: the views and KPIs of `sql/`;
//! - [`engine`]: DataFusion with the catalogue, run read-only within limits;
//! - [`http`] and [`pg`]: the two ways in.

pub mod bounded;
pub mod catalog;
pub mod coop;
pub mod date_trunc;
pub mod engine;
pub mod format;
pub mod guard;
pub mod http;
pub mod lake;
pub mod pg;
pub mod reference;
pub mod settings;
pub mod state;
pub mod wrapped;

pub use catalog::{Grain, Kpi, KpiCatalog, KpiParams};
pub use engine::{QueryEngine, QueryError, QueryLimits, QueryStream};
pub use lake::LakeOptions;
pub use settings::{QueryServiceSettings, QuerySettings};
