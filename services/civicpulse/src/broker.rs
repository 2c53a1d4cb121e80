//! The embedded Kafka-protocol broker of the demo: librdkafka's in-process mock cluster.
//!
//! The mock cluster keeps at most [`PARTITION_RETENTION_BYTES`] (and 100,000 batches) per
//! partition and silently drops the oldest batches beyond that (`rd_kafka_mock_partition_init`
//! in librdkafka 2.12). A consumer more than that far behind the producer finds its next
//! offset gone and is reset past the lost records: that is the "stall" seen when a million
//! records are produced ahead of the consumer. [`Backlog`] keeps a producer within
//! [`Backlog::budget_bytes`] of the consumer so nothing is ever dropped; the mock cluster does
//! not implement CreateTopics either, so topics are created through [`EmbeddedBroker`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Bytes of record batches the mock cluster keeps per partition before it drops the oldest.
pub const PARTITION_RETENTION_BYTES: u64 = 5 * 1024 * 1024;

/// Partitions of the demo's topics on the embedded broker: more partitions hold a larger
/// backlog (see [`Backlog`]).
pub const EMBEDDED_PARTITIONS: i32 = 12;

/// A one-broker mock cluster listening on a loopback port; stopped when dropped.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    /// Starts the broker.
    pub fn start() -> Result<Self, KafkaError> {
        Ok(Self {
            cluster: MockCluster::new(1)?,
        })
    }

    /// `bootstrap.servers` of the broker (`127.0.0.1:PORT`).
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates `topic` with `partitions` partitions (the mock has no CreateTopics API).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), KafkaError> {
        self.cluster.create_topic(topic, partitions, 1)
    }
}

/// Why a producer held back by a [`Backlog`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    /// The consumer read nothing for too long.
    #[error("the consumer of {topic} read nothing for {secs} s with {records} records outstanding")]
    Stalled {
        /// The topic.
        topic: String,
        /// Seconds without progress.
        secs: u64,
        /// Records produced and not yet consumed.
        records: u64,
    },
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// The records a producer sent to one topic and the records its consumer has read so far;
/// the producer waits while the difference exceeds a byte budget.
///
/// Bytes are counted uncompressed (key and payload plus record overhead), an upper bound of
/// what the broker stores as lz4 batches; the consumer's count is of records it has processed,
/// a lower bound of its fetch position. So the bytes the broker holds beyond the consumer are
/// at most the budget.
pub struct Backlog {
    topic: String,
    sent: u64,
    sent_bytes: u64,
    consumed: Box<dyn Fn() -> u64 + Send>,
    budget_bytes: u64,
    stall: Duration,
    cancel: Arc<AtomicBool>,
    waited: Arc<AtomicU64>,
}

/// Bytes a record adds to a batch besides its key and payload (headers, varints), rounded up.
const RECORD_OVERHEAD: u64 = 32;

impl Backlog {
    /// A budget of half what `partitions` partitions of the mock cluster retain: records
    /// spread over partitions by key hash, unevenly in the short run.
    pub fn for_partitions(partitions: i32) -> u64 {
        PARTITION_RETENTION_BYTES * partitions.max(1) as u64 / 2
    }

    /// Paces `topic` on `consumed` (records its consumer has processed) within
    /// `budget_bytes`; gives up after `stall` without progress or when `cancel` is set.
    pub fn new(
        topic: impl Into<String>,
        consumed: impl Fn() -> u64 + Send + 'static,
        budget_bytes: u64,
        stall: Duration,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        Self {
            topic: topic.into(),
            sent: 0,
            sent_bytes: 0,
            consumed: Box::new(consumed),
            budget_bytes,
            stall,
            cancel,
            waited: Arc::default(),
        }
    }

    /// Milliseconds producers have waited so far (shared counter, for reports).
    pub fn waited_ms(&self) -> Arc<AtomicU64> {
        self.waited.clone()
    }

    /// Counts one record of `bytes` (key and payload) and waits while the consumer is more
    /// than the budget behind.
    pub fn sent(&mut self, bytes: usize) -> Result<(), BacklogError> {
        self.sent += 1;
        self.sent_bytes += bytes as u64 + RECORD_OVERHEAD;
        // Checking every record costs an atomic load; every 64th is enough.
        if !self.sent.is_multiple_of(64) {
            return Ok(());
        }
        let started = Instant::now();
        let mut last = (self.consumed)();
        let mut progress_at = started;
        while self.outstanding_bytes(last) > self.budget_bytes {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(BacklogError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(5));
            let now = (self.consumed)();
            if now != last {
                last = now;
                progress_at = Instant::now();
            } else if progress_at.elapsed() > self.stall {
                return Err(BacklogError::Stalled {
                    topic: self.topic.clone(),
                    secs: self.stall.as_secs(),
                    records: self.sent.saturating_sub(now),
                });
            }
        }
        let waited = started.elapsed().as_millis() as u64;
        if waited > 0 {
            self.waited.fetch_add(waited, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Bytes sent and not consumed, at the mean record size so far.
    fn outstanding_bytes(&self, consumed: u64) -> u64 {
        let outstanding = self.sent.saturating_sub(consumed);
        // u128: records × bytes may exceed u64 only in theory, but the product comes first.
        (outstanding as u128 * self.sent_bytes as u128 / self.sent.max(1) as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producer_waits_for_its_consumer_and_gives_up_on_a_stall() {
        let consumed = Arc::new(AtomicU64::new(0));
        let seen = consumed.clone();
        let mut backlog = Backlog::new(
            "t",
            move || seen.load(Ordering::Relaxed),
            64 * 100,
            Duration::from_millis(200),
            Arc::default(),
        );
        // 100 records of 32 + 32 bytes fit; the 128th check waits until consumption resumes.
        for _ in 0..100 {
            backlog.sent(32).unwrap();
        }
        let feeder = {
            let consumed = consumed.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                consumed.store(100, Ordering::Relaxed);
            })
        };
        for _ in 100..128 {
            backlog.sent(32).unwrap();
        }
        feeder.join().unwrap();
        assert!(backlog.waited_ms().load(Ordering::Relaxed) >= 40);
        let err = (0..1000).find_map(|_| backlog.sent(32).err());
        assert!(matches!(err, Some(BacklogError::Stalled { .. })), "{err:?}");
    }
}
