//! citysim's Kafka producer with what the demo adds: a count of the rows each topic will land
//! and, on the embedded broker, pacing on the ingest's progress ([`Backlog`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use citysim::{KafkaSink, Record, RecordKind, Sink, SinkError};

use crate::broker::Backlog;

/// Rows each topic's records will land as: valid events and upstream duplicates sent so far
/// (invalid records are dead-lettered), indexed by [`citysim::Topic`].
pub type RowCounts = [Arc<AtomicU64>; 3];

/// A [`KafkaSink`] that counts the rows it sent per topic and, with backlogs, waits for the
/// consumers.
pub struct CountingSink {
    inner: KafkaSink,
    rows: RowCounts,
    backlogs: Option<[Backlog; 3]>,
}

impl CountingSink {
    /// Wraps `inner`, counting into `rows`; `backlogs` (by [`citysim::Topic`]) pace each topic on its
    /// consumer.
    pub fn new(inner: KafkaSink, rows: RowCounts, backlogs: Option<[Backlog; 3]>) -> Self {
        Self {
            inner,
            rows,
            backlogs,
        }
    }
}

impl Sink for CountingSink {
    fn send(&mut self, record: &Record<'_>) -> Result<(), SinkError> {
        self.inner.send(record)?;
        let topic = record.topic as usize;
        if !matches!(record.kind, RecordKind::Bad(_)) {
            self.rows[topic].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(backlogs) = &mut self.backlogs {
            backlogs[topic]
                .sent(record.key.len() + record.payload().len())
                .map_err(|e| SinkError::Kafka(e.to_string()))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}
