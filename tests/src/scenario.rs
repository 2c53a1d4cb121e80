//! Scenario pieces shared by the end-to-end tests: a lake in a temporary directory, producing
//! numbered events with their truth, starting ingest services, waiting for rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::events::{EventFactory, Stream};
use crate::kafka::{Position, produce};
use crate::process::{ServiceProcess, binary, wait_for};
use crate::python;

/// Settings for tests: small commits so events are queryable quickly, short group timeouts
/// (tansu's coordinator is slow with long ones).
pub const ENV: &[(&str, &str)] = &[
    ("CIVICPULSE_LANDING__MAX_AGE_MS", "1000"),
    ("CIVICPULSE_KAFKA__SESSION_TIMEOUT_MS", "6000"),
    ("CIVICPULSE_KAFKA__FETCH_WAIT_MAX_MS", "10"),
    ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "info"),
];

/// A Tokio runtime for the async Kafka helpers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// The produced truth of one stream.
pub struct Produced {
    /// `partition:offset:event_id`, sorted: what the lake must hold exactly.
    pub keys: Vec<String>,
    /// Rows per district.
    pub by_district: BTreeMap<String, u64>,
}

impl Default for Produced {
    fn default() -> Self {
        Self::new()
    }
}

impl Produced {
    /// Nothing produced yet.
    pub fn new() -> Self {
        Self {
            keys: Vec::new(),
            by_district: BTreeMap::new(),
        }
    }

    /// Records where events went.
    pub fn record(&mut self, positions: &[Position], meta: &[(String, &'static str)]) {
        for (p, (event_id, district)) in positions.iter().zip(meta) {
            self.keys
                .push(format!("{}:{}:{event_id}", p.partition, p.offset));
            *self.by_district.entry((*district).to_owned()).or_default() += 1;
        }
    }

    /// Asserts the table holds exactly the produced records, read by a second reader.
    pub fn assert_landed_exactly(&mut self, table: &Path) {
        self.keys.sort();
        let summary = python::read_table(table, true);
        assert_eq!(
            summary.rows,
            self.keys.len() as u64,
            "row count of {}",
            table.display()
        );
        assert_eq!(
            summary.distinct_positions, summary.rows,
            "a record landed twice"
        );
        assert_eq!(summary.by_district, self.by_district, "rows per district");
        let keys = summary.keys.expect("keys asked for");
        if keys != self.keys {
            let missing = self
                .keys
                .iter()
                .filter(|k| keys.binary_search(k).is_err())
                .take(5);
            panic!(
                "lake differs from produced; first missing: {:?}",
                missing.collect::<Vec<_>>()
            );
        }
    }
}

/// Produces events `range` of `stream` from `factory`, recording where they went.
pub fn produce_events(
    rt: &tokio::runtime::Runtime,
    factory: &EventFactory,
    brokers: &str,
    stream: Stream,
    range: std::ops::Range<u64>,
    produced: &mut Produced,
) {
    let mut meta = Vec::with_capacity((range.end - range.start) as usize);
    let mut records = Vec::with_capacity((range.end - range.start) as usize);
    for seq in range {
        let (event_id, district, record) = factory.event(seq);
        meta.push((event_id, district));
        records.push(record);
    }
    let positions = rt.block_on(produce(brokers, stream.topic(), records));
    produced.record(&positions, &meta);
}

/// Starts the ingest service of `stream` on `lake`.
pub fn start_service(stream: Stream, brokers: &str, lake: &Path, logs: &Path) -> ServiceProcess {
    ServiceProcess::start(
        stream.service(),
        &[
            "--brokers",
            brokers,
            "--lake",
            lake.to_str().expect("UTF-8"),
        ],
        ENV,
        logs,
    )
}

/// Waits until `table` holds `rows` rows, failing early if a service exits.
pub fn wait_rows(table: &Path, rows: u64, timeout: Duration, services: &mut [&mut ServiceProcess]) {
    wait_count(
        &table.display().to_string(),
        rows,
        timeout,
        services,
        || python::count_rows(table),
    );
}

/// Waits until `count` (rows of table `what`) says `rows`, failing early if a service exits.
pub fn wait_count(
    what: &str,
    rows: u64,
    timeout: Duration,
    services: &mut [&mut ServiceProcess],
    mut count: impl FnMut() -> Option<u64>,
) {
    let mut last = None;
    let landed = wait_for(timeout, || {
        for s in services.iter_mut() {
            if let Some(status) = s.exited() {
                panic!("service exited with {status}: {}", s.log());
            }
        }
        last = count();
        if last == Some(rows) {
            return Some(());
        }
        // Each count starts Python: poll gently so the broker and services keep the cores.
        std::thread::sleep(Duration::from_millis(1500));
        None
    });
    if landed.is_none() {
        let logs: Vec<String> = services.iter().map(|s| s.log()).collect();
        panic!(
            "{what} holds {last:?} rows, expected {rows} within {timeout:?}; logs:\n{}",
            logs.join("\n---\n")
        );
    }
}

/// The value `cell` holds, made by `make` for the first test of the binary that asks; if making
/// it panicked, every test that asks fails with that panic's message.
pub fn shared<T: Send + Sync>(
    cell: &'static OnceLock<Result<T, String>>,
    make: fn() -> T,
) -> &'static T {
    let made = cell.get_or_init(|| {
        std::panic::catch_unwind(make).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".into())
        })
    });
    match made {
        Ok(value) => value,
        Err(e) => panic!("making the shared fixture failed: {e}"),
    }
}

/// A fresh directory `<base>/<pid>` for this run; directories of runs no longer alive are removed
/// (a shared fixture outlives its test binary when kept for inspection).
pub fn run_dir(base: &Path) -> PathBuf {
    if let Ok(entries) = std::fs::read_dir(base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let running = name.parse::<u32>().is_ok_and(|pid| {
                pid == std::process::id() || Path::new("/proc").join(&name).exists()
            });
            if !running {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("run directory");
    dir
}

/// A lake root and service logs in a temporary directory.
pub struct Lake {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
}

impl Default for Lake {
    fn default() -> Self {
        Self::new()
    }
}

impl Lake {
    /// A fresh one.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("lake dir"),
        }
    }
    /// The lake root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("lake")
    }
    /// A table of the lake.
    pub fn table(&self, stream: Stream) -> PathBuf {
        self.root().join(stream.table())
    }
    /// Where service logs go.
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
}

/// Runs citysim to completion with `args`; returns its ground truth.
pub fn citysim(args: &[&str], truth: &Path) -> serde_json::Value {
    let out = std::process::Command::new(crate::process::binary("citysim"))
        .args(args)
        .args(["--quiet", "--truth", truth.to_str().expect("UTF-8")])
        .output()
        .expect("citysim runs");
    assert!(
        out.status.success(),
        "citysim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(truth).expect("truth file")).expect("truth JSON")
}

/// Brings the lake's state tables up to date (`lake-maintain state --once`), as the deployed
/// state service would: the KPIs then read the kept state.
pub fn keep_state(lake: &Path) {
    let out = std::process::Command::new(binary("lake-maintain"))
        .arg("--lake")
        .arg(lake)
        .args(["state", "--once"])
        .output()
        .expect("lake-maintain runs");
    assert!(
        out.status.success(),
        "lake-maintain state: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
