//! `civicpulse-bench`: the measurements behind `bench/run`.
//!
//! `ingest`: pre-fills a topic on a tansu broker with N hotline events, then in the same run
//! measures (1) a plain librdkafka consumer that reads and discards the topic, the ceiling, and
//! (2) `hotline-ingest` from its start to the last row committed, with its peak RSS. Each is
//! run several times; medians and the ratio are printed and written as JSON.
//!
//! `query`: the KPI catalogue through kpi-query against DuckDB (see [`query`]).

mod query;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream};
use civicpulse_tests::kafka::{Record, create_topic, produce};
use civicpulse_tests::process::{ServiceProcess, wait_for};
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

#[derive(Debug, Parser)]
#[command(about = "civicpulse benchmarks")]
enum Command {
    /// hotline-ingest from a pre-filled topic to committed Parquet, against a raw consumer.
    Ingest(IngestArgs),
    /// The KPI catalogue through kpi-query against DuckDB over the same files.
    Query(query::QueryArgs),
}

#[derive(Debug, clap::Args)]
struct IngestArgs {
    /// Events in the pre-filled topic.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Topic partitions.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Where to write the JSON results.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One measured run.
#[derive(Debug, Clone, serde::Serialize)]
struct Run {
    seconds: f64,
    events_per_sec: f64,
    mb_per_sec: f64,
    peak_rss_mib: Option<f64>,
}

fn median(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn prefill(brokers: &str, events: u64, partitions: i32) -> u64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(create_topic(brokers, Stream::Hotline.topic(), partitions));
    let factory = EventFactory::minimal_hotline();
    let mut bytes = 0u64;
    let mut seq = 0;
    while seq < events {
        let end = (seq + 100_000).min(events);
        let records: Vec<Record> = (seq..end).map(|i| factory.event(i).2).collect();
        bytes += records.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        rt.block_on(produce(brokers, Stream::Hotline.topic(), records));
        seq = end;
        eprint!("\rpre-filled {seq}/{events}");
    }
    eprintln!();
    bytes
}

/// Reads the whole topic with a fresh group and discards it.
fn raw_consume(brokers: &str, events: u64, bytes: u64, group: &str) -> Run {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "18000")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[Stream::Hotline.topic()])
        .expect("subscribe");
    let started = Instant::now();
    let mut seen = 0u64;
    let mut checksum = 0u64;
    while seen < events {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            checksum = checksum.wrapping_add(m.payload().map_or(0, |p| p.len() as u64));
            seen += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        checksum, bytes,
        "raw consumer read other bytes than produced"
    );
    Run {
        seconds,
        events_per_sec: events as f64 / seconds,
        mb_per_sec: bytes as f64 / 1e6 / seconds,
        peak_rss_mib: None,
    }
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs hotline-ingest with a fresh group and lake until every event is committed.
fn ingest_once(brokers: &str, events: u64, bytes: u64, group: &str, work: &Path) -> Run {
    let lake = work.join(group);
    let started = Instant::now();
    let mut service = ServiceProcess::start(
        "hotline-ingest",
        &[
            "--brokers",
            brokers,
            "--lake",
            lake.to_str().expect("UTF-8"),
            "--group",
            group,
        ],
        &[
            ("CIVICPULSE_KAFKA__SESSION_TIMEOUT_MS", "6000"),
            ("CIVICPULSE_KAFKA__FETCH_WAIT_MAX_MS", "10"),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn"),
        ],
        &work.join("logs"),
    );
    let done = wait_for(Duration::from_secs(3600), || {
        if let Some(status) = service.exited() {
            panic!("hotline-ingest exited with {status}: {}", service.log());
        }
        let landed = service.metric("civicpulse_rows_landed_total", "")?;
        (landed as u64 >= events).then_some(())
    });
    let seconds = started.elapsed().as_secs_f64();
    done.expect("every event landed");
    let rss = peak_rss_mib(service.pid());
    service.terminate(Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&lake);
    Run {
        seconds,
        events_per_sec: events as f64 / seconds,
        mb_per_sec: bytes as f64 / 1e6 / seconds,
        peak_rss_mib: rss,
    }
}

fn ingest(args: IngestArgs) {
    let broker = TestBroker::start_memory();
    let brokers = broker.brokers();
    let work = tempfile::tempdir().expect("work dir");
    let bytes = prefill(&brokers, args.events, args.partitions);
    let (mut raw, mut ingest) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        raw.push(raw_consume(
            &brokers,
            args.events,
            bytes,
            &format!("bench-raw-{run}"),
        ));
        ingest.push(ingest_once(
            &brokers,
            args.events,
            bytes,
            &format!("bench-ingest-{run}"),
            work.path(),
        ));
        eprintln!(
            "run {run}: raw {:.0} ev/s, ingest {:.0} ev/s",
            raw[run].events_per_sec, ingest[run].events_per_sec
        );
    }
    let raw_rate = median(&raw, |r| r.events_per_sec);
    let ingest_rate = median(&ingest, |r| r.events_per_sec);
    let rss = median(&ingest, |r| r.peak_rss_mib.unwrap_or(f64::NAN));
    let result = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "events": args.events,
        "bytes": bytes,
        "partitions": args.partitions,
        "runs": args.runs,
        "raw_consume": { "median_events_per_sec": raw_rate, "median_mb_per_sec": median(&raw, |r| r.mb_per_sec), "runs": raw },
        "hotline_ingest": { "median_events_per_sec": ingest_rate, "median_mb_per_sec": median(&ingest, |r| r.mb_per_sec), "median_peak_rss_mib": rss, "runs": ingest },
        "ingest_over_raw": ingest_rate / raw_rate,
    });
    println!("| measurement | median events/s | median MB/s | peak RSS MiB |");
    println!("|---|---:|---:|---:|");
    println!(
        "| raw librdkafka consume | {raw_rate:.0} | {:.1} | – |",
        median(&raw, |r| r.mb_per_sec)
    );
    println!(
        "| hotline-ingest to committed Parquet | {ingest_rate:.0} | {:.1} | {rss:.0} |",
        median(&ingest, |r| r.mb_per_sec)
    );
    println!("| ratio ingest / raw | {:.2} | | |", ingest_rate / raw_rate);
    println!(
        "({} events, {} MB, {} partitions, median of {} runs)",
        args.events,
        bytes / 1_000_000,
        args.partitions,
        args.runs
    );
    if let Some(path) = args.json {
        merge_results(&path, "ingest", result);
    }
}

/// Writes `value` under `key` of the JSON results file, keeping the other benchmarks' keys.
fn merge_results(path: &Path, key: &str, value: serde_json::Value) {
    let mut all: serde_json::Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    all[key] = value;
    std::fs::write(path, serde_json::to_string_pretty(&all).expect("JSON")).expect("write results");
}

fn main() {
    match Command::parse() {
        Command::Ingest(args) => ingest(args),
        Command::Query(args) => {
            let json = args.json.clone();
            let result = query::run(args);
            if let Some(path) = json {
                merge_results(&path, "query", result);
            }
        }
    }
}
