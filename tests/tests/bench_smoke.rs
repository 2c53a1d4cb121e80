//! The benchmarks at smoke size (`civicpulse-bench smoke`, what `bench/run --smoke` runs), so
//! their harness cannot rot between the runs that measure. Speed is not asserted here: only
//! that every measurement is made, recorded and reported, and that the figures are coherent
//! (both validators dead-letter exactly what citysim made invalid, every produced offset is seen
//! by the freshness poller, the growth series grow).

use std::process::Command;

use civicpulse_tests::process::binary;
use serde_json::Value;

fn positive(v: &Value) -> bool {
    v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0)
}

#[test]
fn every_benchmark_runs_and_records_every_measurement() {
    let _heavy = civicpulse_tests::heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(binary("civicpulse-bench"))
        .args(["smoke", "--dir"])
        .arg(dir.path())
        .env("CIVICPULSE_HASH_KEY", civicpulse_tests::TEST_HASH_KEY)
        .output()
        .expect("civicpulse-bench runs");
    assert!(
        out.status.success(),
        "civicpulse-bench smoke: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("results.json")).expect("results written"),
    )
    .expect("JSON");

    let ingest = &results["ingest"];
    assert_eq!(ingest["events"], 20_000, "{ingest}");
    for part in ["raw_consume", "hotline_ingest", "python_baseline"] {
        for figure in ["median_events_per_sec", "median_mb_per_sec"] {
            assert!(positive(&ingest[part][figure]), "{part}.{figure}: {ingest}");
        }
    }
    for part in ["hotline_ingest", "python_baseline"] {
        assert!(
            positive(&ingest[part]["median_peak_rss_mib"]),
            "{part}: {ingest}"
        );
    }
    assert!(positive(&ingest["ingest_over_raw"]) && positive(&ingest["ingest_over_baseline"]));
    let validation = &ingest["validation"];
    assert_eq!(
        validation["hotline_ingest_matches_truth"], true,
        "{validation}"
    );
    assert_eq!(validation["baseline_matches_truth"], true, "{validation}");
    let truth = &validation["runs"][0]["truth_dead_letters"];
    assert!(
        truth.as_object().is_some_and(|t| t.len() >= 5),
        "citysim made too few kinds of invalid records to compare: {truth}"
    );
    let growth = ingest["growth"].as_array().expect("ingest growth");
    let sizes: Vec<u64> = growth.iter().filter_map(|p| p["events"].as_u64()).collect();
    assert_eq!(sizes, [5_000, 20_000], "{growth:?}");
    assert!(
        growth.iter().all(|p| positive(&p["events_per_sec"])),
        "{growth:?}"
    );

    let fresh = &results["freshness"];
    assert!(fresh["events_measured"].as_u64() > Some(500), "{fresh}");
    assert_eq!(fresh["unseen_after_drain"], 0, "{fresh}");
    let (min, p50, p95, max) = (
        fresh["min_s"].as_f64().expect("min"),
        fresh["p50_s"].as_f64().expect("p50"),
        fresh["p95_s"].as_f64().expect("p95"),
        fresh["max_s"].as_f64().expect("max"),
    );
    // A stamp is never later than the send, so no event is queryable before it was produced.
    assert!(
        0.0 <= min && min <= p50 && p50 <= p95 && p95 <= max,
        "{fresh}"
    );

    let query = &results["query"];
    let kpis = query["kpis"].as_array().expect("KPI timings");
    assert!(kpis.len() >= 25, "{} KPIs timed", kpis.len());
    for kpi in kpis {
        for engine in ["kpi_query_p50_s", "duckdb_p50_s"] {
            assert!(positive(&kpi[engine]), "{engine}: {kpi}");
        }
        // polars either ran the KPI (the same SQL, so as many answer rows) or said why not.
        assert!(
            positive(&kpi["polars_p50_s"]) != kpi["polars_error"].is_string(),
            "polars: {kpi}"
        );
        if positive(&kpi["polars_p50_s"]) {
            assert_eq!(
                kpi["polars_rows"], kpi["rows"],
                "polars answered otherwise: {kpi}"
            );
        }
    }
    // At this scale some KPIs have no rows in the year, but the catalogue as a whole answers.
    let answered = kpis.iter().filter(|k| k["rows"].as_u64() > Some(0)).count();
    assert!(answered >= 20, "{answered} of {} KPIs had rows", kpis.len());
    let growth = query["growth"].as_array().expect("query growth");
    let rows: Vec<u64> = growth
        .iter()
        .filter_map(|p| p["lake_rows"].as_u64())
        .collect();
    assert_eq!(rows.len(), 2, "{growth:?}");
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "lakes do not grow: {rows:?}"
    );
    for p in growth {
        assert!(
            positive(&p["suite_kpi_query_s"]) && positive(&p["suite_duckdb_s"]),
            "{p}"
        );
    }

    let report = &results["report"];
    let built = binary("civicpulse-bench")
        .with_file_name("weekly-report")
        .exists();
    if built {
        assert!(positive(&report["median_s"]), "{report}");
    } else {
        assert_eq!(report["skipped"], "weekly-report not built", "{report}");
    }

    let machine = &results["machine"];
    assert!(machine["cores"].as_u64() > Some(0), "{machine}");
    assert!(positive(&machine["memory_gib"]), "{machine}");
    assert!(
        machine["cpu_model"].as_str().is_some_and(|m| !m.is_empty()),
        "{machine}"
    );
    let versions = &results["versions"];
    for path in [
        "/rustc",
        "/crates/datafusion",
        "/librdkafka",
        "/python/confluent-kafka",
        "/python/polars",
    ] {
        assert!(
            versions.pointer(path).is_some_and(Value::is_string),
            "{path}: {versions}"
        );
    }
    let markdown = std::fs::read_to_string(dir.path().join("RESULTS.md")).expect("RESULTS.md");
    for section in [
        "## Aims",
        "## Ingest",
        "## Freshness",
        "## Query",
        "## Growth",
        "## Weekly report",
    ] {
        assert!(markdown.contains(section), "{section} missing:\n{markdown}");
    }
    assert!(
        !markdown.contains("Not measured in this results file"),
        "{markdown}"
    );
    assert!(
        !markdown.contains("not measured |"),
        "an aim without its figure:\n{markdown}"
    );
    // The printed table is the Markdown file.
    assert!(String::from_utf8_lossy(&out.stdout).contains(markdown.trim()));
}
