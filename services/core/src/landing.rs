//! The landing engine: Kafka records in, exactly-once Delta commits out.
//!
//! Each record is decoded and normalised into its row or sent to the dead-letter topic. Rows
//! are buffered per Kafka partition and committed by rows, bytes or age. Each commit carries
//! one `txn` action per partition holding the last offset it covers, and lands only if
//! the table still holds the offsets this instance last saw. So:
//! - a restart (even after `kill -9`) resumes from the table, not from Kafka's committed offsets
//!   (those are only a hint that saves re-reading);
//! - an instance that lost a partition in a rebalance can never land its rows a second time;
//! - a bad record reaches the dead-letter topic before any commit moves past its offset.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use deltalake::kernel::Transaction;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::DeliveryFuture;
use rdkafka::{Offset, TopicPartitionList};

use crate::decode::decode;
use crate::event::Event;
use crate::kafka::{DeadLetter, LandingContext};
use crate::lake::{CommitOutcome, LakeError, LakeTable, app_id};
use crate::metrics::Metrics;
use crate::normalise::{Normaliser, SourcePosition};
use crate::row::{LakeRow, RowBuilder};
use crate::settings::LandingSettings;

/// Errors that stop a landing loop (bad records never do: they are dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum LandingError {
    /// Kafka failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A dead letter could not be delivered, so its offset must not be committed.
    #[error("dead-letter delivery failed: {0}")]
    DeadLetter(String),
    /// The lake failed.
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    /// Building the Arrow batch failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// What one landing run did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LandingSummary {
    /// Records read.
    pub consumed: u64,
    /// Rows committed.
    pub landed: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Delta commits made.
    pub commits: u64,
}

/// What this instance knows of one partition it owns.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    /// Last offset committed to the table, as this instance last saw it.
    committed: Option<i64>,
    /// Next offset to take; lower ones have landed already.
    next: i64,
}

/// Rows of one partition waiting for the next commit.
struct OpenPartition<B> {
    rows: B,
    last_offset: i64,
}

/// Lands one topic into one table.
pub struct LandingEngine<E: Event> {
    consumer: Arc<StreamConsumer<LandingContext>>,
    dead_letter: DeadLetter,
    table: LakeTable,
    normaliser: Normaliser,
    settings: LandingSettings,
    group: String,
    topic: String,
    metrics: Arc<Metrics>,
    partitions: HashMap<i32, PartitionState>,
    open: HashMap<i32, OpenPartition<<E::Row as LakeRow>::Builder>>,
    dead_letters_in_flight: Vec<DeliveryFuture>,
    open_rows: usize,
    open_bytes: usize,
    opened_at: Option<Instant>,
    epoch: i64,
    summary: LandingSummary,
}

