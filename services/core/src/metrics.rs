//! Prometheus metrics of a landing service and the HTTP endpoint serving them with `/healthz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Records isolated by bisecting a batch the writer refused (also counted by class).
    pub bisections: Counter,
    /// Whether the landing loop makes progress, for `/healthz`.
    pub liveness: Liveness,
    healthy: AtomicBool,
}

/// What `/healthz` judges the landing loop by: how long its current step (handling a record,
/// writing and committing a batch) has run, and whether records wait while it waits for them.
#[derive(Debug)]
pub struct Liveness {
    origin: Instant,
    /// Milliseconds since `origin` when the current step began; 0 while waiting for records.
    busy_since_ms: AtomicU64,
    /// Milliseconds since `origin` of the last record read or batch committed.
    progress_ms: AtomicU64,
    /// Records each partition holds beyond what the loop has read, from librdkafka statistics.
    waiting: Mutex<BTreeMap<i32, i64>>,
    stall_timeout_ms: AtomicU64,
}

/// The landing loop's health as `/healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not landing yet (or any more).
    Starting,
    /// Making progress, or idle with nothing to read.
    Ok,
    /// No progress for longer than the stall timeout while records wait; the reason says which.
    Stalled(String),
}

impl Liveness {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            busy_since_ms: AtomicU64::new(0),
            progress_ms: AtomicU64::new(0),
            waiting: Mutex::default(),
            stall_timeout_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        // Never 0, which means "not busy".
        (self.origin.elapsed().as_millis() as u64).max(1)
    }

    /// Sets how long the loop may make no progress while records wait.
    pub fn set_stall_timeout(&self, timeout: Duration) {
        self.stall_timeout_ms.store(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The loop started a step (a record or a flush).
    pub fn busy(&self) {
        self.busy_since_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The loop finished a step and made progress (read a record, committed a batch).
    pub fn progressed(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        self.busy_since_ms.store(0, Ordering::Relaxed);
    }

    /// Records partition `partition` holds beyond the loop's position.
    pub fn set_waiting(&self, partition: i32, records: i64) {
        self.waiting
            .lock()
            .expect("lock")
            .insert(partition, records.max(0));
    }

    /// Forgets partitions no longer assigned.
    pub fn forget(&self, partition: i32) {
        self.waiting.lock().expect("lock").remove(&partition);
    }

    /// The health at this moment.
    pub fn health(&self, running: bool) -> Health {
        if !running {
            return Health::Starting;
        }
        let now = self.now_ms();
        let timeout = self.stall_timeout_ms.load(Ordering::Relaxed);
        let busy_since = self.busy_since_ms.load(Ordering::Relaxed);
        if busy_since != 0 && now.saturating_sub(busy_since) > timeout {
            return Health::Stalled(format!(
                "stalled: one landing step (a record or a batch write and commit) has run for {} s",
                (now - busy_since) / 1000
            ));
        }
        let waiting: i64 = self.waiting.lock().expect("lock").values().sum();
        let idle = now.saturating_sub(self.progress_ms.load(Ordering::Relaxed));
        if busy_since == 0 && waiting > 0 && idle > timeout {
            return Health::Stalled(format!(
                "stalled: {waiting} records wait but none was read or committed for {} s",
                idle / 1000
            ));
        }
        Health::Ok
    }
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
            bisections: Counter::default(),
            liveness: Liveness::new(),
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
        registry.register(
            "batch_bisections",
            "Batches the writer refused that were bisected to isolate unwritable records",
            this.bisections.clone(),
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

    /// The landing loop's health.
    pub fn health(&self) -> Health {
        self.liveness.health(self.healthy.load(Ordering::Relaxed))
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
                match metrics.health() {
                    Health::Ok => (StatusCode::OK, "ok".to_owned()),
                    Health::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting".to_owned()),
                    Health::Stalled(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_hangs_is_a_stall() {
        let l = Liveness::new();
        l.set_stall_timeout(Duration::from_millis(50));
        assert_eq!(l.health(false), Health::Starting);
        l.progressed();
        assert_eq!(l.health(true), Health::Ok);
        l.busy();
        std::thread::sleep(Duration::from_millis(120));
        assert!(matches!(l.health(true), Health::Stalled(r) if r.contains("landing step")));
        l.progressed();
        assert_eq!(l.health(true), Health::Ok);
    }

    #[test]
    fn idle_is_healthy_only_while_nothing_waits() {
        let l = Liveness::new();
        l.set_stall_timeout(Duration::from_millis(50));
        l.progressed();
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(l.health(true), Health::Ok, "idle with nothing to read");
        l.set_waiting(0, 10);
        assert!(matches!(l.health(true), Health::Stalled(r) if r.contains("10 records wait")));
        l.forget(0);
        assert_eq!(l.health(true), Health::Ok);
    }
}
