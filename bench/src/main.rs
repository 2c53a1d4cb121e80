//! `civicpulse-bench`: the measurements behind `bench/run`, civicpulse against what a
//! statistics bureau would otherwise use.
//!
//! - [`ingest`]: hotline-ingest against a raw librdkafka consumer and a Python baseline
//!   (confluent-kafka + pyarrow), and how its time grows with the topic;
//! - [`freshness`]: produce → queryable through kpi-query at a live rate;
//! - [`query`]: the KPI catalogue through kpi-query against DuckDB and polars, and how the
//!   suite's time grows with the lake;
//! - [`report`]: the time to produce one city's weekly report;
//! - [`full`]: the KPI catalogue over a full-size city year through kpi-query alone, with its
//!   default memory limit;
//! - [`summary`]: `bench/RESULTS.md` with the machine, versions and aims.
//!
//! Each measurement merges its JSON into the `--json` file under its name.

mod common;
mod freshness;
mod full;
mod ingest;
mod query;
mod report;
mod summary;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "civicpulse benchmarks (bench/run)")]
struct Cli {
    /// The JSON results file each measurement is merged into.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// hotline-ingest from a pre-filled topic to committed files, against a raw consumer and
    /// the Python baseline; growth over topic sizes.
    Ingest(ingest::IngestArgs),
    /// Produce → queryable through kpi-query at a live rate.
    Freshness(freshness::FreshnessArgs),
    /// The KPI catalogue through kpi-query against DuckDB and polars; growth over lake sizes.
    Query(query::QueryArgs),
    /// The time weekly-report takes for one city's week.
    Report(report::ReportArgs),
    /// The KPI catalogue over a full-size city year through kpi-query alone.
    Full(full::FullArgs),
    /// Writes the results file as Markdown (with machine and versions) and prints it.
    Summary {
        /// Where the Markdown goes.
        #[arg(long)]
        markdown: PathBuf,
    },
    /// Every measurement at a tiny size, into DIR/results.json and DIR/RESULTS.md (what the
    /// test suite runs, so the harness cannot rot).
    Smoke {
        /// Output directory (lakes are built under it too).
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let save = |key: &str, value: serde_json::Value| {
        if let Some(path) = &cli.json {
            common::save_measurement(path, key, value);
        }
    };
    match &cli.command {
        Command::Ingest(args) => {
            let r = ingest::run(args);
            print!("{}", ingest::table(&r));
            save("ingest", r);
        }
        Command::Freshness(args) => {
            let r = freshness::run(args);
            print!("{}", freshness::table(&r));
            save("freshness", r);
        }
        Command::Query(args) => {
            let r = query::run(args);
            print!("{}", query::table(&r));
            save("query", r);
        }
        Command::Report(args) => {
            let r = report::run(args);
            print!("{}", report::table(&r));
            save("report", r);
        }
        Command::Full(args) => {
            let r = full::run(args);
            print!("{}", full::table(&r));
            save("full", r);
        }
        Command::Summary { markdown } => {
            let json = cli.json.as_deref().unwrap_or_else(|| {
                eprintln!("civicpulse-bench summary: --json is required");
                std::process::exit(2)
            });
            summary::run(json, markdown);
        }
        Command::Smoke { dir } => smoke(dir),
    }
}

/// Every measurement at a tiny size. The Python baseline reads the whole topic, so its dead
/// letters are checked against citysim's truth too.
fn smoke(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("smoke directory");
    let json = dir.join("results.json");
    let _ = std::fs::remove_file(&json);
    let cache = Some(dir.join("cache"));
    let ingest = ingest::run(&ingest::IngestArgs {
        events: 20_000,
        runs: 1,
        partitions: 3,
        baseline_events: 20_000,
        bad_ratio: 0.01,
        growth_events: vec![5_000],
    });
    common::save_measurement(&json, "ingest", ingest);
    let freshness = freshness::run(&freshness::FreshnessArgs {
        rate: 500.0,
        seconds: 5,
        warmup: 8,
        poll_ms: 250,
        partitions: 3,
    });
    common::save_measurement(&json, "freshness", freshness);
    // The smallest city citysim builds, for a quarter; growth to one month of it.
    let query = query::run(&query::QueryArgs {
        scale: 0.002,
        months: 3,
        runs: 1,
        grain: "week".into(),
        cache: cache.clone(),
        growth_lakes: vec![query::LakeSpec {
            scale: 0.002,
            months: 1,
        }],
    });
    assert!(
        query["state"]["last_step"]["events"].as_f64() > Some(0.0),
        "no step of the state service was read: {}",
        query["state"]
    );
    common::save_measurement(&json, "query", query);
    let full = full::run(&full::FullArgs {
        scale: 0.002,
        months: 3,
        runs: 1,
        grain: "week".into(),
        cache: cache.clone(),
    });
    assert_eq!(full["answered"], full["asked"], "full: {full}");
    common::save_measurement(&json, "full", full);
    let report = report::run(&report::ReportArgs {
        scale: 0.002,
        months: 1,
        week: "2024-W03".into(),
        runs: 1,
        cache,
    });
    common::save_measurement(&json, "report", report);
    summary::run(&json, &dir.join("RESULTS.md"));
}
