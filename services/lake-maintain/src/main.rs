//! `lake-maintain`: keeps the lake's tables fast to read while ingest keeps writing.
//!
//! Each round, for every table: compaction of small files into large ones (a reader never sees
//! a row twice: the rewrite is one Delta commit that removes the small files and adds the
//! large one), a log checkpoint, then vacuum of files no version within the retention period
//! references.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use civicpulse_core::lake::{LakeRoot, is_missing_local_table};
use civicpulse_core::settings::{MaintainSettings, Settings, SettingsError};
use civicpulse_core::{service, telemetry};
use clap::Parser;
use deltalake::DeltaTableError;

/// Tables the ingest services write.
const TABLES: [&str; 3] = ["hotline_tickets", "facility_changes", "renovation_progress"];

#[derive(Debug, Parser)]
#[command(about = "Compacts, checkpoints and vacuums the civicpulse lake")]
struct Args {
    /// TOML configuration file (section [maintain], and [lake]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Lake root: a directory or `s3://bucket/prefix`.
    #[arg(long)]
    lake: Option<String>,
    /// Run one round and exit.
    #[arg(long)]
    once: bool,
    /// Seconds between rounds (overrides maintain.interval_secs).
    #[arg(long)]
    interval_secs: Option<u64>,
    /// Vacuum retention in seconds (overrides maintain.vacuum_retention_secs; default 7 days).
    #[arg(long)]
    vacuum_retention_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
enum MaintainError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("lake: {0}")]
    Lake(#[from] civicpulse_core::lake::LakeError),
    #[error("{table}: {source}")]
    Table {
        table: String,
        source: DeltaTableError,
    },
}

/// What one round did to one table.
#[derive(Debug, Default)]
struct RoundReport {
    files_removed: u64,
    files_added: u64,
    vacuumed: usize,
    version: Option<u64>,
}

async fn maintain_table(
    root: &LakeRoot,
    name: &str,
    settings: &MaintainSettings,
    storage: &std::collections::HashMap<String, String>,
) -> Result<Option<RoundReport>, DeltaTableError> {
    let url = root.table_url(name);
    if is_missing_local_table(&url) {
        return Ok(None); // not created yet
    }
    let table =
        deltalake::DeltaTable::try_from_url_with_storage_options(url, storage.clone()).await?;
    if table.version().is_none() {
        return Ok(None); // not created yet
    }
    let target = NonZeroU64::new(settings.target_file_size.max(1)).expect("max(1) is non-zero");
    let (table, metrics) = table.optimize().with_target_size(target).await?;
    deltalake::checkpoints::create_checkpoint(&table, None).await?;
    let retention = chrono::Duration::seconds(settings.vacuum_retention_secs as i64);
    let (table, vacuum) = table
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .await?;
    Ok(Some(RoundReport {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        vacuumed: vacuum.files_deleted.len(),
        version: table.version(),
    }))
}

async fn run(args: Args) -> Result<(), MaintainError> {
    let mut settings = Settings::load(args.config.as_deref())?;
    telemetry::init(&settings.telemetry);
    if let Some(lake) = args.lake {
        settings.lake.root = lake;
    }
    if let Some(secs) = args.interval_secs {
        settings.maintain.interval_secs = secs;
    }
    if let Some(secs) = args.vacuum_retention_secs {
        settings.maintain.vacuum_retention_secs = secs;
    }
    let root = LakeRoot::parse(&settings.lake.root)?;
    let storage = settings.lake.storage_options.clone().into_iter().collect();
    let shutdown = service::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        for name in TABLES {
            match maintain_table(&root, name, &settings.maintain, &storage).await {
                Ok(Some(r)) => tracing::info!(
                    table = name,
                    files_removed = r.files_removed,
                    files_added = r.files_added,
                    vacuumed = r.vacuumed,
                    version = r.version,
                    "maintained"
                ),
                Ok(None) => tracing::debug!(table = name, "no table yet"),
                // A lost race with a concurrent writer is retried next round.
                Err(e) if args.once => {
                    return Err(MaintainError::Table {
                        table: name.into(),
                        source: e,
                    });
                }
                Err(e) => {
                    tracing::warn!(table = name, error = %e, "maintenance failed; retrying next round")
                }
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(settings.maintain.interval_secs)) => {}
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lake-maintain: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lake-maintain: {e}");
            ExitCode::FAILURE
        }
    }
}
