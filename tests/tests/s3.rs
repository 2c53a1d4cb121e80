//! The lake on an S3-compatible object store: every service works on `s3://bucket/prefix` with
//! the endpoint and credentials from its configuration, against moto's S3 server on loopback.
//! Two hotline-ingest instances share the topic's partitions and one restarts (exactly once),
//! `lake-maintain state` keeps the state table there, two kpi-query replicas answer alike over
//! the same lake, lake-maintain compacts it, and
//! weekly-report writes the week from it; Python `deltalake` reads every table back from S3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream};
use civicpulse_tests::kafka::create_topic;
use civicpulse_tests::process::{ServiceProcess, binary, wait_for};
use civicpulse_tests::query::KpiQuery;
use civicpulse_tests::s3::{BUCKET, S3Server};
use civicpulse_tests::scenario::{ENV, Produced, citysim, produce_events, runtime, wait_count};
use serde_json::Value;

const PREFIX: &str = "cities/beijing";

/// Starts `name` with `--config` (the S3 lake) and `--brokers`.
fn start(name: &str, config: &Path, brokers: &str, logs: &Path) -> ServiceProcess {
    ServiceProcess::start(
        name,
        &["--config", config.to_str().unwrap(), "--brokers", brokers],
        ENV,
        logs,
    )
}

/// Waits until the table at `url` holds `rows` rows, failing early if a service exits.
fn wait_rows(s3: &S3Server, url: &str, rows: u64, services: &mut [&mut ServiceProcess]) {
    wait_count(url, rows, Duration::from_secs(300), services, || {
        s3.count_rows(url)
    });
}

