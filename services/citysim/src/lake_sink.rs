//! Lands records straight into a lake, decoded and normalised by the ingest services' own code
//! (`civicpulse_core::decode`), for benchmarks and demos that need more data than a broker
//! round trip allows. Upstream duplicates land as rows of their own, as through Kafka; invalid
//! records are left out (they would be dead-lettered). Each table's rows carry partition 0
//! and their record number as `kafka_partition`/`kafka_offset`, and its commits the app id
//! `citysim/<topic>/0`.

use std::path::Path;

use civicpulse_core::decode::decode;
use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::lake::{FileSettings, LakeRoot, LakeTable, app_id};
use civicpulse_core::landing::sort_for_pruning;
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;
use civicpulse_core::reference::{self, ReferenceError, ReferenceTable};
use civicpulse_core::row::{LakeRow, RowBuilder};
use civicpulse_core::service::load_divisions;
use civicpulse_core::settings::LandingSettings;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::Transaction;

use crate::emit::Topic;
use crate::sink::{Record, RecordKind, Sink, SinkError};

/// Rows buffered per table before a commit.
const COMMIT_ROWS: usize = 500_000;

fn lake_error(e: impl std::fmt::Display) -> SinkError {
    SinkError::Lake(e.to_string())
}

/// One table being filled.
struct TableSink<E: Event> {
    table: LakeTable,
    rows: <E::Row as LakeRow>::Builder,
    next_offset: i64,
    committed: Option<i64>,
    epoch: i64,
}

impl<E: Event> TableSink<E> {
    async fn open(root: &LakeRoot) -> Result<Self, SinkError> {
        let files = FileSettings {
            zstd_level: 3,
            target_file_size: 128 * 1024 * 1024,
        };
        let table = LakeTable::open_or_create(
            root.table_url(E::TABLE),
            E::Row::schema(),
            files,
            Default::default(),
        )
        .await
        .map_err(lake_error)?;
        let committed = table
            .txn_version(&app_id("citysim", E::TOPIC, 0))
            .await
            .map_err(lake_error)?;
        Ok(Self {
            table,
            rows: <E::Row as LakeRow>::Builder::with_capacity(COMMIT_ROWS),
            next_offset: committed.map_or(0, |c| c + 1),
            committed,
            epoch: 0,
        })
    }

    fn push(&mut self, record: &Record<'_>, normaliser: &Normaliser) -> Result<(), SinkError> {
        let source = SourcePosition {
            partition: 0,
            offset: self.next_offset,
        };
        self.next_offset += 1;
        if matches!(record.kind, RecordKind::Bad(_)) {
            return Ok(());
        }
        // The ingest's record size limit: a backfilled export meets the same rules.
        let max_bytes = LandingSettings::default().max_record_bytes;
        let row = decode::<E>(record.payload(), max_bytes, normaliser, source)
            .map_err(|r| SinkError::Lake(format!("the ingest refuses this event: {r}")))?;
        self.rows.push(&row);
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch =
            RecordBatch::try_new(E::Row::schema(), self.rows.finish()).map_err(lake_error)?;
        let batch = sort_for_pruning(&batch).map_err(lake_error)?;
        let adds = self.table.write_files(batch).await.map_err(lake_error)?;
        let app = app_id("citysim", E::TOPIC, 0);
        let last = self.next_offset - 1;
        self.epoch += 1;
        let outcome = self
            .table
            .commit(
                adds,
                vec![Transaction::new(&app, last)],
                &[(app.clone(), self.committed)],
                self.epoch,
            )
            .await
            .map_err(lake_error)?;
        match outcome {
            civicpulse_core::lake::CommitOutcome::Committed(_) => {
                self.committed = Some(last);
                Ok(())
            }
            civicpulse_core::lake::CommitOutcome::Stale(_) => Err(SinkError::Lake(format!(
                "another writer landed {app} meanwhile"
            ))),
        }
    }
}

/// Loads the reference files citysim wrote into `dir` (`communities.csv`, `life_circles.csv`,
/// `community_assessments.csv`) into the lake at `root`, as `lake-maintain load-reference`
/// does: before a [`LakeSink`] opens, so its normaliser checks codes against them.
pub fn load_reference(root: &Path, dir: &Path) -> Result<(), SinkError> {
    let runtime = tokio::runtime::Runtime::new().map_err(lake_error)?;
    let root = LakeRoot::parse(
        root.to_str()
            .ok_or_else(|| lake_error("lake path is not UTF-8"))?,
    )
    .map_err(lake_error)?;
    let divisions = civicpulse_core::division::DivisionTable::builtin();
    for table in ReferenceTable::ALL {
        let path = dir.join(format!("{}.csv", table.name()));
        let batch = match reference::read_file(table, &path, &divisions) {
            Ok(batch) => batch,
            // A small city may have no rows of a table (no assessment yet): it stays as it is.
            Err(ReferenceError::NoRows { .. }) => continue,
            Err(e) => return Err(lake_error(e)),
        };
        runtime
            .block_on(reference::write_table(
                &root,
                &Default::default(),
                table,
                batch,
            ))
            .map_err(lake_error)?;
    }
    Ok(())
}

/// Writes the three streams into the lake at a root.
pub struct LakeSink {
    runtime: tokio::runtime::Runtime,
    normaliser: Normaliser,
    hotline: TableSink<HotlineTicket>,
    facility: TableSink<FacilityChange>,
    renovation: TableSink<RenovationProgress>,
}

impl LakeSink {
    /// Opens (or creates) the lake's tables under `root`; `hash_key` keys the caller hash as
    /// `CIVICPULSE_HASH_KEY` does for hotline-ingest.
    pub fn new(root: &Path, hash_key: &[u8]) -> Result<Self, SinkError> {
        let runtime = tokio::runtime::Runtime::new().map_err(lake_error)?;
        let root = LakeRoot::parse(
            root.to_str()
                .ok_or_else(|| lake_error("lake path is not UTF-8"))?,
        )
        .map_err(lake_error)?;
        let hasher = CallerHasher::new(hash_key).map_err(lake_error)?;
        let (hotline, facility, renovation, divisions) = runtime.block_on(async {
            Ok::<_, SinkError>((
                TableSink::open(&root).await?,
                TableSink::open(&root).await?,
                TableSink::open(&root).await?,
                // The lake's communities reference, as the ingest services read it at start.
                load_divisions(&root, &Default::default())
                    .await
                    .map_err(lake_error)?,
            ))
        })?;
        Ok(Self {
            runtime,
            normaliser: Normaliser::new(divisions, Some(hasher)),
            hotline,
            facility,
            renovation,
        })
    }
}

impl Sink for LakeSink {
    fn send(&mut self, record: &Record<'_>) -> Result<(), SinkError> {
        let n = &self.normaliser;
        let full = match record.topic {
            Topic::Hotline => {
                self.hotline.push(record, n)?;
                self.hotline.rows.len() >= COMMIT_ROWS
            }
            Topic::Facility => {
                self.facility.push(record, n)?;
                self.facility.rows.len() >= COMMIT_ROWS
            }
            Topic::Renovation => {
                self.renovation.push(record, n)?;
                self.renovation.rows.len() >= COMMIT_ROWS
            }
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.runtime.block_on(async {
            self.hotline.commit().await?;
            self.facility.commit().await?;
            self.renovation.commit().await
        })
    }
}
