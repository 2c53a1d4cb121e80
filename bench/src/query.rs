//! `query`: the KPI catalogue over one simulated Beijing year, through kpi-query's engine
//! (HTTP, JSON answers) against DuckDB and polars over the same tables' active Parquet files
//! (`read_parquet(…, hive_partitioning = true)`, `pl.scan_parquet(…, hive_partitioning=True)`),
//! in the same run: p50 per KPI and the suite totals.
//!
//! Growth: the suite once more (one run, kpi-query and DuckDB) over lakes of other scales
//! (`--growth-scales`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use civicpulse_tests::process::binary;
use civicpulse_tests::python;
use civicpulse_tests::query::KpiQuery;
use serde_json::{Value, json};

use crate::common::{cache_dir, fmt, median, peak_rss_mib, script};

/// Arguments of `civicpulse-bench query`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Share of Beijing simulated (hotline events grow with it: 0.2 ≈ 20 M events a year).
    #[arg(long, default_value_t = 0.2)]
    pub scale: f64,
    /// Months of 2024 in the lake, from January (the KPIs are asked over the whole year).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub months: u32,
    /// Runs per KPI and engine (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Grain of the KPI answers.
    #[arg(long, default_value = "week")]
    pub grain: String,
    /// Where lakes are kept between runs (a cache: rebuilt from citysim when missing).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Growth: other lakes whose suite runs once, as `SCALE` or `SCALE:MONTHS` (with the main
    /// lake they make the growth series).
    #[arg(long, value_delimiter = ',', default_value = "0.025,0.05,0.1", value_parser = parse_lake)]
    pub growth_lakes: Vec<LakeSpec>,
}

/// A simulated lake: Beijing from January 2024 at a scale, for some months.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LakeSpec {
    /// Share of the city.
    pub scale: f64,
    /// Months from January 2024 (1–12).
    pub months: u32,
}

fn parse_lake(s: &str) -> Result<LakeSpec, String> {
    let (scale, months) = s.split_once(':').unwrap_or((s, "12"));
    let scale: f64 = scale.parse().map_err(|e| format!("scale {scale:?}: {e}"))?;
    let months: u32 = months
        .parse()
        .map_err(|e| format!("months {months:?}: {e}"))?;
    if !(scale > 0.0 && (1..=12).contains(&months)) {
        return Err(format!("{s:?}: a positive scale and 1–12 months"));
    }
    Ok(LakeSpec { scale, months })
}

