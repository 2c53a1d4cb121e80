//! `query`: the KPI catalogue over one simulated Beijing year, through kpi-query's engine
//! (HTTP, JSON answers) against DuckDB over the same tables' active Parquet files, in the same
//! run: p50 per KPI and the suite total.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use civicpulse_tests::process::binary;
use civicpulse_tests::python;
use civicpulse_tests::query::KpiQuery;

/// Arguments of `civicpulse-bench query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Share of Beijing simulated (hotline events grow with it: 0.2 ≈ 24 M events a year).
    #[arg(long, default_value_t = 0.2)]
    pub scale: f64,
    /// Runs per KPI and engine (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Grain of the KPI answers.
    #[arg(long, default_value = "week")]
    pub grain: String,
    /// Where lakes are kept between runs (a cache: rebuilt from citysim when missing).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Where to write the JSON results (merged into an existing file under "query").
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The simulated year's lake, landed by citysim through the ingest services' normalisation.
fn lake(cache: &Path, scale: f64) -> PathBuf {
    let dir = cache.join(format!("bench-lake-beijing-2024-scale-{scale}-seed-7"));
    let done = dir.join("complete");
    if done.exists() {
        return dir.join("lake");
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("lake cache dir");
    eprintln!(
        "landing Beijing 2024 at scale {scale} into {} …",
        dir.display()
    );
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
        .args(["--scale", &scale.to_string(), "--seed", "7", "--quiet"])
        .arg("--lake")
        .arg(dir.join("lake"))
        .arg("--truth")
        .arg(dir.join("truth.json"))
        .env("CIVICPULSE_HASH_KEY", civicpulse_tests::TEST_HASH_KEY)
        .status()
        .expect("citysim runs");
    assert!(status.success(), "citysim --lake failed");
    eprintln!("landed in {:.0} s", started.elapsed().as_secs_f64());
    std::fs::write(&done, "").expect("marker");
    dir.join("lake")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the benchmark and returns its JSON.
pub fn run(args: QueryArgs) -> serde_json::Value {
    let cache = args.cache.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
            .join(".cache/civicpulse")
    });
    let lake = lake(&cache, args.scale);
    let work = tempfile::tempdir().expect("work dir");
    // Generous limits: the benchmark measures speed, not the service's guard rails.
    let query = KpiQuery::start(
        &lake,
        &[
            ("CIVICPULSE_QUERY__TIMEOUT_SECS", "900"),
            ("CIVICPULSE_QUERY__MEMORY_LIMIT_BYTES", "17179869184"),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn"),
        ],
        &work.path().join("logs"),
    );
    let ids: Vec<String> = query
        .get("/kpis")
        .json()
        .as_array()
        .expect("catalogue")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_owned())
        .collect();
    let (from, to) = ("2024-01-01", "2024-12-31");
    let rows: u64 = ["hotline_tickets", "facility_changes", "renovation_progress"]
        .iter()
        .map(|t| {
            query.rows(&format!("SELECT count(*) AS n FROM {t}"))[0]["n"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();

    // DuckDB over the same active files, with the same SQL and reference tables.
    let refdir = work.path().join("reference");
    std::fs::create_dir_all(&refdir).expect("reference dir");
    for table in ["calendar", "divisions", "kpi_weight_versions"] {
        let r = query.sql(&format!("SELECT * FROM {table}"), "format=parquet");
        assert_eq!(r.status, 200, "{table}: {}", r.text());
        std::fs::write(refdir.join(format!("{table}.parquet")), &r.body).expect("write");
    }
    let runs = args.runs.to_string();
    let mut duck_args = vec![
        lake.to_str().expect("UTF-8"),
        refdir.to_str().expect("UTF-8"),
        from,
        to,
        &args.grain,
        "--time",
        &runs,
    ];
    duck_args.extend(ids.iter().map(String::as_str));
    let duck: serde_json::Value =
        serde_json::from_str(&python::run_script("duckdb_kpis.py", &duck_args)).expect("JSON");

    let mut table = Vec::new();
    let (mut ours_total, mut duck_total) = (0.0, 0.0);
    for id in &ids {
        let path = format!("/kpis/{id}?from={from}&to={to}&grain={}", args.grain);
        let mut times = Vec::new();
        let mut answer_rows = 0;
        for _ in 0..args.runs {
            let started = Instant::now();
            let r = query.get(&path);
            times.push(started.elapsed().as_secs_f64());
            assert_eq!(r.status, 200, "{id}: {}", r.text());
            answer_rows = r.json().as_array().map_or(0, Vec::len);
        }
        let ours = median(times.clone());
        let theirs = duck["timings"][id]["p50"].as_f64().unwrap_or(f64::NAN);
        ours_total += ours;
        duck_total += theirs;
        eprintln!("{id}: kpi-query {ours:.3} s, DuckDB {theirs:.3} s ({answer_rows} rows)");
        table.push(serde_json::json!({
            "kpi": id, "kpi_query_p50_s": ours, "duckdb_p50_s": theirs,
            "rows": answer_rows, "kpi_query_runs_s": times,
        }));
    }
    println!("| KPI | kpi-query p50 s | DuckDB p50 s | ratio |");
    println!("|---|---:|---:|---:|");
    for row in &table {
        let (a, b) = (
            row["kpi_query_p50_s"].as_f64().unwrap_or(f64::NAN),
            row["duckdb_p50_s"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "| {} | {a:.3} | {b:.3} | {:.2} |",
            row["kpi"].as_str().unwrap_or(""),
            a / b
        );
    }
    println!(
        "| suite | {ours_total:.2} | {duck_total:.2} | {:.2} |",
        ours_total / duck_total
    );
    println!(
        "(Beijing 2024 at scale {}, {rows} rows in the lake, grain {}, p50 of {} runs; kpi-query over HTTP with JSON answers)",
        args.scale, args.grain, args.runs
    );
    serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "scale": args.scale,
        "lake_rows": rows,
        "grain": args.grain,
        "runs": args.runs,
        "kpis": table,
        "suite_kpi_query_s": ours_total,
        "suite_duckdb_s": duck_total,
        "suite_ratio": ours_total / duck_total,
    })
}
