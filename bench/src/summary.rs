//! `summary`: the results file as a report: the date, the machine (cores, memory, CPU model),
//! the versions of everything measured, the issue's aims against the figures, and every table.
//! Written as Markdown (`bench/RESULTS.md`) and printed; the machine and versions are also
//! merged into the JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{fmt, merge_results, read_results, step_events};
use crate::{freshness, full, ingest, query, report};

/// Cores, memory and CPU model of this machine.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    json!({
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "memory_gib": mem_kib / 1024.0 / 1024.0,
        "cpu_model": model,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

/// The first line a program prints for `args`, or `None`.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .into_owned();
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|_| out.status.success())
}

/// Versions of the crates that matter, from the workspace's `Cargo.lock`.
fn crate_versions() -> BTreeMap<String, String> {
    const WANTED: [&str; 8] = [
        "datafusion",
        "deltalake",
        "arrow",
        "parquet",
        "object_store",
        "rdkafka",
        "rdkafka-sys",
        "tokio",
    ];
    let lock = std::fs::read_to_string(civicpulse_tests::workspace_root().join("Cargo.lock"))
        .unwrap_or_default();
    let mut found = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && WANTED.contains(&n.as_str())
        {
            found.insert(n, v.trim_matches('"').to_owned());
        }
    }
    found
}

/// Python and the packages the baselines use.
fn python_versions() -> Value {
    let code = r#"
import json, sys, importlib.metadata as m
v = {"python": sys.version.split()[0]}
for p in ("confluent-kafka", "pyarrow", "duckdb", "polars", "deltalake"):
    try:
        v[p] = m.version(p)
    except m.PackageNotFoundError:
        v[p] = None
try:
    import confluent_kafka
    v["librdkafka (confluent-kafka)"] = confluent_kafka.libversion()[0]
except ImportError:
    pass
print(json.dumps(v))
"#;
    crate::common::python()
        .args(["-c", code])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or(Value::Null)
}

