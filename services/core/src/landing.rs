//! The landing engine: Kafka records in, exactly-once Delta commits out.
//!
//! Each record is decoded and normalised into its row or sent to the dead-letter topic. Rows
//! are buffered per Kafka partition and committed by rows, bytes or age. Each commit carries
//! one `txn` action per partition holding the last offset it covers, and lands only if
//! the table still holds the offsets this instance last saw. So:
//! - a restart (even after `kill -9`) resumes from the table, not from Kafka's committed offsets
//!   (those are only a hint that saves re-reading);
//! - an instance that lost a partition in a rebalance can never land its rows a second time;
//! - a bad record reaches the dead-letter topic before any commit moves past its offset;
//! - a partition the table holds no offsets for starts where `landing.start_offset` says (the
//!   earliest offset by default), never where Kafka's committed offsets happen to be;
//! - a batch the writer refuses for a reason that may lie in its rows is bisected: the rows it
//!   refuses alone are dead-lettered as `unwritable` and the rest land.

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

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use deltalake::kernel::Add;

use crate::decode::decode;
use crate::event::Event;
use crate::kafka::{DeadLetter, LandingContext, fetch_record};
use crate::lake::{CommitOutcome, LakeError, LakeTable, app_id};
use crate::metrics::Metrics;
use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::{RejectClass, Rejection};
use crate::row::{LakeRow, RowBuilder};
use crate::settings::{KafkaSettings, LandingSettings, StartOffset};

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
    /// A blocking Kafka call could not run.
    #[error("kafka task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Every row of a batch, or more than [`MAX_REFUSED_ROWS`], was refused one by one: the
    /// fault is not in a few records.
    #[error("the lake refused {refused} rows of a {rows}-row batch one by one: {source}")]
    BatchRefused {
        /// Rows in the batch.
        rows: usize,
        /// Rows refused before bisection stopped.
        refused: usize,
        /// The error of the whole batch.
        source: LakeError,
    },
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
    first_offset: i64,
    last_offset: i64,
}

