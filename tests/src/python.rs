//! The second reader: Python (`deltalake`, polars, DuckDB) run as a process.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python interpreter with the test packages: `$CIVICPULSE_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("CIVICPULSE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Runs `tests/python/<script>` with `args` and returns its standard output; panics with its
/// standard error when it fails.
pub fn run_script(script: &str, args: &[&str]) -> String {
    run_script_with_env(script, args, &[])
}

/// [`run_script`] with extra environment variables (e.g. object-store credentials).
pub fn run_script_with_env(script: &str, args: &[&str], env: &[(String, String)]) -> String {
    let path = crate::workspace_root().join("tests/python").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PYTHONFAULTHANDLER", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A summary of one Delta table as read by the Python `deltalake` package.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TableSummary {
    /// Table version read.
    pub version: i64,
    /// Rows.
    pub rows: u64,
    /// Distinct `(kafka_partition, kafka_offset)` pairs.
    pub distinct_positions: u64,
    /// Active data files.
    pub files: u64,
    /// Rows per `district` partition value.
    pub by_district: std::collections::BTreeMap<String, u64>,
    /// `kafka_partition:kafka_offset:event_id` per row, sorted; only when asked for.
    pub keys: Option<Vec<String>>,
}

/// Reads `table` with `deltalake` (+ pyarrow); `keys` also returns every row's key.
pub fn read_table(table: &Path, keys: bool) -> TableSummary {
    read_table_at(table.to_str().expect("UTF-8 path"), keys, &[])
}

/// [`read_table`] of a table at a path or URL (`s3://…`), with `env` for the object store.
pub fn read_table_at(location: &str, keys: bool, env: &[(String, String)]) -> TableSummary {
    let mut args = vec![location];
    if keys {
        args.push("--keys");
    }
    let out = run_script_with_env("read_delta.py", &args, env);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("read_delta.py output: {e}: {out}"))
}

/// Rows in `table` per its log (no data read), or `None` while the table does not exist.
pub fn count_rows(table: &Path) -> Option<u64> {
    if !table.join("_delta_log").exists() {
        return None;
    }
    count_rows_at(table.to_str()?, &[])
}

/// [`count_rows`] of a table at a path or URL, with `env` for the object store; `None` also
/// while an object-store table does not exist.
pub fn count_rows_at(location: &str, env: &[(String, String)]) -> Option<u64> {
    log_summary(location, env)?["rows"].as_u64()
}

/// The data files of `table`'s latest version (absolute paths), per its log.
pub fn active_files(table: &Path) -> Vec<PathBuf> {
    let summary = log_summary(table.to_str().expect("UTF-8 path"), &[])
        .unwrap_or_else(|| panic!("{} is not a readable Delta table", table.display()));
    summary["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|uri| {
            let uri = uri.as_str().expect("a file URI");
            PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri))
        })
        .collect()
}

/// `read_delta.py --count`: the table's version, rows and files from its log.
fn log_summary(location: &str, env: &[(String, String)]) -> Option<serde_json::Value> {
    let path = crate::workspace_root().join("tests/python/read_delta.py");
    let out = Command::new(python())
        .arg(&path)
        .arg(location)
        .arg("--count")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
