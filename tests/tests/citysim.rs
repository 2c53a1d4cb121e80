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
        ],
    );
    assert!(compared >= 7 * 2, "more than one district compared");
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
