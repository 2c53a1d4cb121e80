//! The lake: where tables live, how they are laid out, and how a batch becomes one atomic Delta
//! commit that carries the Kafka offsets it covers.
//!
//! Layout: `<root>/<table>/district=<6-digit code>/month=<YYYY-MM>/part-*.zstd.parquet` plus the
//! table's `_delta_log/`. Offsets are Delta `txn` actions, one app id per consumer group, topic
//! and partition (as kafka-delta-ingest does), so the offsets and the rows they cover become
//! visible in the same commit or not at all.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use url::Url;

/// Whether `e` says there is no Delta table at the location (yet): no log, or no commit in it.
pub fn is_not_a_table(e: &DeltaTableError) -> bool {
    let text = e.to_string();
    matches!(
        e,
        DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_)
    ) || text.contains("No files in log segment")
        || text.contains("Invalid table location")
}

/// Partition columns of every civicpulse table, outermost first.
pub const PARTITION_COLUMNS: [&str; 2] = ["district", "month"];

/// Errors of the lake layer.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake root is not a usable location.
    #[error("lake root {0:?} is not a directory path or an s3:// URL")]
    InvalidRoot(String),
    /// A local lake directory could not be created.
    #[error("cannot create lake directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The existing table's schema is not the one this build writes.
    #[error("table {table} has a different schema than this build writes: {detail}")]
    SchemaMismatch {
        /// The table URL.
        table: String,
        /// What differs.
        detail: String,
    },
    /// A partition value that would not be a plain directory name (the value is not repeated:
    /// it came from a feed).
    #[error("refusing to write a {0} partition value that is not a plain directory name")]
    UnsafePartition(&'static str),
    /// A partition column is missing from a batch.
    #[error("batch has no partition column {0}")]
    MissingPartitionColumn(&'static str),
    /// Arrow schema conversion failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Delta Lake failed.
    #[error(transparent)]
    Delta(#[from] DeltaTableError),
    /// A background write task failed.
    #[error("write task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Where the lake lives: a local directory or an object-store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeRoot {
    url: Url,
}

impl LakeRoot {
    /// Parses `--lake`: a local path (created if missing) or a `s3://bucket/prefix` URL.
    pub fn parse(location: &str) -> Result<Self, LakeError> {
        if location.contains("://") {
            let mut url =
                Url::parse(location).map_err(|_| LakeError::InvalidRoot(location.into()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(Self { url });
        }
        let path = Path::new(location);
        std::fs::create_dir_all(path).map_err(|source| LakeError::CreateDir {
            path: location.into(),
            source,
        })?;
        let abs = path.canonicalize().map_err(|source| LakeError::CreateDir {
            path: location.into(),
            source,
        })?;
        let url =
            Url::from_directory_path(&abs).map_err(|_| LakeError::InvalidRoot(location.into()))?;
        Ok(Self { url })
    }

    /// The root URL (ends with `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of table `name` (a fixed table name, never user input).
    pub fn table_url(&self, name: &str) -> Url {
        self.url
            .join(&format!("{name}/"))
            .expect("a table name joins to a valid URL")
    }
}

/// Whether `url` is a local table whose log does not exist yet: delta-rs refuses to open a
/// missing local directory (and logs an error for it), so callers ask first.
pub fn is_missing_local_table(url: &Url) -> bool {
    url.to_file_path()
        .is_ok_and(|path| !path.join("_delta_log").is_dir())
}

/// Tuning of the Parquet files a table is written with.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// zstd level (1–22).
    pub zstd_level: i32,
    /// Roll to a new file past this many bytes within one commit.
    pub target_file_size: u64,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            target_file_size: 128 * 1024 * 1024,
        }
    }
}

impl FileSettings {
    /// Parquet writer properties of these settings.
    pub fn writer_properties(&self) -> WriterProperties {
        let level = ZstdLevel::try_new(self.zstd_level).unwrap_or_default();
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(256 * 1024))
            .build()
    }
}

/// What became of a guarded commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Committed as this table version.
    Committed(u64),
    /// Another writer advanced these app ids first: nothing was committed, and the caller must
    /// resume from the table's offsets.
    Stale(Vec<String>),
}

/// One Delta table of the lake, opened for landing.
pub struct LakeTable {
    table: DeltaTable,
    files: FileSettings,
}