/// Versions of everything the benchmarks ran.
pub fn versions() -> Value {
    let root = civicpulse_tests::workspace_root();
    let root = root.to_str().unwrap_or(".");
    let commit = first_line("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    // The results files themselves do not make the build dirty: the bench writes them.
    let dirty = Command::new("git")
        .args([
            "-C",
            root,
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!bench/results.json",
            ":!bench/RESULTS.md",
        ])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let tansu = civicpulse_tests::broker::tansu_binary();
    json!({
        "civicpulse": commit.map(|c| if dirty { format!("{c} with uncommitted changes") } else { c }),
        "rustc": first_line("rustc", &["--version"]),
        "crates": crate_versions(),
        "librdkafka": rdkafka::util::get_rdkafka_version().1,
        "tansu": first_line(tansu.to_str().unwrap_or("tansu"), &["--version"])
            .map(|v| v.trim_start_matches("tansu ").to_owned())
            .unwrap_or_else(|| tansu.display().to_string()),
        "python": python_versions(),
    })
}

/// One aim of issue 6 against its figure.
fn aim(
    name: &str,
    target: &str,
    measured: &Value,
    digits: usize,
    unit: &str,
    goal: f64,
    at_least: bool,
) -> String {
    let verdict = match measured.as_f64() {
        Some(m) if m.is_finite() => {
            let met = if at_least { m >= goal } else { m <= goal };
            if met {
                "met".to_owned()
            } else if at_least {
                format!("missed: {:.0} % short", (1.0 - m / goal) * 100.0)
            } else {
                format!("missed: {:.0} % over", (m / goal - 1.0) * 100.0)
            }
        }
        _ => "not measured".to_owned(),
    };
    format!(
        "| {name} | {target} | {}{unit} | {verdict} |\n",
        fmt(measured, digits)
    )
}

/// The whole report as Markdown.
pub fn markdown(r: &Value) -> String {
    let m = &r["machine"];
    let v = &r["versions"];
    let mut out = String::from("# civicpulse benchmarks\n\n");
    out.push_str(&format!(
        "Made by `bench/run` on {}. Machine: {} cores, {} GiB memory, {} (Linux {}). \
         Build: {}, {}.\n\n",
        r["date"].as_str().unwrap_or("?"),
        m["cores"],
        fmt(&m["memory_gib"], 1),
        m["cpu_model"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        v["civicpulse"].as_str().unwrap_or("?"),
        r["profile"].as_str().unwrap_or("?"),
    ));
    out.push_str(&format!(
        "Versions: {}; {}; librdkafka {}; tansu {}; Python {}: {}.\n\n",
        v["rustc"].as_str().unwrap_or("rustc ?"),
        v["crates"]
            .as_object()
            .map(|c| c
                .iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        v["librdkafka"].as_str().unwrap_or("?"),
        v["tansu"].as_str().unwrap_or("?"),
        v["python"]["python"].as_str().unwrap_or("?"),
        v["python"]
            .as_object()
            .map(|p| p
                .iter()
                .filter(|(k, _)| k.as_str() != "python")
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("–")))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
    ));

    let (i, f, q) = (&r["ingest"], &r["freshness"], &r["query"]);
    out.push_str("## Aims (issue 6)\n\n| aim | target | measured | |\n|---|---|---:|---|\n");
    out.push_str(&aim(
        "hotline-ingest / raw consume",
        "≥ 0.60",
        &i["ingest_over_raw"],
        2,
        "",
        0.6,
        true,
    ));
    out.push_str(&aim(
        "hotline-ingest / Python baseline",
        "≥ 10×",
        &i["ingest_over_baseline"],
        1,
        "×",
        10.0,
        true,
    ));
    out.push_str(&aim(
        "hotline-ingest throughput",
        "≥ 150,000 events/s",
        &i["hotline_ingest"]["median_events_per_sec"],
        0,
        " events/s",
        150_000.0,
        true,
    ));
    out.push_str(&aim(
        "freshness p95",
        "≤ 10 s",
        &f["p95_s"],
        2,
        " s",
        10.0,
        false,
    ));
    out.push_str(&aim(
        "KPI suite, kpi-query / DuckDB",
        "≤ 1.00",
        &q["suite_ratio"],
        2,
        "",
        1.0,
        false,
    ));

    out.push_str(&format!(
        "\n## Aims (issue 16, lake at scale {})\n\n| aim | target | measured | |\n|---|---|---:|---|\n",
        fmt(&q["scale"], 2)
    ));
    out.push_str(&aim(
        "slowest KPI, kpi-query p50",
        "≤ 0.300 s",
        &q["kpi_query_max_p50_s"],
        3,
        " s",
        0.3,
        false,
    ));
    out.push_str(&aim(
        "KPI suite, kpi-query / DuckDB recomputing from events",
        "≤ 0.50",
        &q["suite_ratio_recompute"],
        3,
        "",
        0.5,
        false,
    ));
    out.push_str(&aim(
        "KPI suite, kpi-query / DuckDB over the state tables",
        "≤ 1.00",
        &q["suite_ratio"],
        2,
        "",
        1.0,
        false,
    ));
    out.push_str(&aim(
        "weekly report",
        "≤ 5 s",
        &r["report"]["median_s"],
        2,
        " s",
        5.0,
        false,
    ));
    let full = &r["full"];
    out.push_str(&aim(
        "full size (scale 1.0): KPIs answered within the default 4 GiB per query",
        "all",
        &full["answered"],
        0,
        &format!(" of {}", fmt(&full["asked"], 0)),
        full["asked"].as_f64().unwrap_or(f64::NAN),
        true,
    ));
    let state = &q["state"];
    if state.is_object() {
        out.push_str(&format!(
            "\nState tables kept by `lake-maintain state --rebuild --once` from the lake's \
             hotline events but its newest commit ({} events, folded in steps of {}): {} s, \
             {} events/s, peak RSS {} MiB. kpi-query's peak RSS over the suite: {} MiB.\n",
            fmt(&state["kept_events"], 0),
            step_events(state),
            fmt(&state["seconds"], 0),
            fmt(&state["events_per_s"], 0),
            fmt(&state["peak_rss_mib"], 0),
            fmt(&q["kpi_query_peak_rss_mib"], 0),
        ));
        let step = &state["last_step"];
        if step.is_object() {
            out.push_str(&format!(
                "Keeping up: then the newest commit's {} events folded into that year's state \
                 ({} ticket rows written) in {} s (fold {} s, MERGE {} s), peak RSS {} MiB.\n",
                fmt(&step["events"], 0),
                fmt(&step["state_rows"], 0),
                fmt(&step["seconds"], 1),
                fmt(&step["fold_s"], 1),
                fmt(&step["write_s"], 1),
                fmt(&state["last_step_peak_rss_mib"], 0),
            ));
        }
    }

    let section = |title: &str, part: &Value, render: fn(&Value) -> String, how: &str| {
        if part.is_object() {
            format!("\n## {title}\n\n{}", render(part))
        } else {
            format!("\n## {title}\n\nNot measured in this results file (`{how}`).\n")
        }
    };
    out.push_str(&section("Ingest", i, ingest::table, "bench/run ingest"));
    out.push_str(&section(
        "Freshness",
        f,
        freshness::table,
        "bench/run freshness",
    ));
    out.push_str(&section(
        "Query: the KPI catalogue",
        q,
        query::table,
        "bench/run query",
    ));
    out.push_str("\n## Growth\n\n### hotline-ingest by topic size\n\n");
    out.push_str(&if i.is_object() {
        ingest::growth_table(i)
    } else {
        "Not measured.\n".into()
    });
    out.push_str("\n### KPI suite by lake size\n\n");
    out.push_str(&if q.is_object() {
        query::growth_table(q)
    } else {
        "Not measured.\n".into()
    });
    out.push_str(&section(
        "Weekly report",
        &r["report"],
        report::table,
        "bench/run report",
    ));
    out.push_str(&section("Full size", full, full::table, "bench/run full"));
    out
}

/// Adds the machine and versions to the results file, writes the Markdown and prints it.
pub fn run(json_path: &Path, markdown_path: &Path) {
    merge_results(json_path, "machine", machine());
    merge_results(json_path, "versions", versions());
    merge_results(json_path, "date", json!(chrono::Utc::now().to_rfc3339()));
    let text = markdown(&read_results(json_path));
    std::fs::write(markdown_path, &text).expect("write the Markdown results");
    println!("{text}");
}
