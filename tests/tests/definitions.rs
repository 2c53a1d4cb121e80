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

/// Weeks 1–4 of a simulated Haidian land, every KPI's weekly figures are recorded, week 5 lands
/// (citysim's own, plus archives of week-4 tickets, stock registrations, a second completion
/// event and a withdrawn completion), and no figure of weeks 1–4 may change unless a week-5
/// event carries data about that district and week (`tests/python/stability.py`).
#[test]
fn figures_of_past_weeks_change_only_with_data_about_them() {
    let work = tempfile::tempdir().expect("work directory");
    let sim = work.path().join("sim");
    let mut citysim = Command::new(binary("citysim"));
    citysim.args([
        "--city",
        "beijing",
        "--districts",
        "110108",
        "--from",
        "2024-03-04",
        "--to",
        "2024-04-07",
        "--scale",
        "0.02",
        "--seed",
        "5",
        "--quiet",
        "--out",
    ]);
    citysim.arg(&sim);
    let run = run_with_deadline(citysim, Duration::from_secs(120));
    assert!(run.ok, "citysim failed: {}", run.stderr);
    let bin_dir = binary("kpi-query")
        .parent()
        .expect("binary directory")
        .to_owned();
    let mut cmd = Command::new(python());
    cmd.arg(workspace_root().join("tests/python/stability.py"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--sim")
        .arg(&sim)
        .arg("--work")
        .arg(work.path())
        .args(["--week1", "2024-03-04"]);
    let run = run_with_deadline(cmd, Duration::from_secs(600));
    assert!(
        run.ok,
        "a past week's figure changed without data about it:\n{}\n{}",
        run.stdout, run.stderr
    );
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("summary JSON");
    let late = &summary["late_cases"];
    for stream in ["hotline", "facility", "renovation"] {
        assert!(
            late[stream].as_u64().unwrap_or(0) > 0,
            "no late {stream} case was sent in week 5: {summary}"
        );
    }
    assert!(summary["figures"].as_u64().unwrap_or(0) > 100, "{summary}");
    println!("{}", run.stdout);
}
