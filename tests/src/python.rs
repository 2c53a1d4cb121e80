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
    let path = crate::workspace_root().join("tests/python").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
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
    let mut args = vec![table.to_str().expect("UTF-8 path")];
    if keys {
        args.push("--keys");
    }
    let out = run_script("read_delta.py", &args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("read_delta.py output: {e}: {out}"))
}

/// Rows in `table` per its log (no data read), or `None` while the table does not exist.
pub fn count_rows(table: &Path) -> Option<u64> {
    if !table.join("_delta_log").exists() {
        return None;
    }
    let path = crate::workspace_root().join("tests/python/read_delta.py");
    let out = Command::new(python())
        .arg(&path)
        .arg(table)
        .arg("--count")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["rows"].as_u64()
}
