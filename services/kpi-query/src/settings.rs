//! kpi-query's configuration: the `[query]` section besides the shared `[lake]` and
//! `[telemetry]`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use civicpulse_core::settings::{LakeSettings, TelemetrySettings};
use serde::Deserialize;

/// Everything kpi-query reads from configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QueryServiceSettings {
    /// The lake it reads.
    pub lake: LakeSettings,
    /// Logs.
    pub telemetry: TelemetrySettings,
    /// Endpoints, credentials and limits.
    pub query: QuerySettings,
}

/// Endpoints, credentials and limits of kpi-query.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct QuerySettings {
    /// HTTP address (`/sql`, `/kpis`, `/health`, `/metrics`); empty disables HTTP.
    pub http_addr: String,
    /// PostgreSQL wire-protocol address; empty disables it.
    pub pg_addr: String,
    /// Bearer token HTTP clients must send; `CIVICPULSE_QUERY_TOKEN` overrides it. Without
    /// one, the service only starts on a loopback address.
    pub token: Option<String>,
    /// PostgreSQL user name.
    pub pg_user: String,
    /// PostgreSQL password, checked by SCRAM-SHA-256; `CIVICPULSE_QUERY_PASSWORD` overrides
    /// it. Without one, the PostgreSQL port only starts on a loopback address.
    pub password: Option<String>,
    /// PEM certificate chain of the PostgreSQL port; with `tls_key_path`, the port speaks TLS
    /// and refuses plaintext connections.
    pub tls_cert_path: Option<PathBuf>,
    /// PEM private key of `tls_cert_path`.
    pub tls_key_path: Option<PathBuf>,
    /// Time limit of one query, planning to last row.
    pub timeout_secs: u64,
    /// Memory one query may hold in its operators (sorts, joins, aggregations).
    pub memory_limit_bytes: usize,
    /// Queries running at once; more wait up to `queue_timeout_secs`, then are refused.
    pub max_concurrent: usize,
    /// How long a query waits for a free slot.
    pub queue_timeout_secs: u64,
    /// Rows one result may have.
    pub max_rows: usize,
    /// Versions of the hotline's rate weights (table `kpi_weight_versions`).
    pub weights: Vec<WeightVersion>,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            pg_addr: "127.0.0.1:5433".into(),
            token: None,
            pg_user: "civicpulse".into(),
            password: None,
            tls_cert_path: None,
            tls_key_path: None,
            timeout_secs: 30,
            memory_limit_bytes: 4 << 30,
            max_concurrent: 8,
            queue_timeout_secs: 10,
            max_rows: 1_000_000,
            weights: vec![WeightVersion::default()],
        }
    }
}

impl QuerySettings {
    /// `timeout_secs` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// One version of the weights of the three rates (响应率, 解决率, 满意率).
#[derive(Debug, Clone, Deserialize)]
pub struct WeightVersion {
    /// Scheme name; KPIs use `default`.
    pub scheme: String,
    /// First local date the version applies to.
    pub valid_from: NaiveDate,
    /// Weight of the response rate in the composite score.
    pub w_response: f64,
    /// Weight of the resolution rate.
    pub w_resolution: f64,
    /// Weight of the satisfaction rate.
    pub w_satisfaction: f64,
    /// Credit of a "basically satisfied" answer in the satisfaction rate.
    pub basic_credit: f64,
    /// Where the figures come from.
    pub source: String,
    /// Whether they were checked against the city's official evaluation rules.
    #[serde(default)]
    pub verified: bool,
}

impl Default for WeightVersion {
    /// The reference's defaults (10/50/40, k = 0.9), not verified against Beijing's current
    /// evaluation rules (reference.md §6.1).
    fn default() -> Self {
        Self {
            scheme: "default".into(),
            valid_from: NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date"),
            w_response: 0.10,
            w_resolution: 0.50,
            w_satisfaction: 0.40,
            basic_credit: 0.9,
            source: "reference.md §5 K27–K28 defaults (◐ unverified)".into(),
            verified: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn deploy_example_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/civicpulse.toml");
        let s: QueryServiceSettings = civicpulse_core::settings::load_config(Some(&path)).unwrap();
        let (q, d) = (s.query, QuerySettings::default());
        assert_eq!(q.http_addr, d.http_addr);
        assert_eq!(q.pg_addr, d.pg_addr);
        assert_eq!(q.pg_user, d.pg_user);
        assert_eq!(
            (&q.tls_cert_path, &q.tls_key_path),
            (&d.tls_cert_path, &d.tls_key_path)
        );
        assert_eq!(q.timeout_secs, d.timeout_secs);
        assert_eq!(q.memory_limit_bytes, d.memory_limit_bytes);
        assert_eq!(q.max_concurrent, d.max_concurrent);
        assert_eq!(q.queue_timeout_secs, d.queue_timeout_secs);
        assert_eq!(q.max_rows, d.max_rows);
        assert_eq!(q.weights.len(), 1);
        let (w, dw) = (&q.weights[0], &d.weights[0]);
        assert_eq!(
            (
                w.w_response,
                w.w_resolution,
                w.w_satisfaction,
                w.basic_credit
            ),
            (
                dw.w_response,
                dw.w_resolution,
                dw.w_satisfaction,
                dw.basic_credit
            )
        );
        assert_eq!((&w.source, w.verified), (&dw.source, dw.verified));
    }
}
