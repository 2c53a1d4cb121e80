//! `citysim`: simulates a city's complete-community programme and emits hotline, facility and
//! renovation events to JSONL files or Kafka, then prints the ground truth of their KPIs.
//!
//! ```text
//! citysim --city beijing --from 2024-01-01 --to 2024-12-31 --scale 0.05 --seed 7 --out data/
//! citysim --city hangzhou --brokers 127.0.0.1:9092 --rate 2000 --bad-ratio 0.01
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use citysim::clock::{self, Period};
use citysim::{
    GroundTruth, JsonlSink, KafkaSink, LakeSink, NullSink, Observer, SimConfig, SimError,
    Simulation, Sink, SinkError, Topic, profile,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Simulates a city's complete-community programme and emits its event streams.
#[derive(Debug, Parser)]
#[command(name = "citysim", version, about)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["out", "brokers", "lake", "discard"])))]
struct Args {
    /// City: beijing, chongqing (central districts) or hangzhou.
    #[arg(long, default_value = "beijing")]
    city: String,
    /// First simulated day (Asia/Shanghai); defaults to 2024-01-01, or today with --rate.
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last simulated day; defaults to the end of --from's year, or a year on with --rate.
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Share of the real city simulated (1.0 reproduces the published figures).
    #[arg(long, default_value_t = 0.05)]
    scale: f64,
    /// Seed: the same seed and arguments give byte-identical output.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Write `<topic>.jsonl` files into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Produce to Kafka at these bootstrap servers.
    #[arg(long)]
    brokers: Option<String>,
    /// Land the events straight into the lake at this directory, normalised by the ingest
    /// services' code (for benchmarks and demos; needs CIVICPULSE_HASH_KEY).
    #[arg(long)]
    lake: Option<PathBuf>,
    /// Generate and count records without writing them (measures the generator alone).
    #[arg(long)]
    discard: bool,
    /// Prefix of topic (and file) names.
    #[arg(long, default_value = "")]
    topic_prefix: String,
    /// Partitions of topics citysim creates (existing topics are left as they are).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Extra librdkafka producer property `key=value` (repeatable).
    #[arg(long = "kafka-property", value_parser = parse_property)]
    kafka_properties: Vec<(String, String)>,
    /// Streams to emit: hotline, facility, renovation.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hotline,facility,renovation"
    )]
    streams: Vec<String>,
    /// Live mode: this many records a second, stamped with the current time.
    #[arg(long)]
    rate: Option<f64>,
    /// Share of valid records followed by an invalid record (all dead-letter classes).
    #[arg(long, default_value_t = 0.0)]
    bad_ratio: f64,
    /// Write the reference files (communities.csv, life_circles.csv,
    /// community_assessments.csv) into this directory; with --out they are also written there,
    /// and with --lake loaded into its reference tables before any event lands.
    #[arg(long)]
    reference_out: Option<PathBuf>,
    /// Write the full ground truth (with weekly KPIs) to this JSON file.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Stop after this many records.
    #[arg(long)]
    max_events: Option<u64>,
    /// Generator threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Only these district codes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    districts: Option<Vec<String>>,
    /// No progress bar and no summary on stdout.
    #[arg(long)]
    quiet: bool,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// Progress bar over simulated time, drawn only on a terminal.
struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Observer for Bar {
    fn start(&mut self, total_ms: i64) {
        self.bar
            .set_length((total_ms / clock::HOUR_MS).max(1) as u64);
    }

    fn progress(&mut self, done_ms: i64, records: u64) {
        self.bar.set_position((done_ms / clock::HOUR_MS) as u64);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{records} records, {:.0}/s", records as f64 / secs));
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn config(args: &Args) -> Result<SimConfig, SimError> {
    let city = profile::city(&args.city).ok_or_else(|| {
        let known: Vec<&str> = profile::CITIES.iter().map(|c| c.key).collect();
        SimError::Config(format!(
            "unknown city {:?}; known: {}",
            args.city,
            known.join(", ")
        ))
    })?;
    let today = clock::date(clock::local_day(clock::now_ms()));
    let from = args.from.unwrap_or(if args.rate.is_some() {
        today
    } else {
        NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
    });
    let to = match args.to {
        Some(to) => to,
        None if args.rate.is_some() => from + chrono::Days::new(365),
        None => NaiveDate::from_ymd_opt(chrono::Datelike::year(&from), 12, 31).expect("valid date"),
    };
    let mut streams = Vec::new();
    for s in &args.streams {
        let t = Topic::parse(s.trim()).ok_or_else(|| {
            SimError::Config(format!(
                "unknown stream {s:?}; use hotline, facility, renovation"
            ))
        })?;
        streams.push(t);
    }
    let mut c = SimConfig::new(city, Period { from, to }, args.scale, args.seed);
    c.streams = streams;
    c.bad_ratio = args.bad_ratio;
    c.max_events = args.max_events;
    c.rate = args.rate;
    c.districts = args.districts.clone();
    if let Some(t) = args.threads {
        c.threads = t.max(1);
    }
    Ok(c)
}

/// Sets `stop` on Ctrl-C or SIGTERM so a live run flushes and writes its truth.
fn watch_signals(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        });
        stop.store(true, Ordering::Relaxed);
    });
}

fn run(args: &Args) -> Result<GroundTruth, SimError> {
    let config = config(args)?;
    let started = Instant::now();
    let mut sim = Simulation::new(config)?;
    let streams = sim.config().streams.clone();

    // The city's reference files, written first: a lake gets them as its reference tables
    // before any event lands (the ingest's normaliser checks codes against them).
    let reference_dirs = [
        args.reference_out.clone(),
        args.out.clone(),
        args.lake.as_ref().map(|_| {
            std::env::temp_dir().join(format!("citysim-reference-{}", std::process::id()))
        }),
    ];
    for dir in reference_dirs.iter().flatten() {
        citysim::reference::write(sim.city(), args.seed, sim.config().period, dir)?;
    }
    let mut sink: Box<dyn Sink> = match (&args.out, &args.brokers) {
        _ if args.lake.is_some() => {
            let key = civicpulse_core::settings::Settings::hash_key()
                .map_err(|e| SinkError::Lake(e.to_string()))?;
            let lake = args.lake.as_deref().expect("checked");
            let files = reference_dirs[2].as_deref().expect("set with --lake");
            let loaded = citysim::lake_sink::load_reference(lake, files);
            let _ = std::fs::remove_dir_all(files);
            loaded?;
            Box::new(LakeSink::new(lake, &key)?)
        }
        (Some(dir), _) => {
            let mut s = JsonlSink::new(dir, &args.topic_prefix)?;
            s.create(&streams)?;
            Box::new(s)
        }
        (None, Some(brokers)) => Box::new(KafkaSink::new(
            brokers,
            &args.topic_prefix,
            &args.kafka_properties,
            args.partitions,
        )?),
        (None, None) => Box::new(NullSink::default()),
    };
    let visible = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(1),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {percent}% of simulated time, {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut observer = Bar { bar, started };
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(Arc::clone(&stop));
    let truth = sim.run(sink.as_mut(), &mut observer, &stop)?;
    let secs = started.elapsed().as_secs_f64();
    let records: u64 = truth.topics.values().map(|t| t.records).sum();
    eprintln!(
        "citysim: {records} records in {secs:.2} s ({:.0} records/s), {} communities, {} residents",
        records as f64 / secs.max(1e-9),
        sim.city().communities(),
        sim.city().population()
    );
    if let Some(path) = &args.truth {
        let text = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(path, text).map_err(|source| SimError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(truth)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(truth) => {
            if !args.quiet {
                match serde_json::to_string_pretty(&truth.summary()) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("citysim: {e}"),
                }
            }
            if truth.run.truncated && truth.run.max_events.is_none() {
                eprintln!("citysim: interrupted; the truth covers what was sent");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("citysim: {e}");
            ExitCode::from(if matches!(e, SimError::Config(_)) {
                2
            } else {
                1
            })
        }
    }
}
