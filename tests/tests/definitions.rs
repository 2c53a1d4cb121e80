//! The definitions suite: every KPI's hand-written fixtures (`tests/definitions/*.toml`), landed
//! through the ingest's decoding and normalisation, answered by kpi-query (DataFusion) and by
//! DuckDB over the same files, and compared with the values written by hand from each KPI's
//! definition. The runner is `tests/python/definitions.py`; the format is in
//! `tests/definitions/README.md`.

use std::process::Command;
use std::time::Duration;

use civicpulse_tests::process::{binary, run_with_deadline};
use civicpulse_tests::python::python;
use civicpulse_tests::workspace_root;

#[test]
fn every_kpi_holds_to_its_hand_written_fixtures_on_both_engines() {
    let bin_dir = binary("kpi-query")
        .parent()
        .expect("binary directory")
        .to_owned();
    let mut cmd = Command::new(python());
    cmd.arg(workspace_root().join("tests/python/definitions.py"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .env("PYTHONFAULTHANDLER", "1");
    let run = run_with_deadline(cmd, Duration::from_secs(900));
    assert!(
        run.ok,
        "definitions suite failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    // Every KPI of the catalogue has its fixture file.
    let fixtures = workspace_root().join("tests/definitions");
    let missing: Vec<String> = std::fs::read_dir(workspace_root().join("sql/kpis"))
        .expect("sql/kpis")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".sql").map(str::to_owned))
        .filter(|id| !fixtures.join(format!("{id}.toml")).exists())
        .collect();
    assert!(missing.is_empty(), "KPIs without fixtures: {missing:?}");
    println!("{}", run.stdout);
}
