//! `ingest`: citysim pre-fills a topic on a tansu broker with N hotline events, then the same run
//! measures, each several times:
//! 1. a plain librdkafka consumer that reads and discards the topic (the ceiling);
//! 2. `hotline-ingest` from its start to the last row committed, with its peak RSS;
//! 3. the Python baseline (`bench/python/baseline_ingest.py`: confluent-kafka + pyarrow, the same
//!    validation, dead letters and `district=/month=` zstd Parquet layout) over the first
//!    `--baseline-events` records, with its peak RSS.
//!
//! Growth: `hotline-ingest` once more over topics of other sizes (`--growth-events`).
//! Dead letters of the ingest and the baseline are checked against citysim's ground truth, so
//! "the same validation" is a measured fact, not a claim.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::process::{ServiceProcess, binary, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::{Value, json};

use crate::common::{fmt, median, peak_rss_mib, python, script};

/// Arguments of `civicpulse-bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Records in the pre-filled topic.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Topic partitions.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Records the Python baseline reads per run (the first ones of the topic; at most
    /// `--events`): it is an order of magnitude slower, and a rate needs no more.
    #[arg(long, default_value_t = 400_000)]
    pub baseline_events: u64,
    /// Share of valid records followed by an invalid one (citysim `--bad-ratio`), so both
    /// validators are seen to dead-letter the same records.
    #[arg(long, default_value_t = 0.001)]
    pub bad_ratio: f64,
    /// Growth: other topic sizes `hotline-ingest` lands once each (with `--events` they make the
    /// growth series).
    #[arg(long, value_delimiter = ',', default_value = "250000,500000,1000000")]
    pub growth_events: Vec<u64>,
}

/// One measured run.
#[derive(Debug, Clone, serde::Serialize)]
struct Run {
    seconds: f64,
    events_per_sec: f64,
    mb_per_sec: f64,
    peak_rss_mib: Option<f64>,
}

impl Run {
    fn new(events: u64, bytes: u64, seconds: f64, peak_rss_mib: Option<f64>) -> Self {
        Self {
            seconds,
            events_per_sec: events as f64 / seconds,
            mb_per_sec: bytes as f64 / 1e6 / seconds,
            peak_rss_mib,
        }
    }
}

/// Medians of a measurement's runs, as JSON.
fn summary(runs: &[Run], extra: Value) -> Value {
    let rss: Vec<f64> = runs.iter().filter_map(|r| r.peak_rss_mib).collect();
    let mut v = json!({
        "median_events_per_sec": median(runs.iter().map(|r| r.events_per_sec)),
        "median_mb_per_sec": median(runs.iter().map(|r| r.mb_per_sec)),
        "median_seconds": median(runs.iter().map(|r| r.seconds)),
        "median_peak_rss_mib": if rss.is_empty() { Value::Null } else { json!(median(rss)) },
        "runs": runs,
    });
    if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
        v.extend(extra);
    }
    v
}

/// What citysim put into a topic.
struct Prefill {
    topic: String,
    records: u64,
    bad_by_class: BTreeMap<String, u64>,
    seconds: f64,
}

/// Pre-fills `<prefix>hotline.tickets` with `events` records of Beijing's hotline (2024, scale
/// 0.2: about 20 M events a year, so any `--events` up to that is one contiguous stretch).
fn prefill(brokers: &str, prefix: &str, events: u64, args: &IngestArgs, work: &Path) -> Prefill {
    let truth = work.join(format!("{prefix}truth.json"));
    let started = Instant::now();
    let status = Command::new(binary("citysim"))
        .args([
            "--city",
            "beijing",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
        ])
        .args([
            "--scale",
            "0.2",
            "--seed",
            "7",
            "--streams",
            "hotline",
            "--quiet",
        ])
        .args(["--brokers", brokers, "--topic-prefix", prefix])
        .args(["--partitions", &args.partitions.to_string()])
        .args(["--max-events", &events.to_string()])
        .args(["--bad-ratio", &args.bad_ratio.to_string()])
        .arg("--truth")
        .arg(&truth)
        .status()
        .expect("citysim runs");
    assert!(status.success(), "citysim could not pre-fill the topic");
    let seconds = started.elapsed().as_secs_f64();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(&truth).expect("truth written")).expect("JSON");
    let hotline = &truth["topics"]["hotline.tickets"];
    let records = hotline["records"].as_u64().expect("records in the truth");
    assert_eq!(
        records, events,
        "citysim sent {records} records, not {events}: a year of Beijing at scale 0.2 is too short"
    );
    let bad_by_class = serde_json::from_value(hotline["bad_by_class"].clone()).unwrap_or_default();
    eprintln!("pre-filled {prefix}hotline.tickets with {records} records in {seconds:.1} s");
    Prefill {
        topic: format!("{prefix}hotline.tickets"),
        records,
        bad_by_class,
        seconds,
    }
}

