//! `civicpulse demo`: a simulated city through the whole pipeline in one process.
//!
//! ```text
//! citysim ──► broker (embedded, or --brokers) ──► hotline/facility/renovation ingest ──► lake
//!                                                                                        │
//!               per-district table of the last week ◄── kpi-query (HTTP, PostgreSQL) ◄───┘
//! ```
//!
//! Everything runs in this process: the broker is librdkafka's mock cluster
//! ([`crate::broker`]), the ingest services are `civicpulse_core::service::run_ingest_with`,
//! citysim and kpi-query are their libraries. The demo waits until every row citysim sent has
//! landed, answers the table through kpi-query's catalogue and serves until Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Weekday};
use citysim::clock::Period;
use citysim::profile::{self, CityProfile};
use citysim::{GroundTruth, KafkaSink, SimConfig, SimError, Simulation, Topic};
use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::landing::LandingSummary;
use civicpulse_core::metrics::Metrics;
use civicpulse_core::service::{IngestArgs, ServiceError, run_ingest_with, shutdown_signal};
use civicpulse_core::settings::HASH_KEY_ENV;
use kpi_query::pg::Credentials;
use kpi_query::{QueryEngine, QueryError, QueryLimits, QueryServiceSettings, http, pg};
use rdkafka::error::KafkaError;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::broker::{Backlog, EMBEDDED_PARTITIONS, EmbeddedBroker};
use crate::progress::Progress;
use crate::report::{ReportError, write_leader_summary};
use crate::sink::{CountingSink, RowCounts};
use crate::table::{self, KpiTable, Week};

/// Default HTTP port of kpi-query.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Default PostgreSQL-protocol port of kpi-query.
pub const DEFAULT_PG_PORT: u16 = 5433;
/// File that marks a directory as the demo's own, so a later run may replace its lake.
const MARKER: &str = ".civicpulse-demo";
/// How long landing may make no progress before the demo gives up.
const STALL: Duration = Duration::from_secs(120);

