//! `kpi-query`: serves the KPI catalogue and read-only SQL over the lake on HTTP and the
//! PostgreSQL protocol.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use civicpulse_core::settings::load_config;
use civicpulse_core::telemetry;
use clap::Parser;
use kpi_query::pg::Credentials;
use kpi_query::{QueryEngine, QueryLimits, QueryServiceSettings, http, pg};

#[derive(Debug, Parser)]
#[command(about = "Serves the civicpulse KPI catalogue and read-only SQL over the lake")]
struct Args {
    /// TOML configuration file (sections [query], [lake], [telemetry]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Lake root: a directory or `s3://bucket/prefix`.
    #[arg(long)]
    lake: Option<String>,
    /// HTTP address (overrides query.http_addr).
    #[arg(long)]
    http: Option<String>,
    /// PostgreSQL protocol address (overrides query.pg_addr).
    #[arg(long)]
    pg: Option<String>,
    /// Bearer token HTTP clients must send.
    #[arg(long, env = "CIVICPULSE_QUERY_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Password of the PostgreSQL user (query.pg_user).
    #[arg(long, env = "CIVICPULSE_QUERY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Settings(#[from] civicpulse_core::settings::SettingsError),
    #[error("{0}")]
    Address(String),
    #[error("{0}")]
    Credentials(String),
    #[error(transparent)]
    Pg(#[from] pg::PgSetupError),
    #[error(transparent)]
    Query(#[from] kpi_query::QueryError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Refuses an empty credential: an empty token or password would let anyone in who sends
/// nothing.
fn credential(value: Option<String>, what: &str) -> Result<Option<String>, MainError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(MainError::Credentials(format!(
            "{what} is set but empty: set a non-empty value or unset it"
        ))),
        other => Ok(other),
    }
}

/// Refuses credential variables that are set but empty: clap and the configuration loader
/// would read them as unset, and the service would start without the credential.
fn no_empty_credential_variables() -> Result<(), MainError> {
    const VARIABLES: [&str; 4] = [
        "CIVICPULSE_QUERY_TOKEN",
        "CIVICPULSE_QUERY__TOKEN",
        "CIVICPULSE_QUERY_PASSWORD",
        "CIVICPULSE_QUERY__PASSWORD",
    ];
    match VARIABLES.into_iter().find(|v| {
        std::env::var_os(v).is_some_and(|value| value.to_string_lossy().trim().is_empty())
    }) {
        Some(v) => Err(MainError::Credentials(format!(
            "{v} is set but empty: set a non-empty value or unset it"
        ))),
        None => Ok(()),
    }
}

/// The PostgreSQL port's TLS, from `query.tls_cert_path` and `query.tls_key_path` (both or
/// neither).
fn pg_tls(q: &kpi_query::QuerySettings) -> Result<Option<pg::Tls>, MainError> {
    match (&q.tls_cert_path, &q.tls_key_path) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(pg::Tls::from_pem_files(cert, key)?)),
        _ => Err(MainError::Credentials(
            "set both query.tls_cert_path and query.tls_key_path, or neither".into(),
        )),
    }
}

/// Parses an address; one that is not loopback needs the credential that guards it.
fn address(value: &str, guarded: bool, what: &str) -> Result<Option<SocketAddr>, MainError> {
    if value.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = value
        .parse()
        .map_err(|_| MainError::Address(format!("{what} address {value:?} is not host:port")))?;
    if !addr.ip().is_loopback() && !guarded {
        return Err(MainError::Address(format!(
            "{what} on {addr} needs credentials: set CIVICPULSE_QUERY_{} or bind to 127.0.0.1",
            if what == "HTTP" { "TOKEN" } else { "PASSWORD" }
        )));
    }
    Ok(Some(addr))
}

async fn run(args: Args) -> Result<(), MainError> {
    no_empty_credential_variables()?;
    let mut settings: QueryServiceSettings = load_config(args.config.as_deref())?;
    if let Some(lake) = args.lake {
        settings.lake.root = lake;
    }
    if let Some(a) = args.http {
        settings.query.http_addr = a;
    }
    if let Some(a) = args.pg {
        settings.query.pg_addr = a;
    }
    if args.token.is_some() {
        settings.query.token = args.token;
    }
    if args.password.is_some() {
        settings.query.password = args.password;
    }
    telemetry::init(&settings.telemetry);
    let q = &mut settings.query;
    q.token = credential(q.token.take(), "the HTTP token (CIVICPULSE_QUERY_TOKEN)")?;
    q.password = credential(
        q.password.take(),
        "the PostgreSQL password (CIVICPULSE_QUERY_PASSWORD)",
    )?;
    if q.pg_user.trim().is_empty() {
        return Err(MainError::Credentials("query.pg_user is empty".into()));
    }
    let q = &settings.query;
    let http_addr = address(&q.http_addr, q.token.is_some(), "HTTP")?;
    let pg_addr = address(&q.pg_addr, q.password.is_some(), "PostgreSQL")?;
    let tls = match pg_addr {
        Some(_) => pg_tls(q)?,
        None => None,
    };
    let engine =
        Arc::new(QueryEngine::open(&settings.lake, &q.weights, QueryLimits::from(q)).await?);
    tracing::info!(
        lake = %settings.lake.root,
        kpis = engine.catalog().kpis().len(),
        views = engine.catalog().views().len(),
        "kpi-query ready"
    );
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = http_addr {
        let router = http::router(engine.clone(), q.token.clone());
        tasks.spawn(async move { http::serve(addr, router).await });
    }
    if let Some(addr) = pg_addr {
        let credentials = Credentials {
            user: q.pg_user.clone(),
            password: q.password.clone(),
            tls,
        };
        let engine = engine.clone();
        tasks.spawn(async move { pg::serve(engine, addr, credentials).await });
    }
    tokio::select! {
        Some(ended) = tasks.join_next() => {
            ended.map_err(|e| std::io::Error::other(e.to_string()))??;
        }
        () = civicpulse_core::service::shutdown_signal() => {
            tracing::info!("kpi-query stopping");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    civicpulse_core::secret::refuse_example_secrets("kpi-query");
    let args = Args::parse();
    // Deeply nested SQL recurses deeply in DataFusion's planner: give it room rather than
    // letting a hostile query overflow a 2 MiB worker stack and abort the process.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(256 << 20)
        .build()
        .expect("Tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kpi-query: {e}");
            ExitCode::FAILURE
        }
    }
}
