//! `lake-maintain`: keeps the lake's tables fast to read while ingest keeps writing.
//!
//! Each round, for every table: compaction of small files into large ones (a reader never sees
//! a row twice: the rewrite is one Delta commit that removes the small files and adds the
//! large one), a log checkpoint, then vacuum of files no version within the retention period
//! references, including files of commits that never happened. The retention has a floor: the
//! longest an ingest batch stays open plus an hour, so a batch's files are never deleted before
//! their commit lands.
//!
//! `lake-maintain load-reference` loads the reference files (communities, life circles,
//! community assessments) into the lake instead: each file is validated whole, and only when
//! every file given is valid is each table's content replaced, in one commit per table.
//!
//! `lake-maintain state` keeps the state tables (each hotline ticket's current state) up to date
//! with the event tables, following their logs; `--once` applies everything committed so far
//! and exits, `--rebuild` folds every event again (after a definition changed). It is part of
//! lake-maintain, not a binary of its own: it is the lake's other writer that is not an ingest,
//! and it needs the same DataFusion that compaction already links.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use civicpulse_core::division::DivisionTable;
use civicpulse_core::lake::{LakeRoot, is_missing_local_table};
use civicpulse_core::reference::{self, ReferenceError, ReferenceTable};
use civicpulse_core::settings::{LandingSettings, MaintainSettings, Settings, SettingsError};
use civicpulse_core::{service, telemetry};
use civicpulse_state::keeper::Keeper;
use clap::{Parser, Subcommand};
use deltalake::DeltaTableError;
use deltalake::operations::vacuum::VacuumMode;

/// Tables the ingest services write.
const TABLES: [&str; 3] = ["hotline_tickets", "facility_changes", "renovation_progress"];

/// Every table a round maintains: the event tables and the state tables (each state commit
/// rewrites the files it touches, so their old files pile up until vacuum).
fn maintained() -> impl Iterator<Item = &'static str> {
    TABLES
        .into_iter()
        .chain(civicpulse_state::STATE_TABLES.iter().map(|t| t.name))
}

#[derive(Debug, Parser)]
#[command(
    about = "Compacts, checkpoints and vacuums the civicpulse lake; `load-reference` loads the reference tables"
)]
struct Args {
    /// TOML configuration file (sections [maintain], [lake] and [reference]).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Lake root: a directory or `s3://bucket/prefix`.
    #[arg(long, global = true)]
    lake: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    /// Run one round and exit.
    #[arg(long)]
    once: bool,
    /// Seconds between rounds (overrides maintain.interval_secs).
    #[arg(long)]
    interval_secs: Option<u64>,
    /// Vacuum retention in seconds (overrides maintain.vacuum_retention_secs; default 7 days; at
    /// least landing.max_age_ms plus an hour).
    #[arg(long)]
    vacuum_retention_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validates the reference files and replaces the lake's `communities`, `life_circles`
    /// and `community_assessments` tables with them (one commit per table; nothing is written
    /// unless every file given is valid). Files come from the flags, else from [reference].
    LoadReference(LoadReference),
    /// Keeps the state tables up to date with the event tables: follows their logs, applying
    /// each new commit exactly once (the state records the event table version it has applied).
    State(StateArgs),
}