/// Reads the whole topic with a fresh group and discards it; returns the run and the payload
/// bytes read.
fn raw_consume(brokers: &str, topic: &str, events: u64, group: &str) -> (Run, u64) {
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
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    let (mut seen, mut bytes) = (0u64, 0u64);
    while seen < events {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            bytes += m.payload().map_or(0, |p| p.len() as u64);
            seen += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    (Run::new(events, bytes, seconds, None), bytes)
}

/// What one hotline-ingest run did besides its time.
struct Landed {
    run: Run,
    rows: u64,
    dead_letters: BTreeMap<String, u64>,
}

/// Every dead-letter class hotline-ingest counts.
const CLASSES: [&str; 11] = [
    "oversized",
    "not_utf8",
    "not_json",
    "schema_violation.missing_field",
    "schema_violation.wrong_type",
    "schema_violation.unknown_enum_value",
    "schema_violation.invalid_value",
    "unsupported_schema_version",
    "invalid_district_code",
    "unknown_district",
    "invalid_division_code",
];

/// Runs hotline-ingest (default landing settings) with a fresh group and lake until every
/// record is committed or dead-lettered.
fn ingest_once(
    brokers: &str,
    topic: &str,
    events: u64,
    bytes: u64,
    group: &str,
    work: &Path,
) -> Landed {
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
            "--topic",
            topic,
        ],
        &[
            ("CIVICPULSE_KAFKA__SESSION_TIMEOUT_MS", "6000"),
            ("CIVICPULSE_KAFKA__FETCH_WAIT_MAX_MS", "10"),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn"),
        ],
        &work.join("logs"),
    );
    let dead_total = "civicpulse_records_dead_lettered_total";
    let done = wait_for(Duration::from_secs(3600), || {
        if let Some(status) = service.exited() {
            panic!("hotline-ingest exited with {status}: {}", service.log());
        }
        let landed = service.metric("civicpulse_rows_landed_total", "")?;
        let dead = service.metric(dead_total, "")?;
        (landed as u64 + dead as u64 >= events).then_some(landed as u64)
    });
    let seconds = started.elapsed().as_secs_f64();
    let rows = done.expect("every record landed or dead-lettered");
    let rss = peak_rss_mib(service.pid());
    let dead_letters = CLASSES
        .iter()
        .filter_map(|c| {
            let n = service.metric(dead_total, &format!("class=\"{c}\""))? as u64;
            (n > 0).then(|| ((*c).to_owned(), n))
        })
        .collect();
    service.terminate(Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&lake);
    Landed {
        run: Run::new(events, bytes, seconds, rss),
        rows,
        dead_letters,
    }
}

/// What one baseline run reported.
#[derive(Debug, serde::Deserialize)]
struct BaselineReport {
    records: u64,
    rows: u64,
    bytes: u64,
    dead_letters: BTreeMap<String, u64>,
    files: u64,
    peak_rss_kib: f64,
}

