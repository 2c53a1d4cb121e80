//! `report`: the time `weekly-report` takes to produce one city's weekly report (Beijing,
//! `--week`, files only) over the query benchmark's lake, each run into a fresh output
//! directory. It reads the lake in process with kpi-query's engine, as it runs in production.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::common::{built_binary, cache_dir, fmt, median};
use crate::query::{LakeSpec, lake};

/// Arguments of `civicpulse-bench report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Share of Beijing simulated (the query benchmark's lake, cached).
    #[arg(long, default_value_t = 0.2)]
    pub scale: f64,
    /// Months of 2024 in the lake, from January.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub months: u32,
    /// ISO week of the report.
    #[arg(long, default_value = "2024-W23")]
    pub week: String,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where lakes are kept between runs.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

/// Runs the benchmark and returns its JSON (`{"skipped": why}` without the binary).
pub fn run(args: &ReportArgs) -> Value {
    let Some(binary) = built_binary("weekly-report") else {
        eprintln!("report: weekly-report not built; skipped");
        return json!({ "date": chrono::Utc::now().to_rfc3339(), "skipped": "weekly-report not built" });
    };
    let spec = LakeSpec {
        scale: args.scale,
        months: args.months,
    };
    let lake = lake(&cache_dir(args.cache.as_deref()), spec);
    let work = tempfile::tempdir().expect("work dir");
    let mut times = Vec::new();
    let mut files = 0;
    for run in 0..args.runs {
        let out = work.path().join(format!("report-{run}"));
        let mut cmd = Command::new(&binary);
        cmd.arg("--lake").arg(&lake);
        cmd.args(["--week", &args.week, "--city", "110000", "--no-send"]);
        cmd.arg("--out").arg(&out);
        let started = Instant::now();
        let output = cmd
            .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
            .output()
            .expect("weekly-report runs");
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            output.status.success(),
            "weekly-report failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        files = count_files(&out);
        assert!(
            files > 0,
            "weekly-report wrote nothing into {}",
            out.display()
        );
        eprintln!("report run {run}: {seconds:.2} s, {files} files");
        times.push(seconds);
    }
    json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "scale": args.scale,
        "week": args.week,
        "city": "110000",
        "via": "the lake, in process",
        "runs_s": times,
        "median_s": median(times.clone()),
        "files": files,
    })
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// The report line as Markdown.
pub fn table(r: &Value) -> String {
    if let Some(why) = r["skipped"].as_str() {
        return format!("Not measured: {why}.\n");
    }
    format!(
        "| report | median s | runs |\n|---|---:|---:|\n| Beijing, {} (lake at scale {}, {}) | {} | {} |\n",
        r["week"].as_str().unwrap_or(""),
        r["scale"],
        r["via"].as_str().unwrap_or(""),
        fmt(&r["median_s"], 2),
        r["runs_s"].as_array().map_or(0, Vec::len),
    )
}