/// Lands one topic into one table.
pub struct LandingEngine<E: Event> {
    consumer: Arc<StreamConsumer<LandingContext>>,
    dead_letter: DeadLetter,
    table: LakeTable,
    normaliser: Normaliser,
    settings: LandingSettings,
    kafka: KafkaSettings,
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
    /// An engine over a subscribed-to-be consumer of `kafka.topic` in group `kafka.group_id`,
    /// the dead-letter producer and the table.
    pub fn new(
        consumer: StreamConsumer<LandingContext>,
        dead_letter: DeadLetter,
        table: LakeTable,
        normaliser: Normaliser,
        settings: LandingSettings,
        kafka: KafkaSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            consumer: Arc::new(consumer),
            dead_letter,
            table,
            normaliser,
            settings,
            group: kafka.group_id.clone(),
            topic: kafka.topic.clone(),
            kafka,
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
        let metrics = self.metrics.clone();
        let liveness = &metrics.liveness;
        liveness.set_stall_timeout(self.settings.stall_timeout());
        liveness.progressed();
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
                _ = sleep_until(deadline) => {
                    liveness.busy();
                    self.flush().await?;
                    liveness.progressed();
                }
                message = consumer.recv() => {
                    liveness.busy();
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
                    liveness.progressed();
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
            first_offset: offset,
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
    /// partition stands, and seek there if the consumer is elsewhere. `None` drops the record.
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
        let next = match committed {
            Some(c) => c + 1,
            // Nothing of this partition landed: Kafka's committed offsets (a reused group, a
            // lake replaced) say nothing about what is in this table.
            None => match self.start_offset(partition).await {
                Ok(start) => start,
                Err(e) => {
                    // A slow broker is no reason to stop: let the consumer resolve the start
                    // itself; every record after the seek is the partition's start.
                    tracing::warn!(partition, error = %e, "no watermarks; seeking to the start");
                    self.seek(partition, self.start_position())?;
                    let state = PartitionState {
                        committed: None,
                        next: 0,
                    };
                    self.partitions.insert(partition, state);
                    return Ok(None);
                }
            },
        };
        let state = PartitionState { committed, next };
        self.partitions.insert(partition, state);
        tracing::info!(
            partition,
            ?committed,
            next,
            first_offset = offset,
            "resuming partition"
        );
        if offset != next && (offset > next || committed.is_none()) {
            // The consumer started past what landed (Kafka's offsets ran ahead of the table), or
            // before where the start policy says to begin.
            self.seek(partition, Offset::Offset(next))?;
            return Ok(None);
        }
        Ok(Some(state))
    }

    /// Where a partition without offsets in the table starts, by `landing.start_offset`.
    fn start_offset(
        &self,
        partition: i32,
    ) -> impl Future<Output = Result<i64, LandingError>> + use<E> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let policy = self.settings.start_offset;
        async move {
            // A metadata round trip: blocking.
            let (low, high) = tokio::task::spawn_blocking(move || {
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(10))
            })
            .await??;
            Ok(match policy {
                StartOffset::Earliest => low,
                StartOffset::Latest => high,
            })
        }
    }

    /// `landing.start_offset` as a logical offset the consumer resolves (and retries) itself.
    fn start_position(&self) -> Offset {
        match self.settings.start_offset {
            StartOffset::Earliest => Offset::Beginning,
            StartOffset::Latest => Offset::End,
        }
    }

    fn seek(&self, partition: i32, offset: Offset) -> Result<(), KafkaError> {
        self.consumer
            .seek(&self.topic, partition, offset, Duration::from_secs(10))
    }

    /// After a stale commit: seek back to where the table says `partition` stands (or, when
    /// the table holds nothing of it, to the start policy's offset and never past the dropped
    /// batch's first record), so the rows dropped here are read again even if no newer record
    /// arrives.
    async fn rewind(&mut self, partition: i32, batch_start: i64) -> Result<(), LandingError> {
        let app = app_id(&self.group, &self.topic, partition);
        let committed = self.table.txn_version(&app).await?;
        let (position, next) = match committed {
            Some(c) => (Offset::Offset(c + 1), c + 1),
            None => match self.start_offset(partition).await {
                Ok(start) => {
                    let next = start.min(batch_start);
                    (Offset::Offset(next), next)
                }
                // Without watermarks: the earliest offset is never past the batch, the latest
                // is (the batch was read).
                Err(_) => match self.settings.start_offset {
                    StartOffset::Earliest => (Offset::Beginning, 0),
                    StartOffset::Latest => (Offset::Offset(batch_start), batch_start),
                },
            },
        };
        match self.seek(partition, position) {
            Ok(()) => {
                let state = PartitionState { committed, next };
                self.partitions.insert(partition, state);
            }
            // No longer ours: the new owner reads it from the table.
            Err(e) => tracing::debug!(partition, error = %e, "not rewound"),
        }
        Ok(())
    }
}

/// Rows of one batch the writer may refuse one by one before the fault is taken to be systemic.
const MAX_REFUSED_ROWS: usize = 64;