/// Runs the Python baseline over the first `events` records with a fresh group; the time is
/// the process's whole life (interpreter start to last file written and offsets committed), as
/// for hotline-ingest.
fn baseline_once(
    brokers: &str,
    topic: &str,
    events: u64,
    group: &str,
    work: &Path,
) -> (Run, BaselineReport) {
    let out = work.join(group);
    let started = Instant::now();
    let output = python()
        .arg(script("baseline_ingest.py"))
        .args(["--brokers", brokers, "--topic", topic, "--group", group])
        .arg("--out")
        .arg(&out)
        .args(["--max-records", &events.to_string()])
        .env("CIVICPULSE_HASH_KEY", civicpulse_tests::TEST_HASH_KEY)
        .stderr(Stdio::inherit())
        .output()
        .expect("the Python baseline runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "baseline_ingest.py failed: {}",
        output.status
    );
    let report: BaselineReport = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "baseline_ingest.py output ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(
        report.records, events,
        "the baseline read another number of records"
    );
    let _ = std::fs::remove_dir_all(&out);
    let rss = report.peak_rss_kib / 1024.0;
    (Run::new(events, report.bytes, seconds, Some(rss)), report)
}

/// Runs the benchmark and returns its JSON.
pub fn run(args: &IngestArgs) -> Value {
    assert!(args.runs > 0, "--runs must be at least 1");
    let broker = TestBroker::start_memory();
    let brokers = broker.brokers();
    let work = tempfile::tempdir().expect("work dir");
    let fill = prefill(&brokers, "", args.events, args, work.path());
    let baseline_events = args.baseline_events.min(args.events);
    let (mut raw, mut ingest, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = None;
    let mut validation = Vec::new();
    for run in 0..args.runs {
        let (r, read) = raw_consume(
            &brokers,
            &fill.topic,
            args.events,
            &format!("bench-raw-{run}"),
        );
        assert!(
            bytes.is_none_or(|b| b == read),
            "the raw consumer read {read} bytes, before {bytes:?}"
        );
        bytes = Some(read);
        raw.push(r);
        let landed = ingest_once(
            &brokers,
            &fill.topic,
            args.events,
            read,
            &format!("bench-ingest-{run}"),
            work.path(),
        );
        let (b, report) = baseline_once(
            &brokers,
            &fill.topic,
            baseline_events,
            &format!("bench-baseline-{run}"),
            work.path(),
        );
        eprintln!(
            "run {run}: raw {:.0} ev/s, hotline-ingest {:.0} ev/s, Python baseline {:.0} ev/s",
            raw[run].events_per_sec, landed.run.events_per_sec, b.events_per_sec
        );
        validation.push(json!({
            "truth_dead_letters": fill.bad_by_class,
            "hotline_ingest": { "records": args.events, "rows": landed.rows, "dead_letters": landed.dead_letters },
            "baseline": { "records": report.records, "rows": report.rows, "dead_letters": report.dead_letters, "files": report.files },
        }));
        ingest.push(landed);
        baseline.push(b);
    }
    let bytes = bytes.expect("at least one run");
    // Both validators dead-letter exactly what citysim made invalid (the baseline only when it
    // read the whole topic).
    let ingest_agrees = ingest.iter().all(|l| l.dead_letters == fill.bad_by_class);
    let baseline_agrees = (baseline_events == args.events).then(|| {
        validation
            .iter()
            .all(|v| v["baseline"]["dead_letters"] == json!(fill.bad_by_class))
    });
    let ingest_runs: Vec<Run> = ingest.iter().map(|l| l.run.clone()).collect();
    let raw_rate = median(raw.iter().map(|r| r.events_per_sec));
    let ingest_rate = median(ingest_runs.iter().map(|r| r.events_per_sec));
    let baseline_rate = median(baseline.iter().map(|r| r.events_per_sec));

    let growth = growth(&brokers, args, &ingest_runs, work.path());
    json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "events": args.events,
        "bytes": bytes,
        "partitions": args.partitions,
        "runs": args.runs,
        "bad_ratio": args.bad_ratio,
        "prefill_seconds": fill.seconds,
        "source": "citysim --city beijing --scale 0.2 --streams hotline (2024), keyed by ticket id",
        "raw_consume": summary(&raw, json!({})),
        "hotline_ingest": summary(&ingest_runs, json!({ "config": "defaults; fetch.wait.max.ms = 10" })),
        "python_baseline": summary(&baseline, json!({ "events": baseline_events })),
        "ingest_over_raw": ingest_rate / raw_rate,
        "ingest_over_baseline": ingest_rate / baseline_rate,
        "validation": {
            "hotline_ingest_matches_truth": ingest_agrees,
            "baseline_matches_truth": baseline_agrees,
            "runs": validation,
        },
        "growth": growth,
    })
}

