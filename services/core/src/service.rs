//! The `main` of an ingest service: flags, configuration, telemetry, then the landing engine
//! until SIGTERM or Ctrl-C.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::Date32Type;

use crate::division::{CommunityRecord, DivisionTable};
use crate::event::Event;
use crate::kafka::{DeadLetter, client_config, ensure_topics, landing_consumer, partition_count};
use crate::lake::{FileSettings, LakeError, LakeRoot, LakeTable};
use crate::landing::{LandingEngine, LandingError, LandingSummary};
use crate::metrics::{self, Metrics};
use crate::normalise::Normaliser;
use crate::pii::{CallerHasher, PiiError};
use crate::reference::{self, ReferenceError, ReferenceTable};
use crate::row::LakeRow;
use crate::settings::{Settings, SettingsError};
use crate::telemetry;

/// Flags every ingest service takes; they override the configuration file.
#[derive(Debug, Clone, Parser)]
pub struct IngestArgs {
    /// TOML configuration file (keys in README; `CIVICPULSE_<SECTION>__<KEY>` overrides).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers, `HOST:PORT[,HOST:PORT…]`.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Lake root: a directory or `s3://bucket/prefix`.
    #[arg(long)]
    pub lake: Option<String>,
    /// Address of `/metrics` and `/healthz` (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    pub http: Option<String>,
    /// Consumer group (default `civicpulse-<service>`).
    #[arg(long)]
    pub group: Option<String>,
    /// Topic to consume (default the stream's topic).
    #[arg(long)]
    pub topic: Option<String>,
}