impl LakeTable {
    /// Opens the table at `url`, creating it with `schema` partitioned by
    /// [`PARTITION_COLUMNS`] if it does not exist yet.
    pub async fn open_or_create(
        url: Url,
        schema: SchemaRef,
        files: FileSettings,
        storage_options: HashMap<String, String>,
    ) -> Result<Self, LakeError> {
        // delta-rs opens local tables only in existing directories.
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|source| LakeError::CreateDir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let table =
            DeltaTable::try_from_url_with_storage_options(url.clone(), storage_options.clone())
                .await?;
        let table = if table.version().is_some() {
            table
        } else {
            let columns: StructType = schema.as_ref().try_into_kernel()?;
            let created = table
                .create()
                .with_columns(columns.fields().cloned())
                .with_partition_columns(PARTITION_COLUMNS)
                .with_configuration([
                    ("delta.dataSkippingNumIndexedCols", Some("-1")),
                    ("delta.checkpointInterval", Some("50")),
                ])
                .await;
            match created {
                Ok(table) => table,
                // Another instance created it first: open theirs.
                Err(_) => deltalake::open_table_with_storage_options(url, storage_options).await?,
            }
        };
        let this = Self { table, files };
        this.check_schema(&schema)?;
        Ok(this)
    }

    fn check_schema(&self, expected: &SchemaRef) -> Result<(), LakeError> {
        let existing: StructType = self.table.snapshot()?.schema().as_ref().clone();
        let wanted: StructType = expected.as_ref().try_into_kernel()?;
        let names = |s: &StructType| s.fields().map(|f| f.name().clone()).collect::<Vec<_>>();
        if names(&existing) != names(&wanted) {
            return Err(LakeError::SchemaMismatch {
                table: self.table.table_url().to_string(),
                detail: format!("columns {:?} != {:?}", names(&existing), names(&wanted)),
            });
        }
        Ok(())
    }

    /// The underlying Delta table.
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// The loaded table version.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// Reads the table's latest commits.
    pub async fn refresh(&mut self) -> Result<(), LakeError> {
        self.table.update_state().await?;
        Ok(())
    }

    /// The last offset committed under `app_id`, as of the loaded version.
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>, LakeError> {
        Ok(self
            .table
            .snapshot()?
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await?)
    }

    /// Encodes `batch` into Parquet files under the table (not yet committed: invisible to
    /// readers until [`commit`](Self::commit) lands their `Add` actions).
    ///
    /// Encoding is CPU work, so it runs on the blocking pool.
    pub async fn write_files(&self, batch: RecordBatch) -> Result<Vec<Add>, LakeError> {
        check_partition_values(&batch)?;
        let mut writer = RecordBatchWriter::for_table(&self.table)?
            .with_writer_properties(self.files.writer_properties())
            .with_target_file_size(self.files.target_file_size);
        // One partition's files at a time: an open Parquet writer holds zstd contexts for every
        // column, so writing all district/month partitions at once peaked at over 1 GiB.
        let runs = partition_runs(&batch)?;
        let handle = tokio::runtime::Handle::current();
        let adds = tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let mut adds = Vec::new();
                for run in runs {
                    writer.write(batch.slice(run.start, run.len())).await?;
                    adds.extend(writer.flush().await?);
                }
                Ok::<_, DeltaTableError>(adds)
            })
        })
        .await??;
        Ok(adds)
    }

    /// Commits `adds` together with `txns`, but only if every app id of `expected` still has the
    /// version this writer last saw: a writer that lost its partitions to another instance can
    /// never land rows twice.
    pub async fn commit(
        &mut self,
        adds: Vec<Add>,
        txns: Vec<Transaction>,
        expected: &[(String, Option<i64>)],
        epoch: i64,
    ) -> Result<CommitOutcome, LakeError> {
        const ATTEMPTS: usize = 8;
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            self.refresh().await?;
            let mut stale = Vec::new();
            for (app_id, version) in expected {
                if self.txn_version(app_id).await? != *version {
                    stale.push(app_id.clone());
                }
            }
            if !stale.is_empty() {
                return Ok(CommitOutcome::Stale(stale));
            }
            let operation = DeltaOperation::StreamingUpdate {
                output_mode: OutputMode::Append,
                query_id: "civicpulse-landing".into(),
                epoch_id: epoch,
            };
            let result = CommitBuilder::from(
                CommitProperties::default().with_application_transactions(txns.clone()),
            )
            .with_actions(actions.clone())
            .build(
                Some(self.table.snapshot()?),
                self.table.log_store(),
                operation,
            )
            .await;
            match result {
                Ok(done) => {
                    let version = done.version();
                    self.table.state = Some(done.snapshot());
                    return Ok(CommitOutcome::Committed(version));
                }
                // A concurrent writer touched our app ids or won the version race: re-check.
                Err(DeltaTableError::Transaction { source })
                    if matches!(
                        source,
                        TransactionError::CommitConflict(_)
                            | TransactionError::VersionAlreadyExists(_)
                            | TransactionError::MaxCommitAttempts(_)
                    ) =>
                {
                    last_error = Some(DeltaTableError::Transaction { source });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last_error
            .map(LakeError::Delta)
            .unwrap_or_else(|| LakeError::Delta(DeltaTableError::Generic("commit failed".into()))))
    }
}

