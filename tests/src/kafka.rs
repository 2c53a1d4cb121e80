//! Kafka helpers for tests: topics, producing with delivery positions, reading a topic whole.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Creates `topic` with `partitions` partitions (an existing topic is left as it is).
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for result in results {
        if let Err((name, code)) = result
            && code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
        {
            panic!("cannot create topic {name}: {code}");
        }
    }
}

/// A record to produce.
#[derive(Debug, Clone)]
pub struct Record {
    /// Partitioning key.
    pub key: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Where a produced record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// An idempotent producer tuned for bulk test loads.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.max.bytes", "4000000")
        .set("compression.type", "lz4")
        .create()
        .expect("producer")
}

/// Produces `records` to `topic` and returns where each landed, in input order.
pub async fn produce(brokers: &str, topic: &str, records: Vec<Record>) -> Vec<Position> {
    let producer = producer(brokers);
    let mut positions = Vec::with_capacity(records.len());
    for chunk in records.chunks(20_000) {
        let sends = chunk.iter().map(|r| {
            let mut rec = FutureRecord::<[u8], [u8]>::to(topic).payload(&r.payload);
            if let Some(key) = &r.key {
                rec = rec.key(key);
            }
            producer.send(rec, Duration::from_secs(60))
        });
        for result in futures::future::join_all(sends).await {
            let delivery = result.unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
            positions.push(Position {
                partition: delivery.partition,
                offset: delivery.offset,
            });
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    positions
}

/// A consumed record with its headers.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Where it was read.
    pub position: Position,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Headers as UTF-8 strings.
    pub headers: BTreeMap<String, String>,
}

/// Reads `topic` from the beginning (no consumer group offsets) until `expected` records have
/// arrived or `timeout` passes; returns what arrived.
pub fn read_topic(brokers: &str, topic: &str, expected: usize, timeout: Duration) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "civicpulse-tests-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("reader");
    let deadline = Instant::now() + timeout;
    let metadata = loop {
        match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(m)
                if m.topics()
                    .first()
                    .is_some_and(|t| !t.partitions().is_empty()) =>
            {
                break m;
            }
            _ if Instant::now() > deadline => return Vec::new(),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Consumed {
                position: Position {
                    partition: m.partition(),
                    offset: m.offset(),
                },
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| {
                                let value =
                                    h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (h.key.to_owned(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}
