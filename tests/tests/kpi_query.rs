//! kpi-query over a lake landed from citysim through the broker and the ingest services:
//! every catalogue KPI equals citysim's ground truth and DuckDB's answer over the same tables'
//! active Parquet files; commits show up in the next query, and `as_of` reads the past.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream};
use civicpulse_tests::kafka::create_topic;
use civicpulse_tests::process::{ServiceProcess, binary};
use civicpulse_tests::python;
use civicpulse_tests::query::{KpiQuery, encode};
use civicpulse_tests::scenario::{
    Lake, Produced, citysim, produce_events, runtime, start_service, wait_rows,
};
use serde_json::Value;

/// `(district, period, item) → value` of KPI rows.
type Answer = BTreeMap<(String, String, String), f64>;

fn answer(rows: &[Value]) -> Answer {
    rows.iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (
                (text("district"), text("period"), text("item")),
                r["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The KPI's value per item for one district as the truth states it (`""` = no item): the
/// truth's `catalogue`, written by citysim from the definitions in each KPI's header.
fn expected(kpi: &str, p: &Value) -> BTreeMap<String, f64> {
    p["catalogue"][kpi]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(i, v)| (i.clone(), v.as_f64().expect("numeric truth")))
                .collect()
        })
        .unwrap_or_default()
}

/// KPIs checked week by week against the truth's weekly values (field names of `weeks`).
const WEEKLY: &[(&str, &str)] = &[
    ("K01", "elderly_service_centres_opened"),
    ("K02", "elderly_care_stations_opened"),
    ("K03", "meal_points_opened"),
    ("K04", "inclusive_childcare_places_added"),
    ("K13", "elevators_completed"),
    ("K14", "elevators_started"),
    ("K15", "age_friendly_households"),
    ("K23", "hotline_tickets_received"),
];

fn is_hotline(kpi: &str) -> bool {
    matches!(
        kpi,
        "K23" | "K24" | "K25" | "K26" | "K27" | "K28" | "K29" | "K30" | "K34" | "K35"
    )
}

/// The hotline side's districts: a mid-sized one (with a zero-request community at this scale)
/// and a small one, simulated at the programme's scale and seed so
/// their communities are the programme run's (one communities table serves both).
const HOTLINE_DISTRICTS: &str = "110111,110119";

