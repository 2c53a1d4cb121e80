//! Issue 3's evidence through the real pipeline: citysim produces to the broker, the three
//! ingest services land its streams, and the KPIs polars recomputes from the lake equal
//! citysim's ground truth, including Haidian's published 2024 figures.

use std::collections::BTreeMap;
use std::time::Duration;

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::Stream;
use civicpulse_tests::kafka::{create_topic, read_topic};
use civicpulse_tests::process::ServiceProcess;
use civicpulse_tests::python;
use civicpulse_tests::scenario::{Lake, citysim, runtime, start_service, wait_rows};
use serde_json::Value;

fn topic_truth(truth: &Value, stream: Stream) -> (u64, u64, u64) {
    let t = &truth["topics"][stream.topic()];
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    (n("valid"), n("duplicates"), n("bad"))
}

/// Compares every KPI polars computed per district with the truth's `period` figures.
fn assert_kpis_equal(truth: &Value, lake: &Value, kpis: &[&str]) -> usize {
    let mut compared = 0;
    let districts = truth["districts"].as_object().expect("districts");
    for (code, d) in districts {
        for kpi in kpis {
            let want = d["period"][*kpi].as_i64().unwrap_or(0);
            let got = lake["districts"][code][*kpi].as_i64().unwrap_or(0);
            assert_eq!(
                got, want,
                "{kpi} of district {code}: lake {got}, truth {want}"
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn citysim_streams_land_and_the_lake_reproduces_the_ground_truth() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&brokers, stream.topic(), 3));
    }
    let dir = lake.dir.path();
    // Haidian's programme year at full scale (its published figures), with bad records mixed in.
    let programme = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--scale",
            "1.0",
            "--seed",
            "7",
            "--streams",
            "facility,renovation",
            "--districts",
            "110108",
            "--bad-ratio",
            "0.005",
            "--brokers",
            &brokers,
        ],
        &dir.join("programme.json"),
    );
    // A month of Beijing's hotline at a small scale, every dead-letter class among it.
    let hotline = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-30",
            "--scale",
            "0.002",
            "--seed",
            "7",
            "--streams",
            "hotline",
            "--bad-ratio",
            "0.01",
            "--brokers",
            &brokers,
        ],
        &dir.join("hotline.json"),
    );
    let mut services: Vec<ServiceProcess> = Stream::ALL
        .into_iter()
        .map(|s| start_service(s, &brokers, &lake.root(), &lake.logs()))
        .collect();
    for (stream, truth) in [
        (Stream::Hotline, &hotline),
        (Stream::Facility, &programme),
        (Stream::Renovation, &programme),
    ] {
        let (valid, duplicates, bad) = topic_truth(truth, stream);
        assert!(valid > 1000, "{} sent only {valid}", stream.topic());
        let mut refs: Vec<&mut ServiceProcess> = services.iter_mut().collect();
        // An upstream resend is a record of its own: it lands, and views count its event once.
        wait_rows(
            &lake.table(stream),
            valid + duplicates,
            Duration::from_secs(300),
            &mut refs,
        );
        let dlq = format!("{}.dlq", stream.topic());
        let dead = read_topic(&brokers, &dlq, bad as usize, Duration::from_secs(60));
        assert_eq!(dead.len() as u64, bad, "dead letters on {dlq}");
        let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
        for m in &dead {
            *by_class
                .entry(m.headers["civicpulse.error.class"].clone())
                .or_default() += 1;
        }
        let want: BTreeMap<String, u64> =
            serde_json::from_value(truth["topics"][stream.topic()]["bad_by_class"].clone())
                .unwrap();
        assert_eq!(by_class, want, "dead letters by class on {dlq}");
    }
    for s in &mut services {
        s.terminate(Duration::from_secs(30));
    }

    let root = lake.root();
    let read = |from: &str, to: &str| -> Value {
        let out = python::run_script("lake_kpis.py", &[root.to_str().unwrap(), from, to]);
        serde_json::from_str(&out).expect("lake_kpis.py JSON")
    };
    let year = read("2024-01-01", "2024-12-31");
    for (stream, truth) in [
        (Stream::Facility, &programme),
        (Stream::Renovation, &programme),
    ] {
        let (valid, _, _) = topic_truth(truth, stream);
        assert_eq!(
            year["tables"][stream.table()]["events"],
            valid,
            "{stream:?}"
        );
    }
    let compared = assert_kpis_equal(
        &programme,
        &year,
        &[
            "elevators_completed",
            "elevators_started",
            "age_friendly_households",
            "renovation_projects_declared",
            "renovation_projects_completed",
            "renovation_projects_cancelled",
            "inclusive_childcare_places_added",
            "elderly_service_centres_opened",
            "elderly_care_stations_opened",
            "meal_points_opened",
            "parking_spaces_added",
            "charging_points_added",
            "facilities_created",
            "facilities_closed",
        ],
    );
    assert_eq!(compared, 14, "Haidian alone");
    // Haidian 2024 as published, read from the lake (±10 %).
    let haidian = &year["districts"]["110108"];
    for (kpi, published) in [
        ("elevators_completed", 280.0),
        ("inclusive_childcare_places_added", 4334.0),
        ("age_friendly_households", 5410.0),
        ("elderly_service_centres_opened", 15.0),
        ("elderly_care_stations_opened", 25.0),
        ("meal_points_opened", 72.0),
    ] {
        let got = haidian[kpi].as_f64().unwrap_or(0.0);
        let deviation = (got - published) / published;
        assert!(
            deviation.abs() <= 0.10,
            "Haidian 2024 {kpi}: lake {got}, published {published}"
        );
        eprintln!("Haidian 2024 {kpi}: lake {got}, published {published}");
    }

    let june = read("2024-06-01", "2024-06-30");
    let (valid, _, _) = topic_truth(&hotline, Stream::Hotline);
    assert_eq!(
        june["tables"]["hotline_tickets"]["events"], valid,
        "hotline events"
    );
    let compared = assert_kpis_equal(
        &hotline,
        &june,
        &[
            "hotline_tickets_received",
            "hotline_wc_tickets_received",
            "hotline_valid_visits",
            "hotline_contacted",
            "hotline_resolved",
            "hotline_satisfied",
            "hotline_basic_satisfied",
            "hotline_proactive_received",
            "hotline_closed",
            "hotline_closed_no_due",
            "hotline_closed_on_time",
            "hotline_reopened",
        ],
    );
    assert!(compared >= 12 * 2, "more than one district compared");
}