/// hotline-ingest once over each `--growth-events` topic, plus the main size's median.
fn growth(brokers: &str, args: &IngestArgs, main: &[Run], work: &Path) -> Value {
    let mut points = vec![json!({
        "events": args.events,
        "seconds": median(main.iter().map(|r| r.seconds)),
        "events_per_sec": median(main.iter().map(|r| r.events_per_sec)),
        "runs": main.len(),
    })];
    for &events in &args.growth_events {
        let prefix = format!("growth-{events}.");
        let fill = prefill(brokers, &prefix, events, args, work);
        // MB/s are not reported for growth points: their bytes are not read separately.
        let landed = ingest_once(
            brokers,
            &fill.topic,
            fill.records,
            0,
            &format!("bench-growth-{events}"),
            work,
        );
        eprintln!(
            "growth {events}: hotline-ingest {:.0} ev/s in {:.1} s",
            landed.run.events_per_sec, landed.run.seconds
        );
        points.push(json!({
            "events": events,
            "seconds": landed.run.seconds,
            "events_per_sec": landed.run.events_per_sec,
            "runs": 1,
        }));
    }
    points.sort_by_key(|p| p["events"].as_u64());
    Value::Array(points)
}

/// The ingest table as Markdown.
pub fn table(r: &Value) -> String {
    let mut out = String::new();
    let row = |name: &str, m: &Value, events: &Value| {
        format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            events,
            fmt(&m["median_events_per_sec"], 0),
            fmt(&m["median_mb_per_sec"], 1),
            fmt(&m["median_peak_rss_mib"], 0),
            m["runs"].as_array().map_or(0, Vec::len),
        )
    };
    out.push_str(
        "| measurement | events | median events/s | median MB/s | peak RSS MiB | runs |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    out.push_str(&row(
        "raw librdkafka consume (ceiling)",
        &r["raw_consume"],
        &r["events"],
    ));
    out.push_str(&row(
        "hotline-ingest to committed Delta/Parquet",
        &r["hotline_ingest"],
        &r["events"],
    ));
    out.push_str(&row(
        "Python baseline (confluent-kafka + pyarrow)",
        &r["python_baseline"],
        &r["python_baseline"]["events"],
    ));
    out.push_str(&format!(
        "| ratio hotline-ingest / raw | | {} | | | |\n| ratio hotline-ingest / Python baseline | | {} | | | |\n",
        fmt(&r["ingest_over_raw"], 2),
        fmt(&r["ingest_over_baseline"], 1)
    ));
    out.push_str(&format!(
        "\n{} records ({} MB) from citysim (Beijing hotline, {} invalid per valid record), {} partitions, median of {} runs. \
Dead letters match citysim's truth: hotline-ingest {}, Python baseline {}.\n",
        r["events"],
        r["bytes"].as_u64().unwrap_or(0) / 1_000_000,
        r["bad_ratio"],
        r["partitions"],
        r["runs"],
        yes_no(&r["validation"]["hotline_ingest_matches_truth"]),
        yes_no(&r["validation"]["baseline_matches_truth"]),
    ));
    out
}

/// The ingest growth table as Markdown.
pub fn growth_table(r: &Value) -> String {
    let mut out = String::from("| events | seconds | events/s | runs |\n|---:|---:|---:|---:|\n");
    for p in r["growth"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            p["events"],
            fmt(&p["seconds"], 1),
            fmt(&p["events_per_sec"], 0),
            p["runs"]
        ));
    }
    out
}

fn yes_no(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "not checked (baseline read part of the topic)",
    }
}