/// Row ranges of `batch` with one `district`/`month` each (consecutive rows: a batch sorted by
/// partition gives one range per partition).
fn partition_runs(batch: &RecordBatch) -> Result<Vec<std::ops::Range<usize>>, LakeError> {
    let columns: Vec<_> = PARTITION_COLUMNS
        .iter()
        .map(|name| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or(LakeError::MissingPartitionColumn(name))
        })
        .collect::<Result<_, _>>()?;
    Ok(arrow::compute::partition(&columns)?.ranges())
}

/// Defence in depth: partition values were validated upstream, but nothing that could name
/// another directory ever reaches the writer.
fn check_partition_values(batch: &RecordBatch) -> Result<(), LakeError> {
    use arrow::array::{Array, AsArray};
    for (name, valid) in [
        ("district", is_district as fn(&str) -> bool),
        ("month", is_month),
    ] {
        let column = batch
            .column_by_name(name)
            .ok_or(LakeError::MissingPartitionColumn(name))?;
        let values = column.as_string::<i32>();
        for i in 0..values.len() {
            if values.is_null(i) || !valid(values.value(i)) {
                return Err(LakeError::UnsafePartition(name));
            }
        }
    }
    Ok(())
}

fn is_district(v: &str) -> bool {
    v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit())
}

fn is_month(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
}

impl LakeError {
    /// Whether the error may lie in the rows written rather than in the store: such a batch is
    /// bisected to find the rows the writer refuses. Storage, network and commit conflicts are
    /// not: retrying them row by row would only dead-letter good records.
    pub fn may_lie_in_data(&self) -> bool {
        match self {
            Self::UnsafePartition(_) | Self::Arrow(_) => true,
            // A panic inside the Parquet encoder.
            Self::Task(e) => e.is_panic(),
            Self::Delta(e) => matches!(
                e,
                DeltaTableError::Arrow { .. }
                    | DeltaTableError::Parquet { .. }
                    | DeltaTableError::InvalidData { .. }
                    | DeltaTableError::InvalidStatsJson { .. }
                    | DeltaTableError::PartitionError { .. }
                    | DeltaTableError::InvalidDateTimeString { .. }
                    | DeltaTableError::SerializeLogJson { .. }
            ),
            _ => false,
        }
    }

    /// What went wrong, for dead-letter messages and logs: the error's own text only where it
    /// quotes no value (encoder errors may quote one).
    pub fn describe(&self) -> String {
        let kind = match self {
            Self::UnsafePartition(_) | Self::MissingPartitionColumn(_) => return self.to_string(),
            Self::Arrow(_) | Self::Delta(DeltaTableError::Arrow { .. }) => "Arrow",
            Self::Delta(DeltaTableError::Parquet { .. }) => "Parquet",
            Self::Task(_) => "writer task",
            Self::Delta(_) => "Delta",
            _ => "lake",
        };
        format!("a {kind} error")
    }
}

/// The `txn` app id under which offsets of `topic`/`partition` read by `group` are kept.
pub fn app_id(group: &str, topic: &str, partition: i32) -> String {
    format!("{group}/{topic}/{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_checked() {
        assert!(is_district("110108"));
        assert!(!is_district("../../"));
        assert!(!is_district("11010a"));
        assert!(is_month("2025-06"));
        assert!(!is_month("2025/06"));
        assert!(!is_month("2025-6"));
    }

    #[test]
    fn lake_root_from_path_and_url() {
        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot::parse(dir.path().join("lake").to_str().unwrap()).unwrap();
        assert!(
            root.table_url("hotline_tickets")
                .path()
                .ends_with("/lake/hotline_tickets/")
        );
        let s3 = LakeRoot::parse("s3://bucket/prefix").unwrap();
        assert_eq!(s3.table_url("t").as_str(), "s3://bucket/prefix/t/");
    }
}