/// The lake of `spec`, landed by citysim through the ingest services' normalisation; cached
/// under `cache`.
pub fn lake(cache: &Path, spec: LakeSpec) -> PathBuf {
    let LakeSpec { scale, months } = spec;
    let period = if months == 12 {
        "2024".to_owned()
    } else {
        format!("2024-01-to-{months:02}")
    };
    let dir = cache.join(format!("bench-lake-beijing-{period}-scale-{scale}-seed-7"));
    if dir.join("landed").exists() {
        // Cached: its state tables are brought up to date (a state table this build added is
        // kept from all events; the others have nothing to apply).
        keep_state(&dir);
        return dir.join("lake");
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("lake cache dir");
    eprintln!(
        "landing Beijing {period} at scale {scale} into {} (once; cached) …",
        dir.display()
    );
    let last_day = chrono::NaiveDate::from_ymd_opt(2024 + months as i32 / 12, months % 12 + 1, 1)
        .and_then(|d| d.pred_opt())
        .expect("a valid month");
    let started = Instant::now();
    let status = Command::new(binary("citysim"))
        .args(["--city", "beijing", "--from", "2024-01-01", "--to"])
        .arg(last_day.to_string())
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
    std::fs::write(dir.join("landed"), "").expect("marker");
    keep_state(&dir);
    dir.join("lake")
}

/// Brings the lake's state tables up to date (`lake-maintain state --once`). The first time
/// (no `state.json` beside the lake), the state is kept again (`--rebuild`) from the events
/// without the newest hotline commit, then that commit is folded in: `state.json` records the
/// time, rate and peak memory of the first, and that one apply into the year's state (what
/// keeping up with a live city costs at this size).
fn keep_state(dir: &Path) {
    let lake = dir.join("lake");
    let record_file = dir.join("state.json");
    if record_file.exists() {
        let (seconds, _, _) = state_once(&lake, &[]);
        eprintln!("state tables up to date in {seconds:.1} s");
        return;
    }
    let tickets = lake.join("hotline_tickets");
    // A keep from nothing rewrites the months each step touches, so a full-size year keeps in
    // larger steps (at most about 60); the keeping-up step below is the service's own size.
    let events = python::count_rows(&tickets).unwrap_or(0);
    let max_rows = (events / 60).max(500_000);
    let (seconds, peak, _) = {
        let _hidden = HiddenNewestCommit::new(&tickets);
        eprintln!(
            "keeping the state tables from all events but the newest commit, {max_rows} events a step …"
        );
        state_once(&lake, &["--rebuild", "--max-rows", &max_rows.to_string()])
    };
    let (_, step_peak, last_step) = state_once(&lake, &[]);
    let events = events as f64;
    let newest = last_step
        .as_ref()
        .and_then(|s| s["events"].as_f64())
        .unwrap_or(0.0);
    let kept = events - newest;
    eprintln!(
        "state: {kept} hotline events kept in {seconds:.0} s ({:.0} events/s), peak {peak:?} MiB; then {last_step:?}",
        kept / seconds,
    );
    let record = json!({
        "hotline_events": events,
        "kept_events": kept,
        "seconds": seconds,
        "events_per_s": kept / seconds,
        "peak_rss_mib": peak,
        "step_events": max_rows,
        "last_step": last_step,
        "last_step_peak_rss_mib": step_peak,
    });
    std::fs::write(record_file, record.to_string()).expect("state.json");
}

/// Runs `lake-maintain state --once` over `lake`, showing each step as it comes: its time,
/// peak memory, and the last step of the ticket state.
fn state_once(lake: &Path, extra: &[&str]) -> (f64, Option<f64>, Option<Value>) {
    let started = Instant::now();
    let mut child = Command::new(binary("lake-maintain"))
        .arg("--lake")
        .arg(lake)
        .args(["state", "--once"])
        .args(extra)
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("lake-maintain state runs");
    let stdout = child.stdout.take().expect("piped");
    let steps = std::thread::spawn(move || {
        let mut last = None;
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(step) = line.strip_prefix("hotline_ticket_state: applied hotline_tickets ")
            {
                last = parse_step(step).or(last);
            }
        }
        last
    });
    let mut peak: Option<f64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if let Some(rss) = peak_rss_mib(child.id()) {
            peak = Some(peak.map_or(rss, |p: f64| p.max(rss)));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(status.success(), "lake-maintain state --once failed");
    let last = steps.join().expect("stdout reader");
    (started.elapsed().as_secs_f64(), peak, last)
}

/// The newest commit of a Delta table moved aside while it lives (its log entry, and a
/// checkpoint of that version with the hint naming it), so that readers and writers see the
/// version before; put back when dropped.
struct HiddenNewestCommit {
    moved: Vec<(PathBuf, PathBuf)>,
}

impl HiddenNewestCommit {
    fn new(table: &Path) -> Self {
        let log = table.join("_delta_log");
        let newest = std::fs::read_dir(&log)
            .expect("a Delta log")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json")?.parse::<u64>().ok()
            })
            .max()
            .expect("a commit");
        let prefix = format!("{newest:020}.");
        let mut moved = Vec::new();
        for entry in std::fs::read_dir(&log).expect("a Delta log").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let names_newest = name == "_last_checkpoint"
                && std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| v["version"].as_u64())
                    == Some(newest);
            if name.starts_with(&prefix) || names_newest {
                let aside = log.join(format!("hidden-{name}"));
                std::fs::rename(entry.path(), &aside).expect("move aside");
                moved.push((aside, entry.path()));
            }
        }
        Self { moved }
    }
}

impl Drop for HiddenNewestCommit {
    fn drop(&mut self) {
        for (aside, path) in &self.moved {
            std::fs::rename(aside, path).expect("put back");
        }
    }
}

/// A step line of `lake-maintain state --once` after the table names: `versions 4 to 6: 1000
/// events, 420 rows in 1.50 s (fold 1.00 s, write 0.50 s)`.
fn parse_step(step: &str) -> Option<Value> {
    let words: Vec<&str> = step
        .split([' ', ':', ',', '(', ')'])
        .filter(|w| !w.is_empty())
        .collect();
    let after = |word: &str| {
        words
            .iter()
            .rposition(|w| *w == word)
            .and_then(|i| words.get(i + 1))
            .and_then(|w| w.parse::<f64>().ok())
    };
    let before = |word: &str| {
        words
            .iter()
            .position(|w| *w == word)
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| words[i].parse::<f64>().ok())
    };
    Some(json!({
        "events": before("events")?,
        "state_rows": before("rows")?,
        "seconds": after("in")?,
        "fold_s": after("fold")?,
        "write_s": after("write")?,
    }))
}

