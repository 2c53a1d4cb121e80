//! Where records go: JSONL files named by topic, a Kafka cluster, or memory (tests).

use std::fs::File;
use std::io::{BufWriter, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::bad::BadClass;
use crate::emit::Topic;

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The producer could not be created or a record was refused.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The lake could not be opened or a commit failed.
    #[error("lake: {0}")]
    Lake(String),
}

/// What a record is, for sinks that keep it (tests) and for the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A valid event.
    Valid,
    /// A second copy of the previous valid event.
    Duplicate,
    /// An invalid record of a dead-letter class.
    Bad(BadClass),
}

/// One record to send.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The stream.
    pub topic: Topic,
    /// Kafka key: ticket, facility or project id.
    pub key: &'a [u8],
    /// Payload bytes followed by a newline (a JSONL line).
    pub line: &'a [u8],
    /// What it is.
    pub kind: RecordKind,
}

impl<'a> Record<'a> {
    /// The payload without its newline.
    pub fn payload(&self) -> &'a [u8] {
        &self.line[..self.line.len().saturating_sub(1)]
    }
}

/// A destination for records.
pub trait Sink {
    /// Sends one record.
    fn send(&mut self, record: &Record<'_>) -> Result<(), SinkError>;

    /// Sends records in order (sinks that can write many at once override it).
    fn send_batch(&mut self, records: &[Record<'_>]) -> Result<(), SinkError> {
        records.iter().try_for_each(|r| self.send(r))
    }

    /// Makes everything sent so far durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Largest number of buffers handed to one `writev`.
const IOV_MAX: usize = 1024;

/// Writes every byte of `bufs`, however many `writev` calls it takes.
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One JSON document per line per topic: `<dir>/<prefix><topic>.jsonl`.
pub struct JsonlSink {
    dir: PathBuf,
    prefix: String,
    files: [Option<BufWriter<File>>; 3],
}

impl JsonlSink {
    /// A sink writing into `dir` (created if missing); files are created on first use.
    pub fn new(dir: &Path, prefix: &str) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|source| SinkError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            files: [None, None, None],
        })
    }

    /// The file of `topic`.
    pub fn path(&self, topic: Topic) -> PathBuf {
        topic_path(&self.dir, &self.prefix, topic)
    }

    /// Creates the files of `topics` now, so a topic with no records still has its (empty) file.
    pub fn create(&mut self, topics: &[Topic]) -> Result<(), SinkError> {
        for &t in topics {
            self.file(t)?;
        }
        Ok(())
    }

    fn file(&mut self, topic: Topic) -> Result<&mut BufWriter<File>, SinkError> {
        if self.files[topic as usize].is_none() {
            let path = self.path(topic);
            let f = File::create(&path).map_err(|source| SinkError::Io { path, source })?;
            self.files[topic as usize] = Some(BufWriter::with_capacity(1 << 20, f));
        }
        Ok(self.files[topic as usize].as_mut().expect("just created"))
    }
}

impl Sink for JsonlSink {
    fn send(&mut self, record: &Record<'_>) -> Result<(), SinkError> {
        let topic = record.topic;
        let w = self.file(topic)?;
        w.write_all(record.line).map_err(|source| SinkError::Io {
            path: self.path(topic),
            source,
        })
    }