impl<E: Event> LandingEngine<E> {
    /// An engine over a subscribed-to-be consumer, the dead-letter producer and the table.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        consumer: StreamConsumer<LandingContext>,
        dead_letter: DeadLetter,
        table: LakeTable,
        normaliser: Normaliser,
        settings: LandingSettings,
        group: String,
        topic: String,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            consumer: Arc::new(consumer),
            dead_letter,
            table,
            normaliser,
            settings,
            group,
            topic,
            metrics,
            partitions: HashMap::new(),
            open: HashMap::new(),
            dead_letters_in_flight: Vec::new(),
            open_rows: 0,
            open_bytes: 0,
            opened_at: None,
            epoch: 0,
            summary: LandingSummary::default(),
        }
    }

    /// Consumes until `shutdown` resolves, then commits what is open and returns.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<LandingSummary, LandingError> {
        self.consumer.subscribe(&[&self.topic])?;
        self.metrics.set_healthy(true);
        tracing::info!(topic = %self.topic, group = %self.group, table = %self.table.delta().table_url(), "landing");
        let consumer = self.consumer.clone();
        tokio::pin!(shutdown);
        loop {
            self.apply_rebalances();
            let deadline = self
                .opened_at
                .map(|t| tokio::time::Instant::from_std(t + self.settings.max_age()));
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = sleep_until(deadline) => self.flush().await?,
                message = consumer.recv() => {
                    let message = match message {
                        Ok(message) => message,
                        // Broker outages and the like: librdkafka reconnects and resumes.
                        Err(KafkaError::MessageConsumption(code)) => {
                            tracing::warn!(%code, "consumer error; retrying");
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    self.apply_rebalances();
                    self.on_message(&message).await?;
                    if self.open_rows >= self.settings.max_rows
                        || self.open_bytes >= self.settings.max_bytes
                    {
                        self.flush().await?;
                    }
                }
            }
        }
        self.flush().await?;
        self.metrics.set_healthy(false);
        tracing::info!(summary = ?self.summary, "stopped");
        Ok(self.summary)
    }

    /// Forgets partitions whose ownership changed: their open rows are dropped (they will be read
    /// again) and their position is re-read from the table.
    fn apply_rebalances(&mut self) {
        let changed: BTreeSet<i32> = self.consumer.context().take_changes();
        for partition in changed {
            if let Some(open) = self.open.remove(&partition) {
                self.open_rows -= open.rows.len();
            }
            self.partitions.remove(&partition);
        }
        if self.open.is_empty() {
            self.open_rows = 0;
            self.open_bytes = 0;
            self.opened_at = None;
        }
    }

    async fn on_message(&mut self, message: &BorrowedMessage<'_>) -> Result<(), LandingError> {
        let (partition, offset) = (message.partition(), message.offset());
        let state = match self.partitions.get(&partition) {
            Some(state) => *state,
            None => match self.resume(partition, offset).await? {
                Some(state) => state,
                None => return Ok(()),
            },
        };
        if offset < state.next {
            return Ok(()); // landed before
        }
        self.summary.consumed += 1;
        self.metrics.consumed.inc();
        let payload = message.payload().unwrap_or_default();
        let source = SourcePosition { partition, offset };
        let decoded = decode::<E>(
            payload,
            self.settings.max_record_bytes,
            &self.normaliser,
            source,
        );
        let open = self.open.entry(partition).or_insert_with(|| OpenPartition {
            rows: <E::Row as LakeRow>::Builder::with_capacity(1024),
            last_offset: offset,
        });
        match decoded {
            Ok(row) => {
                open.rows.push(&row);
                self.open_rows += 1;
            }
            Err(rejection) => {
                tracing::debug!(partition, offset, %rejection, "dead-lettering");
                self.metrics.dead_letter(rejection.class);
                self.summary.dead_lettered += 1;
                let delivery = self.dead_letter.send(message, &rejection).await?;
                self.dead_letters_in_flight.push(delivery);
            }
        }
        open.last_offset = offset;
        self.open_bytes += payload.len();
        self.opened_at.get_or_insert_with(Instant::now);
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.next = offset + 1;
        }
        Ok(())
    }

    /// First record of a partition since (re)assignment: read where the table says this
    /// partition stands, and seek there if the consumer is past it. `None` drops the record.
    async fn resume(
        &mut self,
        partition: i32,
        offset: i64,
    ) -> Result<Option<PartitionState>, LandingError> {
        self.table.refresh().await?;
        let committed = self
            .table
            .txn_version(&app_id(&self.group, &self.topic, partition))
            .await?;
        let next = committed.map_or(offset, |c| c + 1);
        let state = PartitionState { committed, next };
        self.partitions.insert(partition, state);
        tracing::info!(
            partition,
            ?committed,
            first_offset = offset,
            "resuming partition"
        );
        if offset > next {
            // The consumer started past what landed (Kafka's offsets ran ahead of the table).
            self.consumer.seek(
                &self.topic,
                partition,
                Offset::Offset(next),
                Duration::from_secs(10),
            )?;
            return Ok(None);
        }
        Ok(Some(state))
    }

    /// After a stale commit: seek back to where the table says `partition` stands, so the rows
    /// dropped here are read again even if no newer record arrives.
    async fn rewind(&mut self, partition: i32) -> Result<(), LandingError> {
        let app = app_id(&self.group, &self.topic, partition);
        let Some(committed) = self.table.txn_version(&app).await? else {
            return Ok(());
        };
        let next = committed + 1;
        match self.consumer.seek(
            &self.topic,
            partition,
            Offset::Offset(next),
            Duration::from_secs(10),
        ) {
            Ok(()) => {
                let state = PartitionState {
                    committed: Some(committed),
                    next,
                };
                self.partitions.insert(partition, state);
            }
            // No longer ours: the new owner reads it from the table.
            Err(e) => tracing::debug!(partition, error = %e, "not rewound"),
        }
        Ok(())
    }

    /// Commits everything open: files, offsets and dead letters, atomically.
    async fn flush(&mut self) -> Result<(), LandingError> {
        if self.open.is_empty() {
            self.opened_at = None;
            return Ok(());
        }
        let started = Instant::now();
        for delivery in self.dead_letters_in_flight.drain(..) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(LandingError::DeadLetter(e.to_string())),
                Err(_) => return Err(LandingError::DeadLetter("producer dropped".into())),
            }
        }
        let open = std::mem::take(&mut self.open);
        let (mut txns, mut expected, mut batches) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_offsets = Vec::new();
        for (partition, mut part) in open {
            let app = app_id(&self.group, &self.topic, partition);
            let committed = self.partitions.get(&partition).and_then(|s| s.committed);
            txns.push(Transaction::new(&app, part.last_offset));
            expected.push((app, committed));
            last_offsets.push((partition, part.last_offset));
            if !part.rows.is_empty() {
                batches.push(RecordBatch::try_new(E::Row::schema(), part.rows.finish())?);
            }
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let adds = if rows > 0 {
            let batch = sort_for_pruning(&concat_batches(&E::Row::schema(), &batches)?)?;
            self.table.write_files(batch).await?
        } else {
            Vec::new()
        };
        let files = adds.len();
        self.epoch += 1;
        match self.table.commit(adds, txns, &expected, self.epoch).await? {
            CommitOutcome::Committed(version) => {
                let mut hint = TopicPartitionList::new();
                for (partition, last) in last_offsets {
                    if let Some(state) = self.partitions.get_mut(&partition) {
                        state.committed = Some(last);
                    }
                    hint.add_partition_offset(&self.topic, partition, Offset::Offset(last + 1))?;
                }
                // Kafka's committed offsets only save re-reading after a restart; the table rules.
                if let Err(e) = self.consumer.commit(&hint, CommitMode::Async) {
                    tracing::debug!(error = %e, "offset hint not committed");
                }
                self.summary.landed += rows as u64;
                self.summary.commits += 1;
                self.metrics.landed.inc_by(rows as u64);
                self.metrics.files_committed.inc_by(files as u64);
                self.metrics.commits.inc();
                self.metrics
                    .commit_latency
                    .observe(started.elapsed().as_secs_f64());
                tracing::debug!(version, rows, files, "committed");
            }
            CommitOutcome::Stale(app_ids) => {
                tracing::warn!(
                    ?app_ids,
                    "another instance landed these partitions first; re-reading from the table"
                );
                self.metrics.stale_commits.inc();
                self.partitions.clear();
                for (partition, _) in last_offsets {
                    self.rewind(partition).await?;
                }
            }
        }
        self.open_rows = 0;
        self.open_bytes = 0;
        self.opened_at = None;
        Ok(())
    }
}

/// Rows sorted by partition, community and time so files prune well on those filters.
pub fn sort_for_pruning(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let keys = ["district", "month", "community_code", "event_time"];
    let columns: Vec<SortColumn> = keys
        .iter()
        .filter_map(|k| batch.column_by_name(k))
        .map(|values| SortColumn {
            values: values.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    take_record_batch(batch, &indices)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