/// Every valid event citysim writes validates against the committed JSON Schemas (Python's
/// `jsonschema`, an implementation independent of ours).
#[test]
fn citysim_events_validate_against_the_json_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for city in ["beijing", "chongqing", "hangzhou"] {
        citysim(
            &[
                "--city",
                city,
                "--from",
                "2024-02-01",
                "--to",
                "2024-02-14",
                "--scale",
                "0.003",
                "--seed",
                "3",
                "--out",
                out.to_str().unwrap(),
            ],
            &dir.path().join("truth.json"),
        );
        let schemas = civicpulse_tests::workspace_root().join("schemas");
        let report = python::run_script(
            "validate_jsonl.py",
            &[schemas.to_str().unwrap(), out.to_str().unwrap()],
        );
        let report: Value = serde_json::from_str(&report).unwrap();
        for stream in Stream::ALL {
            let r = &report[stream.topic()];
            assert!(
                r["lines"].as_u64().unwrap() > 0,
                "{city} {}",
                stream.topic()
            );
            assert_eq!(
                r["invalid"],
                0,
                "{city} {}: {}",
                stream.topic(),
                r["first_error"]
            );
        }
    }
}

/// Issue 15: citysim's hotline carries the cases real 12345 feeds carry (archives after the
/// survey, reopened tickets surveyed again, invalid visits, tickets without a due time, intakes
/// the dispatch locates, names without codes, resends, version ties, proactive items), and the
/// hotline KPIs polars computes from the landed lake by the fixed definitions (intake, last
/// valid survey, first closure, K29's zero-request months, K34, K35) equal the ground truth.
#[test]
fn citysim_hotline_real_feed_cases_land_and_match_the_fixed_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, truth_path) = (dir.path().join("lake"), dir.path().join("truth.json"));
    // Haidian at 8 % of its communities: 48 communities, 2 of them quiet (K29 has zeros).
    let out = std::process::Command::new(civicpulse_tests::process::binary("citysim"))
        .args([
            "--city",
            "beijing",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-30",
            "--scale",
            "0.08",
            "--seed",
            "15",
            "--streams",
            "hotline",
            "--districts",
            "110108",
            "--bad-ratio",
            "0.01",
            "--quiet",
            "--lake",
            lake.to_str().unwrap(),
            "--truth",
            truth_path.to_str().unwrap(),
        ])
        .env("CIVICPULSE_HASH_KEY", "citysim-test-key-0123456789")
        .output()
        .expect("citysim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    let got: Value = serde_json::from_str(&python::run_script(
        "lake_kpis.py",
        &[lake.to_str().unwrap(), "2024-06-01", "2024-06-30"],
    ))
    .unwrap();
    let cases = &got["tables"]["hotline_tickets"]["cases"];
    eprintln!("hotline cases in the lake: {cases}");
    // Tickets sent with names only land with codes: `--lake` loads the communities reference
    // first and the normaliser resolves the names through it.
    assert_eq!(
        cases["names_only"].as_u64(),
        Some(0),
        "names left unresolved"
    );
    for case in [
        "resent_events",
        "archived_after_survey",
        "reopened_and_resurveyed",
        "invalid_visits",
        "dispatched_without_due_time",
        "located_by_dispatch",
        "version_ties",
        "proactive",
        "consultations",
    ] {
        assert!(
            cases[case].as_u64().unwrap_or(0) > 0,
            "no {case} in the lake"
        );
    }
    let compared = assert_kpis_equal(
        &truth,
        &got,
        &[
            "hotline_tickets_received",
            "hotline_wc_tickets_received",
            "hotline_proactive_received",
            "hotline_valid_visits",
            "hotline_contacted",
            "hotline_resolved",
            "hotline_satisfied",
            "hotline_basic_satisfied",
            "hotline_closed",
            "hotline_closed_no_due",
            "hotline_closed_on_time",
            "hotline_reopened",
        ],
    );
    assert_eq!(compared, 12, "Haidian alone");
    let d = &truth["districts"]["110108"];
    let p = &d["period"];
    for k in [
        "hotline_closed_no_due",
        "hotline_reopened",
        "hotline_proactive_received",
    ] {
        assert!(p[k].as_i64().unwrap() > 0, "{k} is 0");
    }
    // K29: June is the one whole month; every community without an in-scope request is a zero.
    let communities = d["communities"].as_i64().unwrap();
    let requested = got["districts"]["110108"]["hotline_requested_community_months"]
        .as_i64()
        .unwrap();
    let zeros = p["hotline_zero_request_community_months"].as_i64().unwrap();
    assert_eq!(communities - requested, zeros, "K29");
    assert!(zeros > 0, "no zero-request community in June");
    // K34 per 10,000 residents of the communities.
    let per_10k = p["hotline_requests_per_10k_residents"].as_f64().unwrap();
    let received = p["hotline_tickets_received"].as_f64().unwrap();
    let population = d["population"].as_f64().unwrap();
    assert!(
        (per_10k - received / population * 1e4).abs() < 1e-5,
        "K34 {per_10k}"
    );
}