/// Flags of `civicpulse demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// City: beijing (16 districts), chongqing (9 central districts) or hangzhou (13).
    #[arg(long, default_value = "beijing")]
    pub city: String,
    /// Weeks simulated, Monday to Sunday; the table shows the last one.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=104))]
    pub weeks: u32,
    /// First simulated day, a Monday (Asia/Shanghai).
    #[arg(long, default_value = "2024-06-03")]
    pub from: NaiveDate,
    /// Share of the real city simulated (1.0 reproduces the published figures).
    #[arg(long, default_value_t = 0.1)]
    pub scale: f64,
    /// Seed: the same seed and flags simulate the same city (as `citysim --seed`).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Kafka bootstrap servers to use instead of the embedded broker (topics get a prefix of
    /// their own per run).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Directory of the demo's files: the lake, citysim's ground truth, the log, the report.
    #[arg(long, default_value = "civicpulse-demo")]
    pub out: PathBuf,
    /// Lake directory (default `<out>/lake`); must be empty or absent. A lake left by an
    /// earlier demo in `<out>/lake` is replaced.
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// kpi-query's HTTP port on 127.0.0.1 (default 8080, or a free port if 8080 is taken;
    /// 0 picks a free port).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// kpi-query's PostgreSQL-protocol port on 127.0.0.1 (default 5433, or a free port if
    /// taken; 0 picks a free port).
    #[arg(long)]
    pub pg_port: Option<u16>,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The flags describe no run.
    #[error("{0}")]
    Usage(String),
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The broker could not be started or a topic created.
    #[error("embedded broker: {0}")]
    Broker(#[from] KafkaError),
    /// citysim failed.
    #[error("citysim: {0}")]
    Simulation(#[from] SimError),
    /// An ingest service stopped.
    #[error("{service}: {message}")]
    Ingest {
        /// The service.
        service: &'static str,
        /// What happened.
        message: String,
    },
    /// Rows stopped arriving.
    #[error("{0}")]
    Stalled(String),
    /// The state service failed.
    #[error("state: {0}")]
    State(#[from] civicpulse_state::StateError),
    /// kpi-query failed.
    #[error("kpi-query: {0}")]
    Query(#[from] QueryError),
    /// The leader summary failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A listener failed.
    #[error("kpi-query endpoint: {0}")]
    Serve(std::io::Error),
    /// Ctrl-C or SIGTERM before the demo was ready.
    #[error("interrupted")]
    Interrupted,
}

impl DemoError {
    /// Whether the user's flags are at fault (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }
}

/// Sets a random `CIVICPULSE_HASH_KEY` when none is set; returns whether it did.
///
/// # Safety
///
/// Changes the environment: call it before any other thread starts.
pub unsafe fn ensure_hash_key() -> bool {
    if std::env::var_os(HASH_KEY_ENV).is_some_and(|k| !k.is_empty()) {
        return false;
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    // SAFETY: the caller guarantees no other thread reads the environment.
    unsafe { std::env::set_var(HASH_KEY_ENV, key) };
    true
}

/// The demo's files.
struct Layout {
    out: PathBuf,
    lake: PathBuf,
    truth: PathBuf,
    log: PathBuf,
    config: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Layout {
    /// Creates the output directory and a fresh lake.
    fn prepare(args: &DemoArgs) -> Result<Self, DemoError> {
        let out = std::path::absolute(&args.out).map_err(io_error(&args.out))?;
        let own_lake = out.join("lake");
        let lake = match &args.lake {
            Some(l) => std::path::absolute(l).map_err(io_error(l))?,
            None => own_lake.clone(),
        };
        let non_empty = std::fs::read_dir(&lake).is_ok_and(|mut d| d.next().is_some());
        if non_empty {
            if lake == own_lake && out.join(MARKER).exists() {
                std::fs::remove_dir_all(&lake).map_err(io_error(&lake))?;
            } else {
                return Err(DemoError::Usage(format!(
                    "{} is not empty: the demo lands into a fresh lake (pass --lake with an empty directory)",
                    lake.display()
                )));
            }
        }
        std::fs::create_dir_all(&lake).map_err(io_error(&lake))?;
        let marker = out.join(MARKER);
        std::fs::write(
            &marker,
            "written by `civicpulse demo`; its lake may be replaced\n",
        )
        .map_err(io_error(&marker))?;
        let config = out.join("ingest.toml");
        // Commit a second after the last record rather than the default five.
        std::fs::write(
            &config,
            "# The ingest services of `civicpulse demo` (keys: README, Configuration).\n\
             [landing]\nmax_age_ms = 1000\n",
        )
        .map_err(io_error(&config))?;
        Ok(Self {
            truth: out.join("truth.json"),
            log: out.join("demo.log"),
            config,
            lake,
            out,
        })
    }
}

/// Logs go to a file: the terminal has the progress bars.
fn init_logging(path: &Path) -> Result<(), DemoError> {
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,buoyant_kernel=warn,deltalake_core=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

/// A loopback address for the endpoint of `flag`: the `requested` port (0: any free one), else
/// `default` or, if that is taken, a free port with a note saying so.
fn pick_port(
    requested: Option<u16>,
    default: u16,
    flag: &str,
) -> Result<(SocketAddr, Option<String>), DemoError> {
    // Bound and released: kpi-query binds again a moment later.
    let bind =
        |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).and_then(|l| l.local_addr());
    match requested {
        Some(port) => bind(port).map(|addr| (addr, None)).map_err(|e| {
            DemoError::Usage(format!(
                "127.0.0.1:{port} ({flag}) cannot be used: {e}; pass {flag} 0 for a free port"
            ))
        }),
        None => match bind(default) {
            Ok(addr) => Ok((addr, None)),
            Err(_) => {
                let addr = bind(0).map_err(DemoError::Serve)?;
                let note = format!(
                    "  port {default} is taken: using {} instead ({flag} chooses)",
                    addr.port()
                );
                Ok((addr, Some(note)))
            }
        },
    }
}

/// One in-process ingest service.
struct Ingest {
    service: &'static str,
    metrics: Arc<Metrics>,
    task: Option<JoinHandle<Result<LandingSummary, ServiceError>>>,
}

/// What the ingest services need to start.
struct IngestPlan<'a> {
    brokers: &'a str,
    lake: &'a Path,
    config: &'a Path,
    prefix: &'a str,
    stop: &'a watch::Receiver<bool>,
}

impl IngestPlan<'_> {
    fn spawn<E: Event>(&self, service: &'static str) -> Ingest {
        let metrics = Arc::new(Metrics::new(service));
        let args = IngestArgs {
            config: Some(self.config.to_owned()),
            brokers: Some(self.brokers.to_owned()),
            lake: Some(self.lake.to_string_lossy().into_owned()),
            http: Some("127.0.0.1:0".into()),
            group: Some(format!("civicpulse-demo-{service}")),
            topic: Some(format!("{}{}", self.prefix, E::TOPIC)),
        };
        let mut stop = self.stop.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let task = tokio::spawn(run_ingest_with::<E>(
            service,
            "127.0.0.1:0",
            args,
            metrics.clone(),
            shutdown,
        ));
        Ingest {
            service,
            metrics,
            task: Some(task),
        }
    }
}

/// Everything that runs until the demo stops.
struct Running {
    broker: Option<EmbeddedBroker>,
    ingests: Vec<Ingest>,
    stop: watch::Sender<bool>,
    cancel: Arc<AtomicBool>,
    simulation: Option<JoinHandle<Result<GroundTruth, SimError>>>,
}

impl Running {
    /// Stops the simulation, lets the ingest services commit what is open, then the broker.
    async fn shut_down(mut self, progress: &Progress) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(sim) = self.simulation.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), sim).await;
        }
        let _ = self.stop.send(true);
        for ingest in &mut self.ingests {
            if let Some(task) = ingest.task.take() {
                match tokio::time::timeout(Duration::from_secs(30), task).await {
                    Ok(Ok(Ok(_))) => {}
                    Ok(Ok(Err(e))) => progress.note(&format!("{}: {e}", ingest.service)),
                    Ok(Err(e)) => progress.note(&format!("{}: {e}", ingest.service)),
                    Err(_) => progress.note(&format!("{}: did not stop in 30 s", ingest.service)),
                }
            }
        }
        drop(self.broker.take());
    }

    /// An ingest service that stopped on its own (it only should on shutdown).
    async fn failed_ingest(&mut self) -> Option<DemoError> {
        for ingest in &mut self.ingests {
            if ingest.task.as_ref().is_some_and(JoinHandle::is_finished) {
                let task = ingest.task.take().expect("checked");
                let message = match task.await {
                    Ok(Ok(_)) => "stopped early".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                return Some(DemoError::Ingest {
                    service: ingest.service,
                    message,
                });
            }
        }
        None
    }
}