/// `district → value` of a KPI answer for one period.
fn by_district(rows: &Value) -> BTreeMap<String, f64> {
    rows.as_array()
        .expect("KPI rows")
        .iter()
        .map(|r| {
            (
                r["district"].as_str().unwrap().to_owned(),
                r["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_service_works_on_an_s3_lake() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let s3 = S3Server::start(&logs);
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&brokers, stream.topic(), 3));
    }
    let config = dir.path().join("s3.toml");
    std::fs::write(&config, s3.lake_toml(PREFIX)).unwrap();
    let url = |stream: Stream| format!("{}/{}", s3.root(PREFIX), stream.table());

    // 1. A month of the city through the broker into the S3 lake; hotline by two instances,
    // both owning partitions before the first event.
    // a joins first and leads the group; b gets partitions in the rebalance that takes them
    // from a.
    let mut hotline_a = start("hotline-ingest", &config, &brokers, &logs);
    let assigned = |s: &ServiceProcess| {
        wait_for(Duration::from_secs(90), || {
            s.log().contains("rebalance kind=\"assign\"").then_some(())
        })
        .unwrap_or_else(|| panic!("an instance never owned a partition: {}", s.log()))
    };
    assigned(&hotline_a);
    let mut hotline_b = start("hotline-ingest", &config, &brokers, &logs);
    assigned(&hotline_b);
    let mut facility = start("facility-ingest", &config, &brokers, &logs);
    let mut renovation = start("renovation-ingest", &config, &brokers, &logs);
    let truth = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-30",
            "--scale",
            "0.005",
            "--seed",
            "7",
            "--brokers",
            &brokers,
        ],
        &dir.path().join("truth.json"),
    );
    let mut expected = BTreeMap::new();
    for stream in Stream::ALL {
        let t = &truth["topics"][stream.topic()];
        let rows = t["valid"].as_u64().unwrap() + t["duplicates"].as_u64().unwrap();
        assert!(rows > 0, "citysim produced no {} rows", stream.topic());
        expected.insert(stream.table(), rows);
        wait_rows(
            &s3,
            &url(stream),
            rows,
            &mut [
                &mut hotline_a,
                &mut hotline_b,
                &mut facility,
                &mut renovation,
            ],
        );
    }
    // Both instances held partitions: each committed to the shared table.
    for (name, s) in [("a", &hotline_a), ("b", &hotline_b)] {
        let committed = s.metric("civicpulse_rows_landed_total", "").unwrap_or(0.0);
        assert!(
            committed > 0.0,
            "instance {name} committed nothing: {}",
            s.log()
        );
    }

    // 2. Instance b stops; a takes its partitions, b restarts; nothing lost or doubled. (A
    // SIGTERM, leaving the group: tansu 0.6 never expires a member that died, so a survivor
    // would not get a killed member's partitions. `exactly_once.rs` has the kill -9 runs.)
    hotline_b.terminate(Duration::from_secs(30));
    let factory = EventFactory::new(Stream::Hotline);
    let mut produced = Produced::new();
    produce_events(
        &rt,
        &factory,
        &brokers,
        Stream::Hotline,
        0..1500,
        &mut produced,
    );
    let hotline_rows = expected["hotline_tickets"] + 1500;
    wait_rows(
        &s3,
        &url(Stream::Hotline),
        hotline_rows,
        &mut [&mut hotline_a],
    );
    let mut hotline_b = start("hotline-ingest", &config, &brokers, &logs);
    assigned(&hotline_b);
    produce_events(
        &rt,
        &factory,
        &brokers,
        Stream::Hotline,
        1500..3000,
        &mut produced,
    );
    let hotline_rows = hotline_rows + 1500;
    wait_rows(
        &s3,
        &url(Stream::Hotline),
        hotline_rows,
        &mut [&mut hotline_a, &mut hotline_b],
    );
    let restarted = hotline_b
        .metric("civicpulse_rows_landed_total", "")
        .unwrap_or(0.0);
    assert!(
        restarted > 0.0,
        "the restarted instance landed nothing: {}",
        hotline_b.log()
    );
    expected.insert("hotline_tickets", hotline_rows);
    for s in [
        &mut hotline_a,
        &mut hotline_b,
        &mut facility,
        &mut renovation,
    ] {
        s.terminate(Duration::from_secs(30));
    }
    let mut files_before = BTreeMap::new();
    for stream in Stream::ALL {
        let summary = s3.read_table(&url(stream), stream == Stream::Hotline);
        let rows = expected[stream.table()];
        assert_eq!(summary.rows, rows, "{} read back from S3", stream.table());
        assert_eq!(summary.distinct_positions, rows, "a record landed twice");
        if let Some(keys) = &summary.keys {
            for key in &produced.keys {
                assert!(keys.binary_search(key).is_ok(), "{key} is missing");
            }
        }
        files_before.insert(stream.table(), summary.files);
    }

    // 3. The state service keeps hotline_ticket_state on S3 too, and two kpi-query replicas
    // over the same lake (credentials from the environment) read it.
    let state = Command::new(binary("lake-maintain"))
        .args(["--config", config.to_str().unwrap(), "state", "--once"])
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        state.status.success(),
        "lake-maintain state: {}",
        String::from_utf8_lossy(&state.stderr)
    );
    let env = s3.lake_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let root = PathBuf::from(s3.root(PREFIX));
    let replicas = [
        KpiQuery::start(&root, &env, &logs),
        KpiQuery::start(&root, &env, &logs),
    ];
    for replica in &replicas {
        let n = |sql: &str| replica.rows(sql)[0]["n"].as_i64();
        assert_eq!(
            n("SELECT COUNT(*) AS n FROM hotline_ticket_state"),
            n("SELECT COUNT(DISTINCT ticket_id) AS n FROM hotline_tickets"),
            "the kept state on S3 has one row per ticket"
        );
        let tables = replica.get("/tables").json();
        let kept = tables["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["table"] == "hotline_ticket_state")
            .and_then(|t| t["version"].as_i64());
        assert!(kept.is_some(), "no state table on S3: {tables}");
    }
    let month = "from=2024-06-01&to=2024-06-30&grain=month";
    let ask = |q: &KpiQuery, kpi: &str| {
        let r = q.get(&format!("/kpis/{kpi}?{month}"));
        assert_eq!(r.status, 200, "{kpi}: {}", r.text());
        by_district(&r.json())
    };
    // Renovation and facility KPIs only have citysim's events: they equal its truth.
    let mut kpis_with_data = Vec::new();
    for (kpi, field) in [
        ("K13", "elevators_completed"),
        ("K14", "elevators_started"),
        ("K15", "age_friendly_households"),
        ("K04", "inclusive_childcare_places_added"),
    ] {
        let got = ask(&replicas[0], kpi);
        for (district, d) in truth["districts"].as_object().unwrap() {
            let want = d["period"][field].as_f64().unwrap_or(0.0);
            let value = got.get(district).copied().unwrap_or(0.0);
            assert!(
                (value - want).abs() < 1e-6,
                "{kpi} {district}: {value} != {want}"
            );
            if want != 0.0 && !kpis_with_data.contains(&kpi) {
                kpis_with_data.push(kpi);
            }
        }
    }
    assert!(
        kpis_with_data.len() >= 2,
        "only {kpis_with_data:?} have data to compare"
    );
    let answers: Vec<_> = ["K23", "K26"]
        .iter()
        .chain(&kpis_with_data)
        .map(|kpi| (ask(&replicas[0], kpi), ask(&replicas[1], kpi)))
        .collect();
    for (a, b) in &answers {
        assert!(!a.is_empty());
        assert_eq!(a, b, "the replicas disagree");
    }
    let k23_before = &answers[0].0;

    // 4. lake-maintain compacts the S3 tables; readers see the same rows in fewer files. (On a
    // lake without tables yet it has nothing to do, which is no error.)
    let empty = Command::new(binary("lake-maintain"))
        .args(["--once", "--lake"])
        .arg(dir.path().join("empty-lake"))
        .output()
        .unwrap();
    assert!(
        empty.status.success(),
        "lake-maintain on an empty lake: {}",
        String::from_utf8_lossy(&empty.stderr)
    );
    let maintained = Command::new(binary("lake-maintain"))
        .args(["--config", config.to_str().unwrap(), "--once"])
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        maintained.status.success(),
        "lake-maintain: {}",
        String::from_utf8_lossy(&maintained.stderr)
    );
    let (mut before, mut after) = (0, 0);
    for stream in Stream::ALL {
        let summary = s3.read_table(&url(stream), false);
        let table = stream.table();
        assert_eq!(
            summary.rows, expected[table],
            "{table}: rows after compaction"
        );
        assert_eq!(summary.distinct_positions, summary.rows);
        assert!(
            summary.files <= files_before[table],
            "{table} has more files"
        );
        before += files_before[table];
        after += summary.files;
    }
    // Three hotline landings wrote several files per partition: compaction merges them.
    assert!(
        after < before,
        "{after} files after compaction, {before} before"
    );
    assert_eq!(
        &ask(&replicas[1], "K23"),
        k23_before,
        "K23 after compaction"
    );

    // 5. weekly-report writes the week from the S3 lake; its city figure is kpi-query's.
    let out = dir.path().join("reports");
    let report = Command::new(binary("weekly-report"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--week",
            "2024-W24",
            "--no-send",
        ])
        .arg("--out")
        .arg(&out)
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "weekly-report: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("110000/2024-W24/report.zh.json")).unwrap())
            .unwrap();
    let k23 = json["city"]["headline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kpi"] == "K23")
        .unwrap()["value"]
        .as_f64();
    let city =
        replicas[0].get("/kpis/K23?district=110000&from=2024-06-10&to=2024-06-16&grain=week");
    assert_eq!(city.status, 200, "{}", city.text());
    let city_value = city.json()[0]["value"].as_f64();
    assert!(city_value.unwrap_or(0.0) > 0.0, "no requests that week");
    assert_eq!(k23, city_value, "the report's requests");

    // 6. Everything written is under the lake's prefix, and nothing went to local disk.
    let keys = s3.keys();
    assert!(
        keys.iter().any(|k| k.ends_with(".parquet")),
        "no data files in S3"
    );
    let outside: Vec<_> = keys
        .iter()
        .filter(|k| !k.starts_with(&format!("{PREFIX}/")))
        .collect();
    assert!(
        outside.is_empty(),
        "objects outside the lake in {BUCKET}: {outside:?}"
    );
    let cwd = std::env::current_dir().unwrap();
    assert!(
        !cwd.join("s3:").exists(),
        "an s3:// root was taken for a local path"
    );
}
