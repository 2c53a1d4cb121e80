//! `freshness`: how long an event takes from being produced to being queryable through
//! kpi-query, at a steady live rate.
//!
//! citysim `--rate R` sends Beijing hotline events into tansu, each stamped with the wall-clock
//! time it is due to leave (`event_time`; citysim sleeps until then, so a stamp is at most 2 ms
//! later than the send, and earlier when citysim falls behind). hotline-ingest lands them with
//! its default configuration, `lake-maintain state` folds them into the state table with its
//! defaults (kpi-query reads the events at the version the state has applied: a row counts as
//! queryable once it is in the state too), and kpi-query serves the lake. A poller asks kpi-query every
//! `--poll-ms` for the rows past the last Kafka offset it has seen per partition (offsets land
//! in order, exactly once), and charges each new row `poll start − event_time`: a query sees
//! every commit made before it starts and the row was not there at the previous poll's start,
//! so this is an upper bound, at most one poll period above the true delay. Events stamped in
//! the first `--warmup` seconds are left out; after the measured window citysim stops and the
//! poller waits until every offset produced has been seen.

use std::time::{Duration, Instant};

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::kafka::create_topic;
use civicpulse_tests::process::{ServiceProcess, wait_for};
use civicpulse_tests::query::KpiQuery;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

use crate::common::{fmt, now_ms, quantile};

/// Arguments of `civicpulse-bench freshness`.
#[derive(Debug, Clone, clap::Args)]
pub struct FreshnessArgs {
    /// Events a second citysim sends.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Seconds of events measured (after the warm-up).
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seconds of events left out at the start (services starting, first commit).
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Milliseconds between two polls of kpi-query (the resolution of each delay).
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
    /// Topic partitions.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
}

/// The poller's view: the last offset seen per partition and the delays charged.
struct Poller {
    last: Vec<i64>,
    delays_ms: Vec<f64>,
    query_ms: Vec<f64>,
    window: (i64, i64),
}

impl Poller {
    /// One poll: every row past the offsets seen, each charged `start − event_time` if it was
    /// stamped inside the window.
    fn poll(&mut self, query: &KpiQuery) {
        let filter: Vec<String> = self
            .last
            .iter()
            .enumerate()
            .map(|(p, o)| format!("(kafka_partition = {p} AND kafka_offset > {o})"))
            .collect();
        let sql = format!(
            "SELECT kafka_partition AS p, kafka_offset AS o, \
             CAST(date_part('epoch', event_time) * 1000 AS BIGINT) AS t \
             FROM hotline_tickets WHERE {}",
            filter.join(" OR ")
        );
        let started = now_ms();
        let clock = Instant::now();
        let rows = query.rows(&sql);
        self.query_ms.push(clock.elapsed().as_secs_f64() * 1000.0);
        for row in rows {
            let (Some(p), Some(o), Some(t)) =
                (row["p"].as_u64(), row["o"].as_i64(), row["t"].as_i64())
            else {
                panic!("unexpected row from kpi-query: {row}");
            };
            let last = &mut self.last[p as usize];
            *last = (*last).max(o);
            if (self.window.0..self.window.1).contains(&t) {
                self.delays_ms.push((started - t) as f64);
            }
        }
    }
}