/// Runs the demo until Ctrl-C or SIGTERM; `key_generated` says whether the hash key was made up.
pub async fn run(args: DemoArgs, key_generated: bool) -> Result<(), DemoError> {
    let started = Instant::now();
    let city = profile::city(&args.city).ok_or_else(|| {
        let known: Vec<&str> = profile::CITIES.iter().map(|c| c.key).collect();
        DemoError::Usage(format!(
            "unknown city {:?}; known: {}",
            args.city,
            known.join(", ")
        ))
    })?;
    if args.from.weekday() != Weekday::Mon {
        return Err(DemoError::Usage(format!(
            "--from {} is a {:?}: weeks start on a Monday",
            args.from,
            args.from.weekday()
        )));
    }
    if !(args.scale > 0.0 && args.scale <= 100.0) {
        return Err(DemoError::Usage(format!(
            "--scale {} is not in (0, 100]",
            args.scale
        )));
    }
    let to = args.from + chrono::Days::new(7 * u64::from(args.weeks) - 1);
    let period = Period {
        from: args.from,
        to,
    };
    let week = Week {
        monday: to - chrono::Days::new(6),
    };
    let (http_addr, http_note) = pick_port(args.http_port, DEFAULT_HTTP_PORT, "--http-port")?;
    let (pg_addr, pg_note) = pick_port(args.pg_port, DEFAULT_PG_PORT, "--pg-port")?;
    let layout = Layout::prepare(&args)?;
    init_logging(&layout.log)?;
    let progress = Progress::new();
    progress.note(&format!(
        "civicpulse demo: {} {}, {} – {} ({} week{}), scale {}, seed {}",
        capitalise(city.key),
        city.name_zh,
        period.from,
        period.to,
        args.weeks,
        if args.weeks == 1 { "" } else { "s" },
        args.scale,
        args.seed
    ));
    for note in [http_note, pg_note].into_iter().flatten() {
        progress.note(&note);
    }

    // The broker: embedded unless --brokers; a real cluster's topics get a prefix of this run
    // so that records of earlier runs are not landed again.
    let (broker, brokers, prefix, partitions) = match &args.brokers {
        Some(brokers) => {
            let secs = chrono::Utc::now().timestamp();
            (None, brokers.clone(), format!("civicpulse-demo-{secs}."), 3)
        }
        None => {
            let broker = EmbeddedBroker::start()?;
            for topic in Topic::ALL {
                broker.create_topic(topic.topic(), EMBEDDED_PARTITIONS)?;
                broker.create_topic(&format!("{}.dlq", topic.topic()), EMBEDDED_PARTITIONS)?;
            }
            let servers = broker.bootstrap_servers();
            (Some(broker), servers, String::new(), EMBEDDED_PARTITIONS)
        }
    };
    progress.note(&match &broker {
        Some(_) => format!(
            "  broker: embedded (librdkafka mock cluster) at {brokers}, {partitions} partitions a topic"
        ),
        None => format!("  broker: {brokers}, topics {prefix}*"),
    });

    // The city's reference (communities, life circles, assessments) goes into the lake before
    // the ingest starts: the services read it once at start to check and resolve codes.
    let reference = layout.out.join("reference");
    let simulated = citysim::city::City::build(city, args.scale, args.seed, None)?;
    citysim::reference::write(&simulated, args.seed, period, &reference)?;
    let (lake, files) = (layout.lake.clone(), reference.clone());
    tokio::task::spawn_blocking(move || citysim::lake_sink::load_reference(&lake, &files))
        .await
        .map_err(|e| SimError::Config(format!("loading the reference: {e}")))?
        .map_err(SimError::from)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let plan = IngestPlan {
        brokers: &brokers,
        lake: &layout.lake,
        config: &layout.config,
        prefix: &prefix,
        stop: &stop_rx,
    };
    let ingests = vec![
        plan.spawn::<HotlineTicket>("hotline-ingest"),
        plan.spawn::<FacilityChange>("facility-ingest"),
        plan.spawn::<RenovationProgress>("renovation-ingest"),
    ];
    let cancel = Arc::new(AtomicBool::new(false));
    let mut running = Running {
        broker,
        ingests,
        stop: stop_tx,
        cancel: cancel.clone(),
        simulation: None,
    };

    let interrupt = shutdown_signal();
    tokio::pin!(interrupt);
    let ready = tokio::select! {
        ready = prepare(
            &args, city, period, week, &layout, &brokers, &prefix, partitions,
            (http_addr, pg_addr), &mut running, &progress,
        ) => ready,
        () = &mut interrupt => Err(DemoError::Interrupted),
    };
    let (table, mut servers, report, rows) = match ready {
        Ok(ready) => ready,
        Err(e) => {
            progress.clear();
            running.shut_down(&progress).await;
            return Err(e);
        }
    };
    progress.clear();
    print_summary(&Summary {
        city,
        table: &table,
        layout: &layout,
        report: &report,
        rows,
        http: http_addr,
        pg: pg_addr,
        key_generated,
        elapsed: started.elapsed(),
    });

    let served = tokio::select! {
        () = &mut interrupt => Ok(()),
        Some(ended) = servers.join_next() => Err(match ended {
            Ok(Err(e)) => DemoError::Serve(e),
            Ok(Ok(())) => DemoError::Serve(std::io::Error::other("listener stopped")),
            Err(e) => DemoError::Serve(std::io::Error::other(e.to_string())),
        }),
    };
    eprintln!("civicpulse demo: stopping (the ingest services commit what is open)");
    servers.abort_all();
    running.shut_down(&progress).await;
    served
}