/// What `keep_state` recorded for the lake at `lake`.
pub fn state_record(lake: &Path) -> Value {
    lake.parent()
        .and_then(|d| std::fs::read_to_string(d.join("state.json")).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// kpi-query over `lake` with generous limits: the benchmark measures speed, not the service's
/// guard rails.
fn start_kpi_query(lake: &Path, logs: &Path) -> KpiQuery {
    KpiQuery::start(
        lake,
        &[
            ("CIVICPULSE_QUERY__TIMEOUT_SECS", "900"),
            ("CIVICPULSE_QUERY__MEMORY_LIMIT_BYTES", "17179869184"),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn"),
        ],
        logs,
    )
}

/// The period every KPI is asked over: the lake's year.
pub const FROM: &str = "2024-01-01";
pub const TO: &str = "2024-12-31";

/// The ids of kpi-query's KPI catalogue.
pub fn catalogue(query: &KpiQuery) -> Vec<String> {
    query
        .get("/kpis")
        .json()
        .as_array()
        .expect("catalogue")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Timings of the whole catalogue on one lake.
struct Suite {
    lake_rows: u64,
    /// Per KPI: kpi-query runs (s) and answer rows.
    kpi_query: BTreeMap<String, (Vec<f64>, usize)>,
    /// `{"timings": {id: {"p50": s}}}` of duckdb_kpis.py over the state tables.
    duckdb: Value,
    /// The same with the state's reference definition over the events (`--state reference`):
    /// the recompute every query did before the state tables.
    duckdb_recompute: Option<Value>,
    /// Peak resident memory of kpi-query over the suite, MiB.
    kpi_query_peak_rss_mib: Option<f64>,
    /// polars_kpis.py's JSON, when asked for.
    polars: Option<Value>,
}

/// Runs every catalogue KPI over the year `runs` times on each engine.
fn suite(lake: &Path, runs: usize, grain: &str, with_polars: bool, work: &Path) -> Suite {
    let query = start_kpi_query(lake, &work.join("logs"));
    let ids = catalogue(&query);
    let lake_rows: u64 = ["hotline_tickets", "facility_changes", "renovation_progress"]
        .iter()
        .map(|t| {
            query.rows(&format!("SELECT count(*) AS n FROM {t}"))[0]["n"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();

    // DuckDB and polars get the same reference tables kpi-query serves.
    let refdir = work.join("reference");
    std::fs::create_dir_all(&refdir).expect("reference dir");
    for table in ["calendar", "divisions", "kpi_weight_versions"] {
        let r = query.sql(&format!("SELECT * FROM {table}"), "format=parquet");
        assert_eq!(r.status, 200, "{table}: {}", r.text());
        std::fs::write(refdir.join(format!("{table}.parquet")), &r.body).expect("write");
    }

    let mut kpi_query = BTreeMap::new();
    for id in &ids {
        let path = format!("/kpis/{id}?from={FROM}&to={TO}&grain={grain}");
        let mut times = Vec::new();
        let mut answer_rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let r = query.get(&path);
            times.push(started.elapsed().as_secs_f64());
            assert_eq!(r.status, 200, "{id}: {}", r.text());
            answer_rows = r.json().as_array().map_or(0, Vec::len);
        }
        eprintln!(
            "{id}: kpi-query {:.3} s ({answer_rows} rows)",
            median(times.clone())
        );
        kpi_query.insert(id.clone(), (times, answer_rows));
    }
    let kpi_query_peak_rss_mib = peak_rss_mib(query.pid());
    // The other engines have the machine to themselves.
    drop(query);
    let runs = runs.to_string();
    let mut engine_args = vec![
        lake.to_str().expect("UTF-8"),
        refdir.to_str().expect("UTF-8"),
        FROM,
        TO,
        grain,
        "--time",
        &runs,
    ];
    engine_args.extend(ids.iter().map(String::as_str));
    let duckdb: Value =
        serde_json::from_str(&python::run_script("duckdb_kpis.py", &engine_args)).expect("JSON");
    let duckdb_recompute = with_polars.then(|| {
        let mut args = engine_args.clone();
        args.splice(2..2, ["--state", "reference"]);
        serde_json::from_str(&python::run_script("duckdb_kpis.py", &args)).expect("JSON")
    });
    let polars = with_polars.then(|| {
        let out = crate::common::python()
            .arg(script("polars_kpis.py"))
            .args(&engine_args)
            .output()
            .expect("polars_kpis.py runs");
        assert!(
            out.status.success(),
            "polars_kpis.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    });
    Suite {
        lake_rows,
        kpi_query,
        duckdb,
        duckdb_recompute,
        kpi_query_peak_rss_mib,
        polars,
    }
}

/// Sum of `f` over the suite's KPIs, or NaN if any is missing.
fn total(ids: &[&String], f: impl Fn(&str) -> Option<f64>) -> f64 {
    ids.iter().map(|id| f(id).unwrap_or(f64::NAN)).sum()
}

/// Runs the benchmark and returns its JSON.
pub fn run(args: &QueryArgs) -> Value {
    assert!(args.runs > 0, "--runs must be at least 1");
    let cache = cache_dir(args.cache.as_deref());
    let work = tempfile::tempdir().expect("work dir");
    let main_spec = LakeSpec {
        scale: args.scale,
        months: args.months,
    };
    let main = suite(
        &lake(&cache, main_spec),
        args.runs,
        &args.grain,
        true,
        work.path(),
    );
    let ids: Vec<&String> = main.kpi_query.keys().collect();
    let polars = main.polars.clone().unwrap_or_default();
    let duck_p50 = |id: &str| main.duckdb["timings"][id]["p50"].as_f64();
    let recompute = main.duckdb_recompute.clone().unwrap_or_default();
    let recompute_p50 = |id: &str| recompute["timings"][id]["p50"].as_f64();
    let polars_p50 = |id: &str| polars["timings"][id]["p50"].as_f64();
    let ours_p50 = |id: &str| main.kpi_query.get(id).map(|(t, _)| median(t.clone()));
    let table: Vec<Value> = ids
        .iter()
        .map(|id| {
            let (times, rows) = &main.kpi_query[*id];
            json!({
                "kpi": id,
                "kpi_query_p50_s": ours_p50(id),
                "duckdb_p50_s": duck_p50(id),
                "duckdb_recompute_p50_s": recompute_p50(id),
                "polars_p50_s": polars_p50(id),
                "polars_error": polars["errors"][id.as_str()],
                "polars_rows": polars["timings"][id.as_str()]["rows"],
                "rows": rows,
                "kpi_query_runs_s": times,
            })
        })
        .collect();
    let polars_ran: Vec<&String> = ids
        .iter()
        .copied()
        .filter(|id| polars_p50(id).is_some())
        .collect();
    let ours_total = total(&ids, ours_p50);
    let duck_total = total(&ids, duck_p50);

    let mut growth = vec![json!({
        "scale": args.scale,
        "months": args.months,
        "lake_rows": main.lake_rows,
        "suite_kpi_query_s": ours_total,
        "suite_duckdb_s": duck_total,
        "runs": args.runs,
    })];
    for &spec in &args.growth_lakes {
        let dir = work
            .path()
            .join(format!("growth-{}-{}", spec.scale, spec.months));
        let s = suite(&lake(&cache, spec), 1, &args.grain, false, &dir);
        let ids: Vec<&String> = s.kpi_query.keys().collect();
        let ours = total(&ids, |id| {
            s.kpi_query.get(id).map(|(t, _)| median(t.clone()))
        });
        let duck = total(&ids, |id| s.duckdb["timings"][id]["p50"].as_f64());
        eprintln!("growth {spec:?}: kpi-query {ours:.2} s, DuckDB {duck:.2} s");
        growth.push(json!({
            "scale": spec.scale,
            "months": spec.months,
            "lake_rows": s.lake_rows,
            "suite_kpi_query_s": ours,
            "suite_duckdb_s": duck,
            "runs": 1,
        }));
    }
    growth.sort_by_key(|p| p["lake_rows"].as_u64());

    json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "scale": args.scale,
        "months": args.months,
        "lake_rows": main.lake_rows,
        "grain": args.grain,
        "runs": args.runs,
        "kpis": table,
        "suite_kpi_query_s": ours_total,
        "suite_duckdb_s": duck_total,
        "suite_ratio": ours_total / duck_total,
        "suite_duckdb_recompute_s": total(&ids, recompute_p50),
        "suite_ratio_recompute": ours_total / total(&ids, recompute_p50),
        "kpi_query_max_p50_s": ids.iter().filter_map(|id| ours_p50(id)).fold(0.0, f64::max),
        "kpi_query_peak_rss_mib": main.kpi_query_peak_rss_mib,
        "state": state_record(&lake(&cache, main_spec)),
        "polars_kpis_run": polars_ran.len(),
        "polars_view_errors": polars["view_errors"],
        // Over the KPIs polars could run, so the three totals compare like with like.
        "subset_polars_s": total(&polars_ran, polars_p50),
        "subset_kpi_query_s": total(&polars_ran, ours_p50),
        "subset_duckdb_s": total(&polars_ran, duck_p50),
        "growth": growth,
    })
}

/// The query table as Markdown.
pub fn table(r: &Value) -> String {
    let mut out = String::from(
        "| KPI | rows | kpi-query p50 s | DuckDB p50 s | polars p50 s | kpi-query / DuckDB |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for k in r["kpis"].as_array().into_iter().flatten() {
        let ratio = k["kpi_query_p50_s"].as_f64().unwrap_or(f64::NAN)
            / k["duckdb_p50_s"].as_f64().unwrap_or(f64::NAN);
        let polars = match k["polars_p50_s"].as_f64() {
            Some(_) if k["polars_rows"] != k["rows"] => {
                format!("{}²", fmt(&k["polars_p50_s"], 3))
            }
            Some(_) => fmt(&k["polars_p50_s"], 3),
            None => "cannot run¹".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {polars} | {} |\n",
            k["kpi"].as_str().unwrap_or(""),
            k["rows"],
            fmt(&k["kpi_query_p50_s"], 3),
            fmt(&k["duckdb_p50_s"], 3),
            fmt(&json!(ratio), 2),
        ));
    }
    out.push_str(&format!(
        "| suite of {} | | {} | {} | | {} |\n| the {} KPIs polars runs | | {} | {} | {} | |\n",
        r["kpis"].as_array().map_or(0, Vec::len),
        fmt(&r["suite_kpi_query_s"], 2),
        fmt(&r["suite_duckdb_s"], 2),
        fmt(&r["suite_ratio"], 2),
        r["polars_kpis_run"],
        fmt(&r["subset_kpi_query_s"], 2),
        fmt(&r["subset_duckdb_s"], 2),
        fmt(&r["subset_polars_s"], 2),
    ));
    out.push_str(&format!(
        "\nBeijing 2024 (the first {} months) at scale {}, {} rows in the lake, KPIs over the year at grain {}, p50 of {} runs; kpi-query over HTTP with JSON answers, \
DuckDB and polars in-process over the tables' active Parquet files.\n",
        r["months"],
        r["scale"],
        fmt(&r["lake_rows"], 0),
        r["grain"].as_str().unwrap_or(""),
        r["runs"],
    ));
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in r["kpis"].as_array().into_iter().flatten() {
        if let Some(e) = k["polars_error"].as_str() {
            reasons
                .entry(e.to_owned())
                .or_default()
                .push(k["kpi"].as_str().unwrap_or("").to_owned());
        }
    }
    if !reasons.is_empty() {
        out.push_str("\n¹ polars' SQL (`pl.SQLContext`, the files unchanged) stops at:\n");
        for (reason, kpis) in reasons {
            out.push_str(&format!(
                "- {}: `{}`\n",
                kpis.join(", "),
                reason.replace('`', "'")
            ));
        }
    }
    if r["kpis"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|k| k["polars_p50_s"].is_number() && k["polars_rows"] != k["rows"])
    {
        out.push_str("\n² polars answered with another number of rows than kpi-query.\n");
    }
    if let Some(views) = r["polars_view_errors"]
        .as_object()
        .filter(|v| !v.is_empty())
    {
        out.push_str("\nViews polars cannot define (every KPI over them fails):\n");
        for (view, e) in views {
            out.push_str(&format!(
                "- `{view}`: `{}`\n",
                e.as_str().unwrap_or("").replace('`', "'")
            ));
        }
    }
    out
}

/// The query growth table as Markdown.
pub fn growth_table(r: &Value) -> String {
    let mut out = String::from(
        "| scale | months | lake rows | kpi-query suite s | DuckDB suite s | runs |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in r["growth"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            p["scale"],
            p["months"],
            fmt(&p["lake_rows"], 0),
            fmt(&p["suite_kpi_query_s"], 2),
            fmt(&p["suite_duckdb_s"], 2),
            p["runs"],
        ));
    }
    out
}
