//! Kafka clients: consumer and producer configuration, rebalance tracking and the dead-letter
//! producer.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use crate::metrics::Metrics;
use crate::reject::Rejection;
use crate::settings::KafkaSettings;

/// Dead-letter header naming the [`RejectClass`](crate::reject::RejectClass).
pub const HEADER_CLASS: &str = "civicpulse.error.class";
/// Dead-letter header with the human-readable reason.
pub const HEADER_MESSAGE: &str = "civicpulse.error.message";
/// Dead-letter header: topic the record was read from.
pub const HEADER_TOPIC: &str = "civicpulse.source.topic";
/// Dead-letter header: partition the record was read from.
pub const HEADER_PARTITION: &str = "civicpulse.source.partition";
/// Dead-letter header: offset the record was read from.
pub const HEADER_OFFSET: &str = "civicpulse.source.offset";

/// Dead-letter header, set when the payload was cut: the original payload's length.
pub const HEADER_TRUNCATED_FROM: &str = "civicpulse.payload.truncated_from";

/// Largest payload dead-lettered whole: below Kafka's default 1 MB `message.max.bytes`.
pub const DLQ_MAX_PAYLOAD: usize = 900 * 1024;

/// Bytes kept of a payload larger than [`DLQ_MAX_PAYLOAD`].
pub const DLQ_TRUNCATED_PAYLOAD: usize = 64 * 1024;

/// Base client configuration shared by consumers and producers.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// Partitions assigned or revoked since the landing loop last looked.
#[derive(Debug, Default)]
pub struct AssignmentChanges {
    /// Partitions whose ownership changed; the loop forgets their state and re-reads their
    /// offsets from the table.
    pub changed: BTreeSet<i32>,
}

/// Consumer context: records rebalances for the landing loop and publishes lag metrics from
/// librdkafka's statistics.
pub struct LandingContext {
    changes: Arc<Mutex<AssignmentChanges>>,
    metrics: Arc<Metrics>,
    topic: String,
}

impl LandingContext {
    /// Partitions whose ownership changed since the last call.
    pub fn take_changes(&self) -> BTreeSet<i32> {
        std::mem::take(&mut self.changes.lock().expect("lock").changed)
    }
}

impl ClientContext for LandingContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.set_lag(*partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LandingContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let tpl = match rebalance {
            Rebalance::Assign(tpl) | Rebalance::Revoke(tpl) => *tpl,
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance error");
                return;
            }
        };
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        tracing::info!(kind = rebalance_kind(rebalance), ?partitions, "rebalance");
        self.changes
            .lock()
            .expect("lock")
            .changed
            .extend(partitions);
    }
}

fn rebalance_kind(r: &Rebalance<'_>) -> &'static str {
    match r {
        Rebalance::Assign(_) => "assign",
        Rebalance::Revoke(_) => "revoke",
        Rebalance::Error(_) => "error",
    }
}

/// A consumer of `settings.topic` in group `settings.group_id` that never commits on its own:
/// the lake holds the truth about what landed.
pub fn landing_consumer(
    settings: &KafkaSettings,
    metrics: Arc<Metrics>,
) -> Result<StreamConsumer<LandingContext>, KafkaError> {
    let context = LandingContext {
        changes: Arc::default(),
        metrics,
        topic: settings.topic.clone(),
    };
    let mut config = client_config(settings);
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set(
            "session.timeout.ms",
            settings.session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (settings.session_timeout_ms / 5).max(100).to_string(),
        )
        .set(
            "max.poll.interval.ms",
            // tansu (and Kafka) finish a rebalance only when every member rejoined within this
            // interval, so it is kept short; a flush takes seconds, not tens of seconds.
            (settings.session_timeout_ms * 3).to_string(),
        )
        .set("statistics.interval.ms", "5000")
        .set("partition.assignment.strategy", "range");
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config.create_with_context(context)
}

/// Creates each `(topic, partitions)` that does not exist yet (replication: the broker's
/// default); topics that exist are left as they are.
///
/// A producer must not find its topic missing at the first record: a dead letter that cannot be
/// delivered holds back every commit behind it.
pub async fn ensure_topics(
    config: &ClientConfig,
    topics: &[(&str, i32)],
) -> Result<(), KafkaError> {
    // Only missing topics are asked for: librdkafka's mock cluster (the demo's embedded broker)
    // has no CreateTopics and stalls every client until such a request times out (60 s).
    let names: Vec<String> = topics.iter().map(|(name, _)| (*name).to_owned()).collect();
    let lookup = config.clone();
    // A metadata request blocks its thread for up to 10 s.
    let missing = tokio::task::spawn_blocking(move || missing_topics(&lookup, &names))
        .await
        .map_err(|_| KafkaError::Canceled)??;
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|(name, _)| missing.iter().any(|m| m == name))
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(name) => tracing::info!(topic = %name, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                // Creation may be forbidden where the topic exists already (created meanwhile):
                // only a missing one is an error.
                let lookup = config.clone();
                let still = tokio::task::spawn_blocking(move || missing_topics(&lookup, &[name]))
                    .await
                    .map_err(|_| KafkaError::Canceled)??;
                if !still.is_empty() {
                    return Err(KafkaError::AdminOp(code));
                }
            }
        }
    }
    Ok(())
}

/// Those of `topics` the cluster's metadata does not list with partitions (blocking).
fn missing_topics(config: &ClientConfig, topics: &[String]) -> Result<Vec<String>, KafkaError> {
    let consumer: BaseConsumer = config.create()?;
    // Every topic at once: a request naming a missing topic may auto-create it.
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(topics
        .iter()
        .filter(|name| {
            !metadata.topics().iter().any(|t| {
                t.name() == name.as_str() && t.error().is_none() && !t.partitions().is_empty()
            })
        })
        .cloned()
        .collect())
}

/// Partitions of `topic`, or `None` while it does not exist.
pub fn partition_count(config: &ClientConfig, topic: &str) -> Result<Option<i32>, KafkaError> {
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// Sends records that cannot land to the dead-letter topic, with the original bytes and headers
/// plus headers giving the reason and the source position.
#[derive(Clone)]
pub struct DeadLetter {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetter {
    /// A dead-letter producer for `settings.dlq_topic()`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let producer = client_config(settings)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000")
            .create()?;
        Ok(Self {
            producer,
            topic: settings.dlq_topic(),
        })
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues `message` for the dead-letter topic; the returned future resolves when the broker
    /// has it. The landing loop waits for these before committing past the record.
    pub async fn send(
        &self,
        message: &BorrowedMessage<'_>,
        rejection: &Rejection,
    ) -> Result<DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        for (key, value) in [
            (HEADER_CLASS, rejection.class.as_str()),
            (HEADER_MESSAGE, rejection.message.as_str()),
            (HEADER_TOPIC, message.topic()),
            (HEADER_PARTITION, partition.as_str()),
            (HEADER_OFFSET, offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        // A payload past what Kafka takes by default keeps a prefix for diagnosis; the whole
        // record stays in the source topic at the offset the headers give.
        let payload = message.payload().unwrap_or_default();
        let original_len = payload.len().to_string();
        let payload = if payload.len() > DLQ_MAX_PAYLOAD {
            headers = headers.insert(Header {
                key: HEADER_TRUNCATED_FROM,
                value: Some(original_len.as_str()),
            });
            &payload[..DLQ_TRUNCATED_PAYLOAD]
        } else {
            payload
        };
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                // The local queue is full: let deliveries drain, then try again.
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Waits until queued dead letters are delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        use rdkafka::producer::Producer;
        self.producer.flush(timeout)
    }
}