/// What the demo has once it is ready: the table, the listeners, the report, rows per table.
type Ready = (KpiTable, JoinSet<std::io::Result<()>>, PathBuf, [u64; 3]);

/// Simulates, lands, opens kpi-query and answers the table.
#[allow(clippy::too_many_arguments)]
async fn prepare(
    args: &DemoArgs,
    city: &'static CityProfile,
    period: Period,
    week: Week,
    layout: &Layout,
    brokers: &str,
    prefix: &str,
    partitions: i32,
    endpoints: (SocketAddr, SocketAddr),
    running: &mut Running,
    progress: &Progress,
) -> Result<Ready, DemoError> {
    let rows: RowCounts = Default::default();
    let sim_bar = progress.simulate();
    let land_bars = Topic::ALL.map(|t| progress.land(t.topic()));

    // citysim on a thread of its own: its sink blocks while the consumers catch up.
    let backlogs = running.broker.as_ref().map(|_| {
        let budget = Backlog::for_partitions(partitions);
        [0, 1, 2].map(|i| {
            let metrics = running.ingests[i].metrics.clone();
            Backlog::new(
                Topic::ALL[i].topic(),
                move || metrics.consumed.get(),
                budget,
                STALL,
                running.cancel.clone(),
            )
        })
    });
    let mut config = SimConfig::new(city, period, args.scale, args.seed);
    // Two cores: leave room for the broker and the ingest services.
    config.threads = config.threads.min(2);
    let (brokers_owned, prefix_owned, counts) =
        (brokers.to_owned(), prefix.to_owned(), rows.clone());
    let cancel = running.cancel.clone();
    let truth_path = layout.truth.clone();
    let mut observer = sim_bar;
    running.simulation = Some(tokio::task::spawn_blocking(move || {
        let mut sim = Simulation::new(config)?;
        let kafka = KafkaSink::new(&brokers_owned, &prefix_owned, &[], partitions)?;
        let mut sink = CountingSink::new(kafka, counts, backlogs);
        let truth = sim.run(&mut sink, &mut observer, &cancel)?;
        let text = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(&truth_path, text).map_err(|source| SimError::Io {
            path: truth_path.clone(),
            source,
        })?;
        Ok(truth)
    }));

    // Land: every valid record and duplicate citysim sent becomes a row.
    let mut truth: Option<GroundTruth> = None;
    let mut landed = [0u64; 3];
    let mut moved_at = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(e) = running.failed_ingest().await {
            return Err(e);
        }
        if running
            .simulation
            .as_ref()
            .is_some_and(JoinHandle::is_finished)
        {
            let sim = running.simulation.take().expect("checked");
            let t = sim
                .await
                .map_err(|e| SimError::Config(format!("simulation thread: {e}")))??;
            let records: u64 = t.topics.values().map(|t| t.records).sum();
            progress.note(&format!(
                "  simulated {records} records; the ground truth is in {}",
                layout.truth.display()
            ));
            truth = Some(t);
        }
        let mut done = truth.is_some();
        for (i, bar) in land_bars.iter().enumerate() {
            let expected = rows[i].load(Ordering::Relaxed);
            let now = running.ingests[i].metrics.landed.get();
            if now != landed[i] {
                landed[i] = now;
                moved_at = Instant::now();
            }
            bar.set_length(expected);
            bar.set_position(now.min(expected));
            done &= now >= expected;
        }
        if done {
            break;
        }
        if moved_at.elapsed() > STALL && running.simulation.is_none() {
            return Err(DemoError::Stalled(format!(
                "no rows landed for {} s ({landed:?} of {:?}); see {}",
                STALL.as_secs(),
                rows.each_ref().map(|r| r.load(Ordering::Relaxed)),
                layout.log.display()
            )));
        }
    }
    let truth = truth.expect("landing waits for the truth");
    for (i, topic) in Topic::ALL.iter().enumerate() {
        let t = &truth.topics[topic.topic()];
        let expected = t.valid + t.duplicates;
        if landed[i] != expected {
            return Err(DemoError::Stalled(format!(
                "{}: {} rows landed, the ground truth says {expected} (valid + duplicates)",
                topic.topic(),
                landed[i]
            )));
        }
        land_bars[i].finish();
    }
    progress.note(&format!(
        "  landed {} rows in {}",
        landed.iter().sum::<u64>(),
        layout.lake.display()
    ));

    // State: each ticket's current state folded from the landed events, as
    // `lake-maintain state` keeps it (the KPIs read it instead of every event).
    let state_bar = progress.spinner("state");
    state_bar.set_message("folding the events into the state tables");
    let root = civicpulse_core::lake::LakeRoot::parse(&layout.lake.to_string_lossy())
        .map_err(|e| DemoError::Usage(e.to_string()))?;
    let maintain = civicpulse_core::settings::MaintainSettings::default();
    let keepers = civicpulse_state::keeper::Keeper::every(
        &root,
        Default::default(),
        Default::default(),
        maintain.state_max_rows,
    );
    for result in civicpulse_state::keeper::catch_up_all(&keepers, |_, _| {}).await {
        result?;
    }
    state_bar.finish_with_message("done");

    // Query: kpi-query's engine on the lake, its endpoints, and the table.
    let query_bar = progress.spinner("query");
    query_bar.set_message("opening the lake");
    let mut settings = QueryServiceSettings::default();
    settings.lake.root = layout.lake.to_string_lossy().into_owned();
    let q = &settings.query;
    let engine =
        Arc::new(QueryEngine::open(&settings.lake, &q.weights, QueryLimits::from(q)).await?);
    let mut servers = JoinSet::new();
    let router = http::router(engine.clone(), None);
    servers.spawn(http::serve(endpoints.0, router));
    let credentials = Credentials {
        user: q.pg_user.clone(),
        password: None,
        tls: None,
    };
    servers.spawn(pg::serve(engine.clone(), endpoints.1, credentials));
    query_bar.set_message("the headline KPIs per district");
    let codes: Vec<&str> = city.districts.iter().map(|d| d.code).collect();
    let table = table::build(&engine, week, &codes, city.city_code).await?;
    query_bar.set_message("leader summary");
    let report = write_leader_summary(&engine, city, week, &layout.out).await?;
    query_bar.finish_with_message("done");
    // A listener that could not bind has failed by now.
    if let Some(ended) = servers.try_join_next() {
        let e = match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => std::io::Error::other("listener stopped"),
            Err(e) => std::io::Error::other(e.to_string()),
        };
        return Err(DemoError::Serve(e));
    }
    Ok((table, servers, report, landed))
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What the final summary shows.
struct Summary<'a> {
    city: &'static CityProfile,
    table: &'a KpiTable,
    layout: &'a Layout,
    report: &'a Path,
    rows: [u64; 3],
    http: SocketAddr,
    pg: SocketAddr,
    key_generated: bool,
    elapsed: Duration,
}