    /// Writes each topic's lines straight from the caller's buffers with `writev`, with no
    /// copy through a buffer of its own.
    fn send_batch(&mut self, records: &[Record<'_>]) -> Result<(), SinkError> {
        for topic in Topic::ALL {
            let mut lines = records.iter().filter(|r| r.topic == topic).peekable();
            if lines.peek().is_none() {
                continue;
            }
            self.file(topic)?;
            let JsonlSink { dir, prefix, files } = self;
            let path = || topic_path(dir, prefix, topic);
            let w = files[topic as usize].as_mut().expect("opened above");
            // Lines sent one by one before must come first.
            w.flush().map_err(|source| SinkError::Io {
                path: path(),
                source,
            })?;
            let f = w.get_mut();
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(IOV_MAX);
            loop {
                slices.clear();
                slices.extend(lines.by_ref().take(IOV_MAX).map(|r| IoSlice::new(r.line)));
                if slices.is_empty() {
                    break;
                }
                write_all_vectored(f, &mut slices).map_err(|source| SinkError::Io {
                    path: path(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        for t in Topic::ALL {
            if let Some(w) = &mut self.files[t as usize] {
                w.flush().map_err(|source| SinkError::Io {
                    path: topic_path(&self.dir, &self.prefix, t),
                    source,
                })?;
            }
        }
        Ok(())
    }
}

fn topic_path(dir: &Path, prefix: &str, topic: Topic) -> PathBuf {
    dir.join(format!("{prefix}{}.jsonl", topic.topic()))
}

/// Counts delivery failures reported by librdkafka.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// An idempotent Kafka producer: records keyed by entity id, so each ticket, facility and
/// project keeps its order within its partition.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    topics: [String; 3],
}

impl KafkaSink {
    /// A producer for `brokers` writing to `<prefix><topic>`; `properties` are extra librdkafka
    /// settings.
    ///
    /// Topics that do not exist yet are created with `partitions` partitions.
    pub fn new(
        brokers: &str,
        prefix: &str,
        properties: &[(String, String)],
        partitions: i32,
    ) -> Result<Self, SinkError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            // Oversized test records (just over 1 MiB) must leave the producer; compression
            // keeps their batches under the broker's default limit.
            .set("message.max.bytes", "4000000")
            .set("compression.type", "lz4");
        for (k, v) in properties {
            config.set(k, v);
        }
        let topics = Topic::ALL.map(|t| format!("{prefix}{}", t.topic()));
        let wanted: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), partitions)).collect();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::Kafka(e.to_string()))?
            .block_on(civicpulse_core::kafka::ensure_topics(&config, &wanted))
            .map_err(|e| SinkError::Kafka(format!("creating topics: {e}")))?;
        let producer = config
            .create_with_context(Deliveries::default())
            .map_err(|e| SinkError::Kafka(e.to_string()))?;
        Ok(Self { producer, topics })
    }

    fn check(&self) -> Result<(), SinkError> {
        let ctx = self.producer.context();
        let failed = ctx.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = ctx
                .first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default();
            return Err(SinkError::Kafka(format!(
                "{failed} records were not delivered; first error: {first}"
            )));
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn send(&mut self, record: &Record<'_>) -> Result<(), SinkError> {
        let mut rec = BaseRecord::to(&self.topics[record.topic as usize])
            .key(record.key)
            .payload(record.payload());
        loop {
            match self.producer.send(rec) {
                Ok(()) => return Ok(()),
                // The local queue is full: wait for deliveries to drain it.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(SinkError::Kafka(e.to_string())),
            }
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.producer
            .flush(Duration::from_secs(120))
            .map_err(|e| SinkError::Kafka(e.to_string()))?;
        self.check()
    }
}

/// Keeps every record in memory (tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Records in send order: topic, key, payload, kind.
    pub records: Vec<(Topic, Vec<u8>, Vec<u8>, RecordKind)>,
}

impl Sink for MemorySink {
    fn send(&mut self, r: &Record<'_>) -> Result<(), SinkError> {
        self.records
            .push((r.topic, r.key.to_vec(), r.payload().to_vec(), r.kind));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Counts records and bytes and drops them (benchmarks, ground truth only).
#[derive(Debug, Default)]
pub struct NullSink {
    /// Records sent.
    pub records: u64,
    /// Payload bytes sent.
    pub bytes: u64,
}

impl Sink for NullSink {
    fn send(&mut self, r: &Record<'_>) -> Result<(), SinkError> {
        self.records += 1;
        self.bytes += r.payload().len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
