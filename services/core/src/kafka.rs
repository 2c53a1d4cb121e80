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
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
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

/// Dead-letter header, set when the original record's headers did not fit: how many were left
/// out.
pub const HEADER_HEADERS_DROPPED: &str = "civicpulse.headers.dropped";

/// Largest dead letter (key, payload and headers together): below Kafka's default 1 MB
/// `message.max.bytes` with room for the record's framing.
pub const DLQ_MAX_MESSAGE: usize = 900 * 1024;

/// Bytes kept of a payload that does not fit [`DLQ_MAX_MESSAGE`].
pub const DLQ_TRUNCATED_PAYLOAD: usize = 64 * 1024;

/// Longest `civicpulse.error.message` header value.
pub const DLQ_MAX_ERROR_MESSAGE: usize = 1024;

/// Most bytes of the original record's headers kept on its dead letter.
pub const DLQ_MAX_ORIGINAL_HEADERS: usize = 64 * 1024;

/// Largest key kept on a dead letter (a longer one is dropped; the source position stays).
pub const DLQ_MAX_KEY: usize = 16 * 1024;

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
                if *partition >= 0 && p.desired {
                    // Records the broker holds past what the loop was given (or, before the
                    // first record, what sits fetched in librdkafka's queue).
                    let waiting = if p.app_offset >= 0 && p.ls_offset >= 0 {
                        p.ls_offset - p.app_offset
                    } else {
                        p.fetchq_cnt
                    };
                    self.metrics.liveness.set_waiting(*partition, waiting);
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
        if let Rebalance::Revoke(_) = rebalance {
            for p in &partitions {
                self.metrics.liveness.forget(*p);
            }
        }
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
    ///
    /// The dead letter never exceeds [`DLQ_MAX_MESSAGE`]: the error message, the original
    /// headers and the key are capped first, and a payload that does not fit what is left is
    /// cut to a prefix (the whole record stays in the source topic at the offset the headers
    /// give).
    pub async fn send(
        &self,
        message: &impl Message,
        rejection: &Rejection,
    ) -> Result<DeliveryFuture, KafkaError> {
        let letter = Letter::of(message, rejection);
        let mut headers = OwnedHeaders::new();
        for (key, value) in &letter.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .payload(letter.payload)
            .headers(headers);
        if let Some(key) = letter.key {
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

/// Bytes Kafka adds to each header besides its key and value (varints), at most.
const HEADER_FRAMING: usize = 10;

/// A dead letter's parts, sized to fit [`DLQ_MAX_MESSAGE`].
struct Letter<'a> {
    key: Option<&'a [u8]>,
    payload: &'a [u8],
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl<'a> Letter<'a> {
    fn of(message: &'a impl Message, rejection: &Rejection) -> Self {
        let mut headers: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut original_bytes = 0;
        let mut dropped = 0usize;
        if let Some(original) = message.headers() {
            for h in original.iter() {
                // Framing counts too: 100k empty headers are 1 MB on the wire.
                let size = h.key.len() + h.value.map_or(0, <[u8]>::len) + HEADER_FRAMING;
                if original_bytes + size > DLQ_MAX_ORIGINAL_HEADERS {
                    dropped += 1;
                    continue;
                }
                original_bytes += size;
                headers.push((h.key.to_owned(), h.value.map(<[u8]>::to_vec)));
            }
        }
        let ours = [
            (HEADER_CLASS, rejection.class.as_str().to_owned()),
            (
                HEADER_MESSAGE,
                cut_at_char(&rejection.message, DLQ_MAX_ERROR_MESSAGE).to_owned(),
            ),
            (HEADER_TOPIC, message.topic().to_owned()),
            (HEADER_PARTITION, message.partition().to_string()),
            (HEADER_OFFSET, message.offset().to_string()),
        ];
        for (key, value) in ours {
            headers.push((key.to_owned(), Some(value.into_bytes())));
        }
        if dropped > 0 {
            headers.push((
                HEADER_HEADERS_DROPPED.to_owned(),
                Some(dropped.to_string().into_bytes()),
            ));
        }
        let key = message.key().filter(|k| k.len() <= DLQ_MAX_KEY);
        let payload = message.payload().unwrap_or_default();
        // Kafka counts each header's key and value plus a few bytes of varints.
        let framing: usize = headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len) + HEADER_FRAMING)
            .sum::<usize>()
            + key.map_or(0, <[u8]>::len)
            + 64;
        let room = DLQ_MAX_MESSAGE.saturating_sub(framing);
        let payload = if payload.len() > room {
            headers.push((
                HEADER_TRUNCATED_FROM.to_owned(),
                Some(payload.len().to_string().into_bytes()),
            ));
            &payload[..DLQ_TRUNCATED_PAYLOAD.min(room)]
        } else {
            payload
        };
        Self {
            key,
            payload,
            headers,
        }
    }

    /// Bytes the dead letter takes, framing included.
    #[cfg(test)]
    fn size(&self) -> usize {
        self.headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len) + HEADER_FRAMING)
            .sum::<usize>()
            + self.key.map_or(0, <[u8]>::len)
            + 64
            + self.payload.len()
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Reads the record at `partition`/`offset` of `topic` again (blocking; for the rare record the
/// writer refused, whose bytes the landing loop no longer holds).
pub fn fetch_record(
    settings: &KafkaSettings,
    partition: i32,
    offset: i64,
    timeout: Duration,
) -> Result<Option<rdkafka::message::OwnedMessage>, KafkaError> {
    let consumer: BaseConsumer = client_config(settings)
        .set("group.id", format!("{}-refetch", settings.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&settings.topic, partition, rdkafka::Offset::Offset(offset))?;
    consumer.assign(&tpl)?;
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.offset() == offset => return Ok(Some(m.detach())),
            // Past it: the record is gone (retention, compaction).
            Some(Ok(m)) if m.offset() > offset => return Ok(None),
            Some(Ok(_)) | None => {}
            Some(Err(e)) => return Err(e),
        }
    }
    Err(KafkaError::MessageConsumption(
        rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::RejectClass;
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    fn message(key: usize, payload: usize, headers: usize, header_size: usize) -> OwnedMessage {
        let mut h = OwnedHeaders::new();
        let value = vec![b'h'; header_size];
        for i in 0..headers {
            h = h.insert(Header {
                key: &format!("h{i}"),
                value: Some(&value),
            });
        }
        OwnedMessage::new(
            Some(vec![b'p'; payload]),
            Some(vec![b'k'; key]),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            7,
            Some(h),
        )
    }

    #[test]
    fn a_dead_letter_always_fits_the_broker() {
        let long = Rejection::new(RejectClass::Oversized, "x".repeat(200_000));
        for (key, payload, headers, size) in [
            (10, 1_000, 2, 10),
            (10, 899 * 1024, 2, 10),
            (2_000_000, 10, 0, 0),
            (10, 900 * 1024, 100, 9_000),
            (10, 5_000_000, 5_000, 200),
        ] {
            let m = message(key, payload, headers, size);
            let letter = Letter::of(&m, &long);
            assert!(
                letter.size() <= DLQ_MAX_MESSAGE,
                "{key} {payload} {headers}"
            );
            let message = letter
                .headers
                .iter()
                .find(|(k, _)| k == HEADER_MESSAGE)
                .and_then(|(_, v)| v.clone())
                .unwrap();
            assert!(message.len() <= DLQ_MAX_ERROR_MESSAGE);
            let truncated = letter
                .headers
                .iter()
                .any(|(k, _)| k == HEADER_TRUNCATED_FROM);
            assert_eq!(truncated, letter.payload.len() < payload, "{payload}");
        }
        // Empty headers are not free: 100,000 of them are 1 MB of framing.
        let mut empty = OwnedHeaders::new();
        for _ in 0..100_000 {
            empty = empty.insert(Header::<&[u8]> {
                key: "",
                value: None,
            });
        }
        let m = OwnedMessage::new(
            Some(vec![b'p'; 10]),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            7,
            Some(empty),
        );
        assert!(Letter::of(&m, &long).size() <= DLQ_MAX_MESSAGE);
        let small = message(3, 100, 1, 5);
        let letter = Letter::of(&small, &long);
        assert_eq!(letter.payload.len(), 100);
        assert_eq!(letter.key.map(<[u8]>::len), Some(3));
    }
}
