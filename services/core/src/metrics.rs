//! Prometheus metrics of a landing service and the HTTP endpoint serving them with `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::reject::RejectClass;

/// Label of a dead-letter counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    /// The reject class.
    pub class: String,
}

/// Label of a per-partition gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// The Kafka partition.
    pub partition: String,
}

/// The metrics a landing service exports.
pub struct Metrics {
    registry: Registry,
    /// Records read from Kafka.
    pub consumed: Counter,
    /// Rows committed to the lake.
    pub landed: Counter,
    /// Records sent to the dead-letter topic, by class.
    pub dead_lettered: Family<ClassLabel, Counter>,
    /// Parquet files committed.
    pub files_committed: Counter,
    /// Delta commits made.
    pub commits: Counter,
    /// Commits abandoned because another instance had advanced the offsets.
    pub stale_commits: Counter,
    /// Seconds from the start of a flush to its commit.
    pub commit_latency: Histogram,
    /// Consumer lag per partition, from librdkafka statistics.
    pub lag: Family<PartitionLabel, Gauge>,
    healthy: AtomicBool,
}

impl Metrics {
    /// Metrics registered under `prefix` (e.g. `civicpulse_ingest`), labelled with the service.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "civicpulse",
            [("service".into(), service.to_owned().into())].into_iter(),
        );
        let this = Self {
            registry: Registry::default(),
            consumed: Counter::default(),
            landed: Counter::default(),
            dead_lettered: Family::default(),
            files_committed: Counter::default(),
            commits: Counter::default(),
            stale_commits: Counter::default(),
            commit_latency: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            lag: Family::default(),
            healthy: AtomicBool::new(false),
        };
        registry.register(
            "records_consumed",
            "Records read from Kafka",
            this.consumed.clone(),
        );
        registry.register(
            "rows_landed",
            "Rows committed to the lake",
            this.landed.clone(),
        );
        registry.register(
            "records_dead_lettered",
            "Records sent to the dead-letter topic, by class",
            this.dead_lettered.clone(),
        );
        registry.register(
            "files_committed",
            "Parquet files committed",
            this.files_committed.clone(),
        );
        registry.register("commits", "Delta commits made", this.commits.clone());
        registry.register(
            "stale_commits",
            "Commits abandoned because another instance advanced the offsets first",
            this.stale_commits.clone(),
        );
        registry.register(
            "commit_latency_seconds",
            "Seconds from the start of a flush to its commit",
            this.commit_latency.clone(),
        );
        registry.register(
            "consumer_lag",
            "Consumer lag per partition",
            this.lag.clone(),
        );
        // Every class shows from the start (as 0), so alerts can watch each one.
        for class in RejectClass::ALL {
            drop(this.dead_lettered.get_or_create(&ClassLabel {
                class: class.as_str().into(),
            }));
        }
        Self { registry, ..this }
    }

    /// Counts a dead-lettered record.
    pub fn dead_letter(&self, class: RejectClass) {
        self.dead_lettered
            .get_or_create(&ClassLabel {
                class: class.as_str().into(),
            })
            .inc();
    }

    /// Sets the lag of one partition.
    pub fn set_lag(&self, partition: i32, lag: i64) {
        self.lag
            .get_or_create(&PartitionLabel {
                partition: partition.to_string(),
            })
            .set(lag);
    }

    /// Marks the service healthy (consuming) or not.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let m = metrics.clone();
    let app = axum::Router::new()
        .route("/metrics", get(move || async move { m.encode() }))
        .route(
            "/healthz",
            get(move || async move {
                if metrics.healthy.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    axum::serve(listener, app).await
}