#[derive(Debug, clap::Args)]
struct StateArgs {
    /// Apply everything committed so far, then exit.
    #[arg(long)]
    once: bool,
    /// Empty the state first and fold every event again (after a definition changed); with
    /// --once, exits when caught up.
    #[arg(long)]
    rebuild: bool,
    /// Milliseconds between looks at the logs (overrides maintain.state_interval_ms).
    #[arg(long)]
    interval_ms: Option<u64>,
    /// About how many events one state commit folds in (overrides maintain.state_max_rows).
    #[arg(long)]
    max_rows: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct LoadReference {
    /// Communities file, CSV with a header or Parquet (overrides reference.communities).
    #[arg(long)]
    communities: Option<PathBuf>,
    /// Life circles file (overrides reference.life_circles).
    #[arg(long)]
    life_circles: Option<PathBuf>,
    /// Community assessments file (overrides reference.community_assessments).
    #[arg(long)]
    assessments: Option<PathBuf>,
    /// Validate only; write nothing.
    #[arg(long)]
    check: bool,
}

/// Time to write and commit a batch once it closes (retries, a slow object store): added to the
/// longest a batch stays open to give the shortest vacuum retention.
const RETENTION_MARGIN: Duration = Duration::from_secs(3600);

/// Longest vacuum retention accepted: anything above is an overflow or a typo (and would never
/// vacuum anything).
const MAX_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
enum MaintainError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A retention under the floor would delete files the ingest has written but not yet
    /// committed (they are unreferenced until their commit lands).
    #[error(
        "maintain.vacuum_retention_secs = {secs} is below {floor} s: the longest an ingest batch stays open (landing.max_age_ms) plus {margin} s to write and commit it; vacuum would delete files of batches not yet committed"
    )]
    RetentionBelowFloor { secs: u64, floor: u64, margin: u64 },
    #[error(
        "maintain.vacuum_retention_secs = {secs} is above {max} s (100 years): an overflow or a typo"
    )]
    RetentionTooLong { secs: u64, max: u64 },
    #[error("lake: {0}")]
    Lake(#[from] civicpulse_core::lake::LakeError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(
        "no reference file to load: give --communities, --life-circles or --assessments, or set [reference] communities, life_circles or community_assessments"
    )]
    NoReferenceFiles,
    #[error(
        "--once, --interval-secs and --vacuum-retention-secs are for maintenance rounds, not load-reference"
    )]
    RoundFlagsWithLoad,
    #[error(
        "--once, --interval-secs and --vacuum-retention-secs before `state` are for maintenance rounds; give `state --once`"
    )]
    RoundFlagsWithState,
    #[error(transparent)]
    State(#[from] civicpulse_state::StateError),
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

/// The shortest retention vacuum may use: the longest an ingest batch stays open, from the same
/// `[landing]` settings the ingest services read, plus [`RETENTION_MARGIN`].
fn retention_floor(landing: &LandingSettings) -> Duration {
    landing.max_age().saturating_add(RETENTION_MARGIN)
}

/// `maintain.vacuum_retention_secs` checked against the floor and [`MAX_RETENTION`].
fn vacuum_retention(settings: &Settings) -> Result<chrono::Duration, MaintainError> {
    let secs = settings.maintain.vacuum_retention_secs;
    let floor = retention_floor(&settings.landing);
    if Duration::from_secs(secs) < floor {
        return Err(MaintainError::RetentionBelowFloor {
            secs,
            floor: floor.as_secs_f64().ceil() as u64,
            margin: RETENTION_MARGIN.as_secs(),
        });
    }
    if secs > MAX_RETENTION.as_secs() {
        return Err(MaintainError::RetentionTooLong {
            secs,
            max: MAX_RETENTION.as_secs(),
        });
    }
    Ok(chrono::Duration::seconds(
        i64::try_from(secs).expect("at most MAX_RETENTION"),
    ))
}

async fn maintain_table(
    root: &LakeRoot,
    name: &str,
    settings: &MaintainSettings,
    retention: chrono::Duration,
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
    let (table, vacuum) = table
        .vacuum()
        .with_retention_period(retention)
        // Full: also files no commit references (those of a writer killed between writing and
        // committing); vacuum_retention keeps those still waiting for their commit.
        .with_mode(VacuumMode::Full)
        .with_enforce_retention_duration(false)
        .await?;
    Ok(Some(RoundReport {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        vacuumed: vacuum.files_deleted.len(),
        version: table.version(),
    }))
}

/// `load-reference`: every file parsed and validated, then each table replaced.
async fn load_reference(settings: &Settings, args: LoadReference) -> Result<(), MaintainError> {
    let mut files = settings.reference.clone();
    if let Some(f) = args.communities {
        files.communities = Some(f);
    }
    if let Some(f) = args.life_circles {
        files.life_circles = Some(f);
    }
    if let Some(f) = args.assessments {
        files.community_assessments = Some(f);
    }
    let divisions = DivisionTable::builtin();
    let mut loaded = Vec::new();
    for table in ReferenceTable::ALL {
        if let Some(path) = files.file(table) {
            let batch = reference::read_file(table, path, &divisions)?;
            loaded.push((table, path.to_path_buf(), batch));
        }
    }
    if loaded.is_empty() {
        return Err(MaintainError::NoReferenceFiles);
    }
    let root = LakeRoot::parse(&settings.lake.root)?;
    let storage = settings.lake.storage_options.clone().into_iter().collect();
    // Assessments name communities of the communities loaded with them, else of the lake's
    // (when it has any).
    if let Some((_, path, batch)) = loaded
        .iter()
        .find(|(t, _, _)| *t == ReferenceTable::CommunityAssessments)
    {
        let codes = match loaded
            .iter()
            .find(|(t, _, _)| *t == ReferenceTable::Communities)
        {
            Some((_, _, communities)) => reference::community_codes(communities),
            None => reference::community_codes(
                &reference::read_table(&root, &storage, ReferenceTable::Communities).await?,
            ),
        };
        if !codes.is_empty() {
            let csv = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            reference::check_assessed_communities(batch, &path.display().to_string(), csv, &codes)?;
        }
    }
    if args.check {
        for (table, path, batch) in &loaded {
            println!(
                "{table}: {} rows in {} are valid",
                batch.num_rows(),
                path.display()
            );
        }
        return Ok(());
    }
    for (table, path, batch) in loaded {
        let rows = batch.num_rows();
        let version = reference::write_table(&root, &storage, table, batch).await?;
        tracing::info!(table = table.name(), rows, version, file = %path.display(), "reference table loaded");
        println!(
            "{table}: {rows} rows from {} (version {version})",
            path.display()
        );
    }
    Ok(())
}

/// `lake-maintain state`: brings every state table up to date once, or follows the logs.
async fn keep_state(settings: &Settings, args: StateArgs) -> Result<(), MaintainError> {
    let root = LakeRoot::parse(&settings.lake.root)?;
    let storage: std::collections::HashMap<String, String> =
        settings.lake.storage_options.clone().into_iter().collect();
    let files = civicpulse_core::lake::FileSettings {
        zstd_level: settings.landing.zstd_level,
        target_file_size: settings.landing.target_file_size,
    };
    let max_rows = args.max_rows.unwrap_or(settings.maintain.state_max_rows);
    let grace = Duration::from_secs(settings.maintain.state_replaced_grace_secs);
    let keepers: Vec<Keeper> = Keeper::every(&root, storage, files, max_rows)
        .into_iter()
        .map(|k| k.with_replaced_grace(grace))
        .collect();
    if args.rebuild {
        for keeper in &keepers {
            keeper.reset().await?;
            tracing::info!(state = keeper.table().name, "state emptied for a rebuild");
        }
    }
    if args.once {
        // Each step on stdout: a long catch-up or rebuild shows its progress and pace.
        let printed = |keeper: &Keeper, step: &civicpulse_state::keeper::Applied| {
            let table = keeper.table();
            println!("{}: applied {} {step}", table.name, table.source);
        };
        for result in civicpulse_state::keeper::catch_up_all(&keepers, printed).await {
            result?;
        }
        for keeper in &keepers {
            let applied = keeper.applied().await?;
            println!(
                "{}: {} applied up to version {}",
                keeper.table().name,
                keeper.table().source,
                applied.map_or("none".to_string(), |v| v.to_string())
            );
        }
        return Ok(());
    }
    let interval = Duration::from_millis(
        args.interval_ms
            .unwrap_or(settings.maintain.state_interval_ms)
            .max(1),
    );
    civicpulse_state::keeper::follow(&keepers, interval, service::shutdown_signal()).await;
    Ok(())
}

async fn run(args: Args) -> Result<(), MaintainError> {
    let mut settings = Settings::load(args.config.as_deref())?;
    telemetry::init(&settings.telemetry);
    if let Some(lake) = args.lake {
        settings.lake.root = lake;
    }
    match args.command {
        Some(Command::LoadReference(load)) => {
            if args.once || args.interval_secs.is_some() || args.vacuum_retention_secs.is_some() {
                return Err(MaintainError::RoundFlagsWithLoad);
            }
            return load_reference(&settings, load).await;
        }
        Some(Command::State(state)) => {
            if args.once || args.interval_secs.is_some() || args.vacuum_retention_secs.is_some() {
                return Err(MaintainError::RoundFlagsWithState);
            }
            return keep_state(&settings, state).await;
        }
        None => {}
    }
    if let Some(secs) = args.interval_secs {
        settings.maintain.interval_secs = secs;
    }
    if let Some(secs) = args.vacuum_retention_secs {
        settings.maintain.vacuum_retention_secs = secs;
    }
    let retention = vacuum_retention(&settings)?;
    let root = LakeRoot::parse(&settings.lake.root)?;
    let storage = settings.lake.storage_options.clone().into_iter().collect();
    let shutdown = service::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        for name in maintained() {
            match maintain_table(&root, name, &settings.maintain, retention, &storage).await {
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
    civicpulse_core::secret::refuse_example_secrets("lake-maintain");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings from a `[maintain]`/`[landing]` TOML text, then the retention check: what
    /// lake-maintain does at start.
    fn retention_from(toml: &str) -> Result<chrono::Duration, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        let settings = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
        vacuum_retention(&settings).map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_retention_is_above_the_floor() {
        let d = Settings::default();
        assert_eq!(vacuum_retention(&d).unwrap(), chrono::Duration::days(7));
        assert_eq!(
            retention_floor(&d.landing),
            Duration::from_millis(5_000) + RETENTION_MARGIN
        );
    }

    #[test]
    fn the_floor_follows_the_ingest_batch_age() {
        // One hour and five seconds: the default batch age plus the margin.
        assert!(retention_from("[maintain]\nvacuum_retention_secs = 3605\n").is_ok());
        let e = retention_from("[maintain]\nvacuum_retention_secs = 3604\n").unwrap_err();
        assert!(
            e.contains("vacuum_retention_secs = 3604 is below 3605 s")
                && e.contains("landing.max_age_ms"),
            "{e}"
        );
        // Batches open for up to two hours raise it to three.
        let e = retention_from(
            "[landing]\nmax_age_ms = 7200000\n[maintain]\nvacuum_retention_secs = 9000\n",
        )
        .unwrap_err();
        assert!(e.contains("below 10800 s"), "{e}");
        assert!(
            retention_from(
                "[landing]\nmax_age_ms = 7200000\n[maintain]\nvacuum_retention_secs = 10800\n"
            )
            .is_ok()
        );
        assert!(
            retention_from("[maintain]\nvacuum_retention_secs = 0\n")
                .unwrap_err()
                .contains("below")
        );
    }

    #[test]
    fn negative_and_overflowing_retentions_are_refused() {
        for (value, expected) in [
            (
                "-1",
                "integer `-1`, expected an unsigned 64 bit or less integer for key `maintain.vacuum_retention_secs`",
            ),
            ("-604800", "for key `maintain.vacuum_retention_secs`"),
            // The configuration reader saturates a float at u64::MAX.
            (
                "1e30",
                "vacuum_retention_secs = 18446744073709551615 is above",
            ),
            (
                "1e300",
                "is above 3153600000 s (100 years): an overflow or a typo",
            ),
            // TOML integers are 64-bit signed: the file does not parse.
            (
                "9223372036854775808",
                "number too large to fit in target type",
            ),
            ("\"a week\"", "for key `maintain.vacuum_retention_secs`"),
        ] {
            let e = retention_from(&format!("[maintain]\nvacuum_retention_secs = {value}\n"))
                .expect_err(value);
            assert!(e.contains(expected), "{value}: {e}");
        }
        let e = retention_from("[maintain]\nvacuum_retention_secs = 3155760001\n").unwrap_err();
        assert!(e.contains("above 3153600000 s (100 years)"), "{e}");
    }
}
