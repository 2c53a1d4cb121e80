//! Helpers every benchmark shares: medians, peak memory, the results file, the programs run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The median of `values` (the upper one of an even count); NaN when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `q` quantile (0–1) of `values` by the nearest-rank method; NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Peak resident memory of a running process (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes `value` under `key` of the JSON results file, keeping the other benchmarks' keys.
pub fn merge_results(path: &Path, key: &str, value: serde_json::Value) {
    let mut all = read_results(path);
    all[key] = value;
    write_results(path, &all);
}

/// [`merge_results`] of a measurement, with the profile of the build that measured it (the
/// summary may be written later by another build).
pub fn save_measurement(path: &Path, key: &str, value: serde_json::Value) {
    let mut all = read_results(path);
    all[key] = value;
    all["profile"] = serde_json::json!(if cfg!(debug_assertions) {
        "debug profile (a smoke run: figures not representative)"
    } else {
        "release profile"
    });
    write_results(path, &all);
}

fn write_results(path: &Path, all: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(all).expect("JSON")).expect("write results");
}

/// The JSON results file, or an empty object when there is none yet.
pub fn read_results(path: &Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}))
}

/// The workspace binary `name` beside this one, or `None` when it is not built.
pub fn built_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(name);
    path.exists().then_some(path)
}

/// The Python interpreter with the bench's packages (`$CIVICPULSE_PYTHON`, else `python3`).
pub fn python() -> Command {
    Command::new(civicpulse_tests::python::python())
}

/// `bench/python/<script>`.
pub fn script(name: &str) -> PathBuf {
    civicpulse_tests::workspace_root()
        .join("bench/python")
        .join(name)
}

/// Where lakes are kept between runs: `--cache`, else `~/.cache/civicpulse`.
pub fn cache_dir(cache: Option<&Path>) -> PathBuf {
    cache.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
            .join(".cache/civicpulse")
    })
}

/// The wall clock in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A number with `digits` decimals and thousands separators, or `–`.
pub fn fmt(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.digits$}");
            let (int, frac) = s
                .split_once('.')
                .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
            let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
            let mut grouped = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            match frac {
                Some(f) => format!("{sign}{grouped}.{f}"),
                None => format!("{sign}{grouped}"),
            }
        }
        _ => "–".to_owned(),
    }
}

/// The events a state record's keep from nothing folded per step (records before the bench
/// sized its steps by the lake: the service's default, 500,000).
pub fn step_events(state: &Value) -> String {
    match state.get("step_events") {
        Some(events) => fmt(events, 0),
        None => "500,000".to_owned(),
    }
}
