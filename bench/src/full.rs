//! `full`: the KPI catalogue over a full-size city year (Beijing 2024 at scale 1.0, about
//! 120 M hotline events) through kpi-query with the deployed per-query limits: does every KPI
//! answer within the default memory limit, how long the suite takes, and kpi-query's peak
//! memory. Only kpi-query runs: the other engines' recompute does not fit the machine at this
//! size, and the comparison with them is `query`'s, at scale 0.2.
//!
//! The lake is landed and its state kept once (cached, like `query`'s lakes; the keeping's
//! time, rate and memory are in its `state.json`).

use std::collections::BTreeMap;
use std::time::Instant;

use civicpulse_tests::query::KpiQuery;
use serde_json::{Value, json};

use crate::common::{cache_dir, fmt, median, peak_rss_mib};
use crate::query::{FROM, LakeSpec, TO, catalogue, lake, state_record};

/// Arguments of `civicpulse-bench full`.
#[derive(Debug, Clone, clap::Args)]
pub struct FullArgs {
    /// Share of Beijing simulated (1.0: the whole city).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Months of 2024 in the lake, from January.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub months: u32,
    /// Runs per KPI (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Grain of the KPI answers.
    #[arg(long, default_value = "week")]
    pub grain: String,
    /// Where lakes are kept between runs.
    #[arg(long)]
    pub cache: Option<std::path::PathBuf>,
}

/// Runs the benchmark and returns its JSON.
pub fn run(args: &FullArgs) -> Value {
    assert!(args.runs > 0, "--runs must be at least 1");
    let cache = cache_dir(args.cache.as_deref());
    let work = tempfile::tempdir().expect("work dir");
    let spec = LakeSpec {
        scale: args.scale,
        months: args.months,
    };
    let lake = lake(&cache, spec);
    // The default limits (memory per query, concurrency), but time enough to see a slow answer.
    let query = KpiQuery::start(
        &lake,
        &[
            ("CIVICPULSE_QUERY__TIMEOUT_SECS", "900"),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn"),
        ],
        &work.path().join("logs"),
    );
    let ids = catalogue(&query);
    let lake_rows = query.rows("SELECT count(*) AS n FROM hotline_tickets")[0]["n"].as_u64();
    let mut kpis = BTreeMap::new();
    for id in &ids {
        let path = format!("/kpis/{id}?from={FROM}&to={TO}&grain={}", args.grain);
        let mut times = Vec::new();
        let mut rows = None;
        let mut error = None;
        for _ in 0..args.runs {
            let started = Instant::now();
            let r = query.get(&path);
            times.push(started.elapsed().as_secs_f64());
            if r.status == 200 {
                rows = r.json().as_array().map(Vec::len);
            } else {
                error = Some(r.text());
            }
        }
        let p50 = median(times.clone());
        eprintln!(
            "{id}: {p50:.3} s ({rows:?} rows){}",
            error.as_deref().map_or(String::new(), |e| format!(": {e}"))
        );
        kpis.insert(
            id.clone(),
            json!({"p50_s": p50, "runs_s": times, "rows": rows, "error": error}),
        );
    }
    let peak = peak_rss_mib(query.pid());
    let answered = kpis.values().filter(|k| k["error"].is_null()).count();
    json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "scale": args.scale,
        "months": args.months,
        "hotline_events": lake_rows,
        "grain": args.grain,
        "runs": args.runs,
        "kpis": kpis,
        "answered": answered,
        "asked": ids.len(),
        "suite_s": kpis.values().filter_map(|k| k["p50_s"].as_f64()).sum::<f64>(),
        "max_p50_s": kpis.values().filter_map(|k| k["p50_s"].as_f64()).fold(0.0, f64::max),
        "kpi_query_peak_rss_mib": peak,
        "state": state_record(&lake),
    })
}

/// The full-size table as Markdown.
pub fn table(r: &Value) -> String {
    let mut out = format!(
        "Beijing 2024 ({} months) at scale {}, {} hotline events, KPIs over the year at grain {}, p50 of {} \
         run(s); kpi-query with its default per-query memory limit (`query.memory_limit_bytes`, \
         4 GiB): {} of {} KPIs answered, suite {} s, slowest {} s, peak RSS {} MiB.\n",
        fmt(&r["months"], 0),
        fmt(&r["scale"], 1),
        fmt(&r["hotline_events"], 0),
        r["grain"].as_str().unwrap_or("?"),
        fmt(&r["runs"], 0),
        fmt(&r["answered"], 0),
        fmt(&r["asked"], 0),
        fmt(&r["suite_s"], 2),
        fmt(&r["max_p50_s"], 3),
        fmt(&r["kpi_query_peak_rss_mib"], 0),
    );
    let state = &r["state"];
    if state.is_object() {
        out.push_str(&format!(
            "State kept from the lake's events but its newest commit ({} events, folded in steps \
             of {}): {} s, {} events/s, peak RSS {} MiB; then that commit's {} events folded in \
             {} s (peak RSS {} MiB).\n",
            fmt(&state["kept_events"], 0),
            crate::common::step_events(state),
            fmt(&state["seconds"], 0),
            fmt(&state["events_per_s"], 0),
            fmt(&state["peak_rss_mib"], 0),
            fmt(&state["last_step"]["events"], 0),
            fmt(&state["last_step"]["seconds"], 1),
            fmt(&state["last_step_peak_rss_mib"], 0),
        ));
    }
    out.push_str("\n| KPI | rows | kpi-query p50 s | error |\n|---|---:|---:|---|\n");
    if let Some(kpis) = r["kpis"].as_object() {
        for (id, k) in kpis {
            out.push_str(&format!(
                "| {id} | {} | {} | {} |\n",
                fmt(&k["rows"], 0),
                fmt(&k["p50_s"], 3),
                // One table cell: no pipe or line break from the error text.
                k["error"].as_str().map_or(String::new(), |e| e
                    .chars()
                    .take(80)
                    .map(|c| if c == '|' || c.is_control() { ' ' } else { c })
                    .collect())
            ));
        }
    }
    out
}