/// Prints the table, where everything is and how to reach the endpoints (stdout).
fn print_summary(s: &Summary<'_>) {
    let week = s.table.week;
    let sample = s.city.districts.first().map_or("", |d| d.code);
    println!();
    println!(
        "Headline KPIs of {} {}, week {} ({} – {}), answered by kpi-query's catalogue:",
        capitalise(s.city.key),
        s.city.name_zh,
        week.label(),
        week.monday,
        week.sunday()
    );
    println!();
    print!("{}", s.table.render());
    println!();
    println!(
        "lake        {}  (hotline_tickets {} rows, facility_changes {}, renovation_progress {})",
        s.layout.lake.display(),
        s.rows[0],
        s.rows[1],
        s.rows[2]
    );
    println!(
        "truth       {}  (citysim's ground truth of this run)",
        s.layout.truth.display()
    );
    println!(
        "report      {}  (the week's leader summary)",
        s.report.display()
    );
    println!("log         {}", s.layout.log.display());
    println!("HTTP        curl -s http://{}/health", s.http);
    println!(
        "            curl -s 'http://{}/kpis/K23?district={sample}&from={}&to={}&grain=week'",
        s.http,
        week.monday,
        week.sunday()
    );
    println!(
        "PostgreSQL  psql \"host={} port={} user=civicpulse dbname=civicpulse\" -c \"SELECT district, count(*) FROM hotline_ticket_latest GROUP BY 1\"",
        s.pg.ip(),
        s.pg.port()
    );
    if s.key_generated {
        println!(
            "hash key    {HASH_KEY_ENV} was not set: a random key hashed this run's caller numbers"
        );
    }
    println!(
        "ready in {:.1} s; serving until Ctrl-C",
        s.elapsed.as_secs_f64()
    );
}
