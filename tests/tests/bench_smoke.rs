//! The benchmarks at smoke size (what `bench/run --smoke` runs), so their harness cannot rot
//! between the runs that measure. Speed is not asserted here: only that every measurement
//! is made and recorded.

use std::process::Command;

use civicpulse_tests::process::binary;

#[test]
fn both_benchmarks_run_and_record_every_measurement() {
    let _heavy = civicpulse_tests::heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let json_arg = json.to_str().expect("UTF-8 path");
    let cache = dir.path().join("cache");
    for args in [
        vec![
            "ingest", "--events", "20000", "--runs", "1", "--json", json_arg,
        ],
        vec![
            "query",
            "--scale",
            "0.002",
            "--runs",
            "1",
            "--cache",
            cache.to_str().expect("UTF-8 path"),
            "--json",
            json_arg,
        ],
    ] {
        let out = Command::new(binary("civicpulse-bench"))
            .args(&args)
            .env("CIVICPULSE_HASH_KEY", civicpulse_tests::TEST_HASH_KEY)
            .output()
            .expect("civicpulse-bench runs");
        assert!(
            out.status.success(),
            "civicpulse-bench {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written")).expect("JSON");

    let ingest = &results["ingest"];
    assert_eq!(ingest["events"], 20_000, "{ingest}");
    for rate in [
        &ingest["raw_consume"]["median_events_per_sec"],
        &ingest["hotline_ingest"]["median_events_per_sec"],
    ] {
        assert!(rate.as_f64().is_some_and(|r| r > 0.0), "{ingest}");
    }

    let query = &results["query"];
    let kpis = query["kpis"].as_array().expect("KPI timings");
    assert!(kpis.len() >= 25, "{} KPIs timed", kpis.len());
    for kpi in kpis {
        for engine in ["kpi_query_p50_s", "duckdb_p50_s"] {
            assert!(
                kpi[engine]
                    .as_f64()
                    .is_some_and(|s| s.is_finite() && s > 0.0),
                "{engine}: {kpi}"
            );
        }
    }
    // At this scale some KPIs have no rows in the year, but the catalogue as a whole answers.
    let answered = kpis.iter().filter(|k| k["rows"].as_u64() > Some(0)).count();
    assert!(answered >= 20, "{answered} of {} KPIs had rows", kpis.len());
    assert!(
        query["lake_rows"].as_u64().is_some_and(|n| n > 0),
        "{query}"
    );
}