#[test]
fn kpi_catalogue_equals_the_ground_truth_and_duckdb() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&brokers, stream.topic(), 3));
    }
    let dir = lake.dir.path();
    let programme = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--scale",
            "0.05",
            "--seed",
            "11",
            "--streams",
            "facility,renovation",
            "--brokers",
            &brokers,
            "--reference-out",
            dir.join("reference-files").to_str().unwrap(),
        ],
        &dir.join("programme.json"),
    );
    let hotline = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-30",
            "--scale",
            "0.05",
            "--seed",
            "11",
            "--districts",
            HOTLINE_DISTRICTS,
            "--streams",
            "hotline",
            "--brokers",
            &brokers,
        ],
        &dir.join("hotline.json"),
    );
    // The city's reference, loaded before the ingest starts (it checks codes against it).
    let files = dir.join("reference-files");
    let load = Command::new(binary("lake-maintain"))
        .args(["--lake", lake.root().to_str().unwrap(), "load-reference"])
        .arg("--communities")
        .arg(files.join("communities.csv"))
        .arg("--life-circles")
        .arg(files.join("life_circles.csv"))
        .arg("--assessments")
        .arg(files.join("community_assessments.csv"))
        .output()
        .expect("lake-maintain runs");
    assert!(
        load.status.success(),
        "load-reference: {}",
        String::from_utf8_lossy(&load.stderr)
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
        let t = &truth["topics"][stream.topic()];
        let rows = t["valid"].as_u64().unwrap() + t["duplicates"].as_u64().unwrap();
        let mut refs: Vec<&mut ServiceProcess> = services.iter_mut().collect();
        wait_rows(
            &lake.table(stream),
            rows,
            Duration::from_secs(300),
            &mut refs,
        );
    }
    for s in &mut services {
        s.terminate(Duration::from_secs(30));
    }
    civicpulse_tests::scenario::keep_state(&lake.root());

    let query = KpiQuery::start(&lake.root(), &[], &lake.logs());
    let catalogue = query.get("/kpis").json();
    let ids: Vec<String> = catalogue
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    let all: Vec<String> = (1..=35).map(|n| format!("K{n:02}")).collect();
    assert_eq!(ids, all, "the catalogue is K01–K35");
    for k in catalogue.as_array().unwrap() {
        for field in ["name_zh", "name_en", "unit", "grain", "definition"] {
            assert!(
                !k[field].as_str().unwrap_or("").is_empty(),
                "{} lacks {field}",
                k["id"]
            );
        }
    }
    let range = |kpi: &str| {
        if is_hotline(kpi) {
            ("2024-06-01", "2024-06-30")
        } else {
            ("2024-01-01", "2024-12-31")
        }
    };
    let fetch = |kpi: &str, grain: &str, district: &str| -> Vec<Value> {
        let (from, to) = range(kpi);
        let r = query.get(&format!(
            "/kpis/{kpi}?from={from}&to={to}&grain={grain}{district}"
        ));
        assert_eq!(r.status, 200, "{kpi} {grain}: {}", r.text());
        r.json().as_array().unwrap().clone()
    };

    // 1. Every KPI over its whole range (one period) equals the truth, district by district.
    let mut compared = 0;
    for kpi in &ids {
        let mut nonzero = 0;
        let truth = if is_hotline(kpi) {
            &hotline
        } else {
            &programme
        };
        let (from, _) = range(kpi);
        let grain = if is_hotline(kpi) { "month" } else { "year" };
        let got = answer(&fetch(kpi, grain, ""));
        for (district, d) in truth["districts"].as_object().unwrap() {
            let want_items = expected(kpi, &d["period"]);
            for (item, want) in &want_items {
                let key = (district.clone(), from.to_owned(), item.clone());
                let value = got.get(&key).copied().unwrap_or(0.0);
                assert!(
                    close(value, *want),
                    "{kpi} {district} {item:?}: kpi-query {value}, truth {want}"
                );
                compared += 1;
                nonzero += usize::from(*want != 0.0);
            }
            // A row the truth does not have is a zero flow or a ratio without a denominator
            // (NULL), or wrong.
            for ((row_district, _, item), value) in &got {
                if row_district == district && !want_items.contains_key(item) {
                    assert!(
                        *value == 0.0 || value.is_nan(),
                        "{kpi} {district} {item:?}: kpi-query {value}, not in the truth"
                    );
                }
            }
        }
        // A truth field that is missing or all zero would make the comparison vacuous.
        assert!(
            nonzero > 0,
            "{kpi}: the truth has no non-zero value to compare"
        );
    }
    assert!(compared > 35 * 5, "only {compared} values compared");

    // 2. Week by week, over the weeks wholly inside the range (a cut week holds history the
    // range leaves out).
    let weeks: Vec<(String, String, String)> = query
        .rows(
            "SELECT CAST(week_start AS VARCHAR) AS monday, MIN(week) AS week, \
             CAST(MAX(day) AS VARCHAR) AS sunday FROM calendar \
             WHERE week_start BETWEEN DATE '2024-01-01' AND DATE '2024-12-31' GROUP BY week_start",
        )
        .into_iter()
        .map(|r| {
            let t = |k: &str| r[k].as_str().unwrap().to_owned();
            (t("monday"), t("week"), t("sunday"))
        })
        .collect();
    assert_eq!(weeks.len(), 53, "ISO weeks starting in 2024");
    for (kpi, field) in WEEKLY {
        let truth = if is_hotline(kpi) {
            &hotline
        } else {
            &programme
        };
        let got = answer(&fetch(kpi, "week", ""));
        let (from, to) = range(kpi);
        for (district, d) in truth["districts"].as_object().unwrap() {
            for (monday, week, sunday) in &weeks {
                if monday.as_str() < from || sunday.as_str() > to {
                    continue;
                }
                let want = d["weeks"][week][field].as_f64().unwrap_or(0.0);
                let value = got
                    .get(&(district.clone(), monday.clone(), String::new()))
                    .copied()
                    .unwrap_or(0.0);
                assert!(
                    close(value, want),
                    "{kpi} {district} {week}: kpi-query {value}, truth {want}"
                );
            }
        }
    }

    // 3. DuckDB over the active Parquet files, with the same SQL and reference tables.
    let refdir = dir.join("reference");
    std::fs::create_dir_all(&refdir).unwrap();
    for table in ["calendar", "divisions", "kpi_weight_versions"] {
        let r = query.sql(&format!("SELECT * FROM {table}"), "format=parquet");
        assert_eq!(r.status, 200, "{table}: {}", r.text());
        std::fs::write(refdir.join(format!("{table}.parquet")), &r.body).unwrap();
    }
    let root = lake.root();
    for (from, to, grains, hotline_side) in [
        ("2024-01-01", "2024-12-31", ["year", "week"], false),
        ("2024-06-01", "2024-06-30", ["month", "week"], true),
    ] {
        let side: Vec<&String> = ids
            .iter()
            .filter(|k| is_hotline(k) == hotline_side)
            .collect();
        for grain in grains {
            let mut args = vec![
                root.to_str().unwrap(),
                refdir.to_str().unwrap(),
                from,
                to,
                grain,
            ];
            args.extend(side.iter().map(|s| s.as_str()));
            let out = python::run_script("duckdb_kpis.py", &args);
            let duck: Value = serde_json::from_str(&out).expect("duckdb_kpis.py JSON");
            for kpi in &side {
                let ours = answer(&fetch(kpi, grain, ""));
                let theirs = answer(duck[kpi.as_str()].as_array().expect("DuckDB rows"));
                assert_eq!(
                    ours.keys().collect::<Vec<_>>(),
                    theirs.keys().collect::<Vec<_>>(),
                    "{kpi} {grain}: rows of kpi-query and DuckDB"
                );
                for (key, v) in &ours {
                    let w = theirs[key];
                    assert!(
                        close(*v, w) || v.is_nan() && w.is_nan(),
                        "{kpi} {grain} {key:?}: kpi-query {v}, DuckDB {w}"
                    );
                }
            }
        }
    }

    // 4. A city code rolls its districts up; a district code filters.
    let city = fetch("K13", "year", "&district=110000");
    let total: f64 = programme["districts"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d["period"]["elevators_completed"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(city.len(), 1, "{city:?}");
    assert!(close(city[0]["value"].as_f64().unwrap(), total));
    assert_eq!(city[0]["district_name_zh"], "北京市");
    let haidian = fetch("K13", "year", "&district=110108");
    assert!(
        haidian
            .iter()
            .all(|r| r["district"] == "110108" && r["district_name_en"] == "Haidian")
    );
}

#[test]
fn commits_show_up_in_the_next_query_and_as_of_reads_the_past() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    let stream = Stream::Facility;
    rt.block_on(create_topic(&brokers, stream.topic(), 3));
    let factory = EventFactory::new(stream);
    let mut produced = Produced::new();
    produce_events(&rt, &factory, &brokers, stream, 0..2_000, &mut produced);
    let mut ingest = start_service(stream, &brokers, &lake.root(), &lake.logs());
    wait_rows(
        &lake.table(stream),
        2_000,
        Duration::from_secs(300),
        &mut [&mut ingest],
    );

    let query = KpiQuery::start(&lake.root(), &[], &lake.logs());
    let count = |extra: &str| -> u64 {
        let r = query.sql("SELECT count(*) AS n FROM facility_changes", extra);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()[0]["n"].as_u64().unwrap()
    };
    assert_eq!(count(""), 2_000);
    let before = query.get("/tables").json();
    // Commit timestamps have millisecond resolution: step clear of the last one.
    std::thread::sleep(Duration::from_millis(1_500));
    let t = civicpulse_tests::rfc3339_now();
    std::thread::sleep(Duration::from_millis(1_500));

    produce_events(&rt, &factory, &brokers, stream, 2_000..3_000, &mut produced);
    wait_rows(
        &lake.table(stream),
        3_000,
        Duration::from_secs(300),
        &mut [&mut ingest],
    );
    // The same service, no restart, no refresh: the new rows are there.
    assert_eq!(count(""), 3_000);
    assert_eq!(count(&format!("as_of={}", encode(&t))), 2_000);
    let then = query.get(&format!("/tables?as_of={}", encode(&t))).json();
    assert_eq!(then["tables"], before["tables"], "versions as of {t}");
    // A KPI as of then equals the KPI computed then.
    let k = "/kpis/K08?from=2024-01-01&to=2024-12-31&grain=year";
    let now = query.get(k).json();
    let past = query.get(&format!("{k}&as_of={}", encode(&t))).json();
    assert_ne!(now, past, "K08 changed with 1,000 more facility events");

    // Over the PostgreSQL protocol: a setting of the connection.
    let psql = Command::new("psql")
        .arg(query.pg_dsn())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", "SELECT count(*) FROM facility_changes"])
        .args(["-c", &format!("SET civicpulse.as_of = '{t}'")])
        .args(["-c", "SELECT count(*) FROM facility_changes"])
        .args(["-c", "SET civicpulse.as_of = 'latest'"])
        .args(["-c", "SELECT count(*) FROM facility_changes"])
        .output()
        .expect("psql runs");
    let out = String::from_utf8_lossy(&psql.stdout);
    assert!(
        psql.status.success(),
        "psql: {out} {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let counts: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .collect();
    assert_eq!(counts, ["3000", "2000", "3000"], "psql output: {out}");
}