/// Haidian published 312 zero-request community-months for 2024 (K29), 26 a month: a month of
/// the full-scale district (generated only) lands within ±10 % of 26.
#[test]
fn citysim_haidian_zero_request_months_match_the_published_figure() {
    let dir = tempfile::tempdir().unwrap();
    let truth = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-02-01",
            "--to",
            "2024-02-29",
            "--scale",
            "1.0",
            "--seed",
            "7",
            "--streams",
            "hotline",
            "--districts",
            "110108",
            "--discard",
        ],
        &dir.path().join("truth.json"),
    );
    let zeros = truth["districts"]["110108"]["period"]["hotline_zero_request_community_months"]
        .as_f64()
        .unwrap();
    let published = 312.0 / 12.0;
    eprintln!("Haidian February 2024 zero-request communities: {zeros}, published {published}");
    assert!(
        ((zeros - published) / published).abs() <= 0.10,
        "K29: {zeros} a month, published {published}"
    );
    let row = truth["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kpi"] == "hotline_zero_request_community_months")
        .expect("K29 calibration row");
    assert_eq!(row["ok"], true, "{row}");
}

/// Issue 15: citysim's facility registry and renovation programme carry the cases real feeds
/// carry (stock loaded at the start, facilities registered while planned or being built that
/// open later, late entries of new and of old facilities, suspensions, capacities and
/// cumulative figures left out, second and withdrawn completions, no from_status, parking
/// projects the registry lists too); the programme KPIs computed from the landed lake by the
/// fixed definitions (openings, high-water-mark additions, counted completions) equal the
/// ground truth; Haidian's published 2024 figures still hold; and the reference files are
/// written, consistent with the truth and byte-identical for a seed.
#[test]
fn citysim_programme_real_feed_cases_land_and_match_the_fixed_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, truth_path) = (dir.path().join("lake"), dir.path().join("truth.json"));
    let reference = dir.path().join("reference");
    let out = std::process::Command::new(civicpulse_tests::process::binary("citysim"))
        .args([
            "--city",
            "beijing",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--scale",
            "1.0",
            "--seed",
            "7",
            "--streams",
            "facility,renovation",
            "--districts",
            "110108",
            "--quiet",
            "--lake",
            lake.to_str().unwrap(),
            "--reference-out",
            reference.to_str().unwrap(),
            "--truth",
            truth_path.to_str().unwrap(),
        ])
        .env("CIVICPULSE_HASH_KEY", "citysim-test-key-0123456789")
        .output()
        .expect("citysim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    let got: Value = serde_json::from_str(&python::run_script(
        "lake_kpis.py",
        &[lake.to_str().unwrap(), "2024-01-01", "2024-12-31"],
    ))
    .unwrap();
    for (table, names) in [
        (
            "facility_changes",
            &[
                "stock_loaded",
                "registered_before_opening",
                "opened_after_registration",
                "late_entries",
                "late_entries_of_old_stock",
                "suspended_events",
                "capacity_left_out",
                "parking_lots_from_projects",
            ][..],
        ),
        (
            "renovation_progress",
            &[
                "cumulative_left_out",
                "from_status_absent",
                "second_completion",
                "completion_withdrawn",
            ][..],
        ),
    ] {
        let cases = &got["tables"][table]["cases"];
        eprintln!("{table} cases in the lake: {cases}");
        for name in names {
            assert!(
                cases[*name].as_u64().unwrap_or(0) > 0,
                "no {name} in {table}"
            );
        }
    }
    let compared = assert_kpis_equal(
        &truth,
        &got,
        &[
            "elderly_service_centres_opened",
            "elderly_care_stations_opened",
            "meal_points_opened",
            "inclusive_childcare_places_added",
            "parking_spaces_added",
            "charging_points_added",
            "facilities_created",
            "facilities_closed",
            "elevators_completed",
            "elevators_started",
            "age_friendly_households",
            "renovation_projects_declared",
            "renovation_projects_completed",
            "renovation_projects_cancelled",
        ],
    );
    assert_eq!(compared, 14, "Haidian alone");
    // Every published figure of the run holds (Haidian's K01–K04, K06, K11, K13, K15, K31).
    let rows = truth["calibration"].as_array().unwrap();
    assert!(rows.len() >= 9, "{rows:?}");
    for row in rows {
        eprintln!(
            "{}: generated {}, target {}",
            row["figure"], row["generated"], row["target"]
        );
        assert_eq!(row["ok"], true, "{row}");
    }
    // The reference files: one community row per simulated community, and the same bytes
    // again for the same seed.
    let read = |p: std::path::PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let d = &truth["districts"]["110108"];
    let communities = String::from_utf8(read(reference.join("communities.csv"))).unwrap();
    assert_eq!(
        communities.lines().count() as i64 - 1,
        d["communities"].as_i64().unwrap()
    );
    assert_eq!(
        communities.lines().filter(|l| l.contains(",true,")).count() as i64,
        d["period"]["communities_on_platform"].as_i64().unwrap(),
        "K31"
    );
    let again = dir.path().join("again");
    citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--scale",
            "1.0",
            "--seed",
            "7",
            "--streams",
            "facility",
            "--districts",
            "110108",
            "--discard",
            "--reference-out",
            again.to_str().unwrap(),
        ],
        &dir.path().join("again.json"),
    );
    for name in [
        "communities.csv",
        "life_circles.csv",
        "community_assessments.csv",
    ] {
        assert_eq!(read(reference.join(name)), read(again.join(name)), "{name}");
    }
    // The catalogue carries every programme KPI.
    let catalogue = d["period"]["catalogue"].as_object().unwrap();
    for kpi in [
        "K01", "K02", "K03", "K04", "K05", "K06", "K07", "K08", "K09", "K10", "K11", "K12", "K13",
        "K14", "K15", "K16", "K17", "K18", "K19", "K20", "K21", "K22", "K31", "K32", "K33",
    ] {
        assert!(catalogue.contains_key(kpi), "{kpi} not in the catalogue");
    }
}