/// Writes `batch` into files of `table`; when the writer refuses it for a reason that may lie in
/// its rows, bisects it until the rows it refuses alone are found. Returns the files written
/// and, for each refused row, its Kafka position and why.
async fn write_isolating(
    table: &LakeTable,
    metrics: &Metrics,
    batch: RecordBatch,
) -> Result<(Vec<Add>, Vec<(SourcePosition, String)>), LandingError> {
    let rows = batch.num_rows();
    let (mut adds, mut refused) = (Vec::new(), Vec::new());
    let mut first_error = None;
    let mut pending = vec![batch];
    while let Some(part) = pending.pop() {
        // Each refused row costs about log2(rows) writes: stop before a systemic fault (every
        // row refused) turns one batch into hundreds of thousands of writes.
        if refused.len() > MAX_REFUSED_ROWS {
            return Err(LandingError::BatchRefused {
                rows,
                refused: refused.len(),
                source: first_error.expect("an error was seen"),
            });
        }
        match table.write_files(part.clone()).await {
            Ok(written) => adds.extend(written),
            Err(e) if e.may_lie_in_data() => {
                if part.num_rows() == 1 {
                    refused.push((position_of(&part)?, e.describe()));
                } else {
                    let half = part.num_rows() / 2;
                    pending.push(part.slice(half, part.num_rows() - half));
                    pending.push(part.slice(0, half));
                }
                if first_error.is_none() {
                    tracing::warn!(rows, error = %e.describe(), "the lake refused a batch; bisecting it");
                    metrics.bisections.inc();
                    first_error = Some(e);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if rows > 1 && refused.len() == rows {
        // Not one row could be written: the store or the build is at fault, not the data.
        return Err(LandingError::BatchRefused {
            rows,
            refused: rows,
            source: first_error.expect("an error was seen"),
        });
    }
    Ok((adds, refused))
}

impl<E: Event> LandingEngine<E> {
    /// Dead-letters rows the writer refused: their records are read again from the source
    /// topic (the loop keeps rows, not bytes) and sent as `unwritable`; returns once delivered.
    async fn dead_letter_refused(
        &mut self,
        refused: Vec<(SourcePosition, String)>,
    ) -> Result<(), LandingError> {
        for (position, reason) in refused {
            let kafka = self.kafka.clone();
            let record = tokio::task::spawn_blocking(move || {
                fetch_record(
                    &kafka,
                    position.partition,
                    position.offset,
                    Duration::from_secs(30),
                )
            })
            .await??
            .unwrap_or_else(|| {
                // Gone from the topic meanwhile: the dead letter keeps the position only.
                rdkafka::message::OwnedMessage::new(
                    None,
                    None,
                    self.topic.clone(),
                    rdkafka::Timestamp::NotAvailable,
                    position.partition,
                    position.offset,
                    None,
                )
            });
            let rejection = Rejection::new(
                RejectClass::Unwritable,
                format!("the lake's writer refused this row: {reason}"),
            );
            tracing::warn!(
                partition = position.partition,
                offset = position.offset,
                %rejection,
                "dead-lettering"
            );
            self.metrics.dead_letter(RejectClass::Unwritable);
            self.summary.dead_lettered += 1;
            let delivery = self.dead_letter.send(&record, &rejection).await?;
            self.dead_letters_in_flight.push(delivery);
        }
        self.await_dead_letters().await
    }

    async fn await_dead_letters(&mut self) -> Result<(), LandingError> {
        for delivery in self.dead_letters_in_flight.drain(..) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(LandingError::DeadLetter(e.to_string())),
                Err(_) => return Err(LandingError::DeadLetter("producer dropped".into())),
            }
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
        self.await_dead_letters().await?;
        let open = std::mem::take(&mut self.open);
        let (mut txns, mut expected, mut batches) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_offsets = Vec::new();
        for (partition, mut part) in open {
            let app = app_id(&self.group, &self.topic, partition);
            let committed = self.partitions.get(&partition).and_then(|s| s.committed);
            txns.push(Transaction::new(&app, part.last_offset));
            expected.push((app, committed));
            last_offsets.push((partition, part.first_offset, part.last_offset));
            if !part.rows.is_empty() {
                batches.push(RecordBatch::try_new(E::Row::schema(), part.rows.finish())?);
            }
        }
        let mut rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let adds = if rows > 0 {
            let batch = sort_for_pruning(&concat_batches(&E::Row::schema(), &batches)?)?;
            let (adds, refused) = write_isolating(&self.table, &self.metrics, batch).await?;
            // Delivered before the commit below moves the offsets past them.
            rows -= refused.len();
            self.dead_letter_refused(refused).await?;
            adds
        } else {
            Vec::new()
        };
        let files = adds.len();
        self.epoch += 1;
        match self.table.commit(adds, txns, &expected, self.epoch).await? {
            CommitOutcome::Committed(version) => {
                let mut hint = TopicPartitionList::new();
                for (partition, _, last) in last_offsets {
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
                for (partition, first, _) in last_offsets {
                    self.rewind(partition, first).await?;
                }
            }
        }
        self.open_rows = 0;
        self.open_bytes = 0;
        self.opened_at = None;
        Ok(())
    }
}

/// The Kafka position a one-row batch came from.
fn position_of(row: &RecordBatch) -> Result<SourcePosition, arrow::error::ArrowError> {
    let column = |name: &str| {
        row.column_by_name(name).cloned().ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!("no column {name} in a landed row"))
        })
    };
    let partition = column("kafka_partition")?;
    let offset = column("kafka_offset")?;
    let partition = partition
        .as_primitive_opt::<Int32Type>()
        .filter(|a| !a.is_empty());
    let offset = offset
        .as_primitive_opt::<Int64Type>()
        .filter(|a| !a.is_empty());
    match (partition, offset) {
        (Some(p), Some(o)) => Ok(SourcePosition {
            partition: p.value(0),
            offset: o.value(0),
        }),
        _ => Err(arrow::error::ArrowError::SchemaError(
            "kafka_partition/kafka_offset of a landed row are not Int32/Int64".into(),
        )),
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