/// Errors that stop a service before or while it lands.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Configuration is wrong or a secret is missing.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The hash key is unusable.
    #[error(transparent)]
    Pii(#[from] PiiError),
    /// The communities reference in the lake could not be read.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The metrics address is not an address.
    #[error("telemetry.http_addr {0:?} is not HOST:PORT")]
    HttpAddr(String),
    /// Kafka clients could not be created.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A startup task on the blocking pool failed.
    #[error("startup: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The lake could not be opened.
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    /// Landing stopped with an error.
    #[error(transparent)]
    Landing(#[from] LandingError),
}

/// Runs ingest service `service` for stream `E` as a process `main`.
pub fn ingest_main<E: Event>(service: &'static str, default_http: &'static str) -> ExitCode {
    crate::secret::refuse_example_secrets(service);
    let args = IngestArgs::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{service}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_ingest::<E>(service, default_http, args)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{service} stopped");
            eprintln!("{service}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads configuration with `args` applied on top.
pub fn settings_for<E: Event>(
    service: &str,
    default_http: &str,
    args: &IngestArgs,
) -> Result<Settings, SettingsError> {
    let mut settings = Settings::load(args.config.as_deref())?;
    let kafka = &mut settings.kafka;
    if let Some(brokers) = &args.brokers {
        kafka.brokers = brokers.clone();
    }
    if let Some(group) = &args.group {
        kafka.group_id = group.clone();
    }
    if let Some(topic) = &args.topic {
        kafka.topic = topic.clone();
    }
    if kafka.group_id.is_empty() {
        kafka.group_id = format!("civicpulse-{service}");
    }
    if kafka.topic.is_empty() {
        kafka.topic = E::TOPIC.into();
    }
    if let Some(lake) = &args.lake {
        settings.lake.root = lake.clone();
    }
    if let Some(http) = &args.http {
        settings.telemetry.http_addr = http.clone();
    } else if settings.telemetry.http_addr.is_empty() {
        settings.telemetry.http_addr = default_http.into();
    }
    Ok(settings)
}

/// Runs ingest service `service` for stream `E` until SIGTERM or Ctrl-C.
pub async fn run_ingest<E: Event>(
    service: &str,
    default_http: &str,
    args: IngestArgs,
) -> Result<LandingSummary, ServiceError> {
    let metrics = Arc::new(Metrics::new(service));
    run_ingest_with::<E>(service, default_http, args, metrics, shutdown_signal()).await
}

/// Runs ingest service `service` for stream `E` into `metrics` until `shutdown` resolves: for
/// programs that run the services in-process (the `civicpulse demo`) and watch their progress.
pub async fn run_ingest_with<E: Event>(
    service: &str,
    default_http: &str,
    args: IngestArgs,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<LandingSummary, ServiceError> {
    let settings = settings_for::<E>(service, default_http, &args)?;
    telemetry::init(&settings.telemetry);
    let hasher = if E::HASHES_CALLERS {
        Some(CallerHasher::new(&Settings::hash_key()?)?)
    } else {
        None
    };
    let addr: SocketAddr = settings
        .telemetry
        .http_addr
        .parse()
        .map_err(|_| ServiceError::HttpAddr(settings.telemetry.http_addr.clone()))?;
    let served = metrics.clone();
    tokio::spawn(async move {
        if let Err(e) = metrics::serve(addr, served).await {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    let root = LakeRoot::parse(&settings.lake.root)?;
    let storage: HashMap<_, _> = settings.lake.storage_options.clone().into_iter().collect();
    let divisions = load_divisions(&root, &storage).await?;
    let files = FileSettings {
        zstd_level: settings.landing.zstd_level,
        target_file_size: settings.landing.target_file_size,
    };
    let table =
        LakeTable::open_or_create(root.table_url(E::TABLE), E::Row::schema(), files, storage)
            .await?;
    let consumer = landing_consumer(&settings.kafka, metrics.clone())?;
    // The dead-letter topic mirrors the source topic's partitions.
    let kafka = client_config(&settings.kafka);
    let (config, topic) = (kafka.clone(), settings.kafka.topic.clone());
    // A metadata request blocks its thread for up to 10 s.
    let partitions = tokio::task::spawn_blocking(move || partition_count(&config, &topic))
        .await??
        .unwrap_or(1);
    ensure_topics(&kafka, &[(&settings.kafka.dlq_topic(), partitions)]).await?;
    let dead_letter = DeadLetter::new(&settings.kafka)?;
    let engine = LandingEngine::<E>::new(
        consumer,
        dead_letter,
        table,
        Normaliser::new(divisions, hasher).with_limits(settings.landing.row_limits()),
        settings.landing.clone(),
        settings.kafka.clone(),
        metrics,
    );
    Ok(engine.run(shutdown).await?)
}

/// The division table with the lake's `communities` reference when it has one (and rows):
/// community codes are then checked against it and names resolve to codes. Read once, at
/// start: a reference loaded later takes effect when the service restarts. Without the table,
/// codes are checked for form and nesting only and names are not resolved.
pub async fn load_divisions(
    root: &LakeRoot,
    storage: &HashMap<String, String>,
) -> Result<DivisionTable, ServiceError> {
    let batch = reference::read_table(root, storage, ReferenceTable::Communities).await?;
    let divisions = DivisionTable::builtin();
    if batch.num_rows() == 0 {
        tracing::info!("no communities reference in the lake: community names are not resolved");
        return Ok(divisions);
    }
    let records = community_records(&batch);
    tracing::info!(rows = records.len(), "communities reference loaded");
    Ok(divisions.with_communities(records))
}

/// The rows of a `communities` batch (the reference module's schema) as the division table
/// takes them.
pub fn community_records(batch: &RecordBatch) -> Vec<CommunityRecord> {
    let text = |name: &str| batch.column_by_name(name).map(|c| c.as_string::<i32>());
    let (Some(code), Some(name), Some(street), Some(street_name), Some(district)) = (
        text("community_code"),
        text("community_name"),
        text("street_code"),
        text("street_name"),
        text("district_code"),
    ) else {
        return Vec::new();
    };
    let zone = text("functional_zone");
    let Some(from) = batch
        .column_by_name("valid_from")
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
    else {
        return Vec::new();
    };
    let value = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_owned());
    (0..batch.num_rows())
        .filter_map(|i| {
            Some(CommunityRecord {
                community_code: value(code, i)?,
                community_name: value(name, i).unwrap_or_default(),
                street_code: value(street, i).unwrap_or_default(),
                street_name: value(street_name, i).unwrap_or_default(),
                district_code: value(district, i)?,
                functional_zone: zone.and_then(|z| value(z, i)),
                valid_from: from.is_valid(i).then(|| from.value_as_date(i)).flatten()?,
            })
        })
        .collect()
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: committing open batches");
}