/// Runs the benchmark and returns its JSON.
pub fn run(args: &FreshnessArgs) -> Value {
    let broker = TestBroker::start_memory();
    let brokers = broker.brokers();
    let work = tempfile::tempdir().expect("work dir");
    let lake = work.path().join("lake");
    let logs = work.path().join("logs");
    // The topic exists before the service starts, as in a deployment (a consumer subscribed to
    // a missing topic only learns of it at its next metadata refresh, minutes later).
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(create_topic(&brokers, "hotline.tickets", args.partitions));
    let mut ingest = ServiceProcess::start(
        "hotline-ingest",
        &[
            "--brokers",
            &brokers,
            "--lake",
            lake.to_str().expect("UTF-8"),
        ],
        &[("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")],
        &logs,
    );
    // The state service with its defaults: kpi-query reads hotline_tickets at the version the
    // state has applied, so a row is queryable once it is in the state too.
    let _state = ServiceProcess::start_without_http(
        "lake-maintain",
        &["--lake", lake.to_str().expect("UTF-8"), "state"],
        &[("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")],
        &logs,
    );
    let query = KpiQuery::start(&lake, &[("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")], &logs);
    let mut citysim = ServiceProcess::start_without_http(
        "citysim",
        &[
            "--city",
            "beijing",
            "--scale",
            "0.05",
            "--streams",
            "hotline",
            "--brokers",
            &brokers,
            "--partitions",
            &args.partitions.to_string(),
            "--rate",
            &args.rate.to_string(),
            "--quiet",
        ],
        &[],
        &logs,
    );
    let start = now_ms() + args.warmup as i64 * 1000;
    let end = start + args.seconds as i64 * 1000;
    let mut poller = Poller {
        last: vec![-1; args.partitions as usize],
        delays_ms: Vec::new(),
        query_ms: Vec::new(),
        window: (start, end),
    };
    let interval = Duration::from_millis(args.poll_ms);
    let tick = |poller: &mut Poller, ingest: &mut ServiceProcess| {
        let began = Instant::now();
        if let Some(status) = ingest.exited() {
            panic!("hotline-ingest exited with {status}: {}", ingest.log());
        }
        poller.poll(&query);
        std::thread::sleep(interval.saturating_sub(began.elapsed()));
    };
    while now_ms() < end {
        if let Some(status) = citysim.exited() {
            panic!("citysim exited with {status}: {}", citysim.log());
        }
        tick(&mut poller, &mut ingest);
    }
    // citysim flushes what it has queued and exits; then every offset up to the end must land.
    citysim.terminate(Duration::from_secs(30));
    let high = high_watermarks(&brokers, args.partitions);
    let drained = Instant::now();
    let all_seen = |p: &Poller| p.last.iter().zip(&high).all(|(l, h)| *l >= h - 1);
    while !all_seen(&poller) && drained.elapsed() < Duration::from_secs(60) {
        tick(&mut poller, &mut ingest);
    }
    let unseen: i64 = poller
        .last
        .iter()
        .zip(&high)
        .map(|(l, h)| (h - 1 - l).max(0))
        .sum();
    let dead = ingest
        .metric("civicpulse_records_dead_lettered_total", "")
        .unwrap_or(0.0);
    ingest.terminate(Duration::from_secs(60));
    let produced: i64 = high.iter().sum();
    let delays: Vec<f64> = poller.delays_ms.iter().map(|d| d / 1000.0).collect();
    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "rate": args.rate,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "poll_ms": args.poll_ms,
        "partitions": args.partitions,
        "produced": produced,
        "events_measured": delays.len(),
        "achieved_rate": delays.len() as f64 / args.seconds as f64,
        "unseen_after_drain": unseen,
        "dead_lettered": dead,
        "p50_s": quantile(&delays, 0.5),
        "p95_s": quantile(&delays, 0.95),
        "p99_s": quantile(&delays, 0.99),
        "max_s": quantile(&delays, 1.0),
        "min_s": quantile(&delays, 0.0),
        "median_poll_query_ms": quantile(&poller.query_ms, 0.5),
        "config": "hotline-ingest defaults (landing.max_age_ms = 5000, fetch.wait.max.ms = 100); citysim linger.ms = 20",
    });
    eprintln!(
        "freshness: p50 {} s, p95 {} s over {} events",
        fmt(&result["p50_s"], 2),
        fmt(&result["p95_s"], 2),
        delays.len()
    );
    result
}

/// The high watermark of each partition of the hotline topic.
fn high_watermarks(brokers: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-freshness-watermarks")
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            wait_for(Duration::from_secs(30), || {
                consumer
                    .fetch_watermarks("hotline.tickets", p, Duration::from_secs(5))
                    .ok()
            })
            .expect("watermarks")
            .1
        })
        .collect()
}

/// The freshness table as Markdown.
pub fn table(r: &Value) -> String {
    format!(
        "| live rate | events measured | p50 s | p95 s | p99 s | max s |\n|---:|---:|---:|---:|---:|---:|\n\
         | {} ev/s | {} | {} | {} | {} | {} |\n\n\
         Produce → queryable through kpi-query: citysim `--rate {}` (events stamped when they leave), \
         hotline-ingest and the state service with their defaults, a poll every {} ms (each delay is an upper bound, at most one poll \
         above the truth; a poll query took {} ms at the median), {} s after {} s of warm-up; {} offsets unseen after draining.\n",
        fmt(&r["rate"], 0),
        r["events_measured"],
        fmt(&r["p50_s"], 2),
        fmt(&r["p95_s"], 2),
        fmt(&r["p99_s"], 2),
        fmt(&r["max_s"], 2),
        r["rate"],
        r["poll_ms"],
        fmt(&r["median_poll_query_ms"], 0),
        r["seconds"],
        r["warmup_seconds"],
        r["unseen_after_drain"],
    )
}
