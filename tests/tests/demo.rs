//! `civicpulse demo` end to end, as a user runs it: the binary with its embedded broker on
//! free ports; every number of its printed table equals citysim's ground truth for that week
//! (citysim run separately with the same flags), the endpoints it printed answer, and Ctrl-C
//! stops it cleanly.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use civicpulse_tests::process::binary;
use civicpulse_tests::query::request;
use civicpulse_tests::scenario::citysim;
use serde_json::Value;

const FROM: &str = "2024-06-03";
const TO: &str = "2024-06-09";
const WEEK: &str = "2024-W23";
const SCALE: &str = "0.01";
const SEED: &str = "5";

/// The printed table's columns, as the truth defines them.
#[derive(Clone, Copy)]
enum Expected {
    Count(&'static str),
    /// numerator fields (with weights) over `hotline_valid_visits`.
    Rate(&'static [(&'static str, f64)]),
}

const COLUMNS: [(&str, Expected); 6] = [
    ("K23", Expected::Count("hotline_tickets_received")),
    ("K26", Expected::Rate(&[("hotline_resolved", 1.0)])),
    (
        "K27",
        Expected::Rate(&[("hotline_satisfied", 1.0), ("hotline_basic_satisfied", 0.9)]),
    ),
    ("K13", Expected::Count("elevators_completed")),
    ("K15", Expected::Count("age_friendly_households")),
    ("K04", Expected::Count("inclusive_childcare_places_added")),
];

/// The week's values of `districts` summed: `(counts per column, rate numerators, visits)`.
fn truth_of(week: &[&Value]) -> Vec<Option<f64>> {
    let n = |k: &str| -> f64 {
        week.iter()
            .map(|w| w[k].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    let visits = n("hotline_valid_visits");
    COLUMNS
        .iter()
        .map(|(_, e)| match e {
            Expected::Count(field) => Some(n(field)),
            Expected::Rate(parts) => {
                (visits > 0.0).then(|| parts.iter().map(|(f, w)| w * n(f)).sum::<f64>() / visits)
            }
        })
        .collect()
}

/// A printed cell: a count, a percentage, or `–` (no valid visits).
fn cell(text: &str) -> Option<f64> {
    if text == "–" {
        return None;
    }
    match text.strip_suffix('%') {
        Some(pct) => Some(pct.parse::<f64>().expect("percentage") / 100.0),
        None => Some(text.parse().expect("count")),
    }
}

#[test]
fn demo_table_equals_the_ground_truth_and_ctrl_c_stops_it() {
    let _heavy = civicpulse_tests::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    demo_run(dir.path(), &out, SEED);
    // Run again in the same place, as a user does: a fresh lake, and a report of it.
    demo_run(dir.path(), &out, "8");
}

/// Runs the demo with `seed` into `out` and checks everything it prints against the truth.
fn demo_run(dir: &Path, out: &Path, seed: &str) {
    let stderr_log = dir.join(format!("demo-{seed}.stderr"));
    let started = Instant::now();
    let mut child = Command::new(binary("civicpulse"))
        .args([
            "demo",
            "--city",
            "beijing",
            "--from",
            FROM,
            "--weeks",
            "1",
            "--scale",
            SCALE,
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--http-port",
            "0",
            "--pg-port",
            "0",
        ])
        .env_remove("CIVICPULSE_HASH_KEY")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&stderr_log).unwrap()))
        .spawn()
        .expect("civicpulse runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let log = || std::fs::read_to_string(&stderr_log).unwrap_or_default();
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                let ready = line.contains("serving until Ctrl-C");
                lines.push(line);
                if ready {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the demo exited with {status}: {}\n{}",
                        lines.join("\n"),
                        log()
                    );
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("no table within 300 s: {}\n{}", lines.join("\n"), log());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!(
                    "the demo exited with {status}: {}\n{}",
                    lines.join("\n"),
                    log()
                );
            }
        }
    }
    let ready_secs = started.elapsed().as_secs_f64();
    let text = lines.join("\n");
    eprintln!("{text}");
    assert!(text.contains(&format!("week {WEEK}")), "{text}");
    assert!(
        text.contains("CIVICPULSE_HASH_KEY was not set"),
        "the demo says it made up a hash key: {text}"
    );

    // citysim on its own with the same flags: the ground truth of the demo's city.
    let truth = citysim(
        &[
            "--city",
            "beijing",
            "--from",
            FROM,
            "--to",
            TO,
            "--scale",
            SCALE,
            "--seed",
            seed,
            "--discard",
        ],
        &dir.join(format!("truth-{seed}.json")),
    );
    let table: BTreeMap<String, Vec<String>> = lines
        .iter()
        .filter_map(|l| {
            let cells: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            let code = cells.first()?.clone();
            (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some((code, cells))
        })
        .collect();
    let districts = truth["districts"].as_object().unwrap();
    assert_eq!(
        table.len(),
        districts.len() + 1,
        "districts and the city: {text}"
    );
    let empty = Value::Null;
    let mut all_weeks = Vec::new();
    let mut compared = 0;
    let mut nonzero = 0;
    let mut nonzero_columns = [false; COLUMNS.len()];
    let mut check = |code: &str, want: Vec<Option<f64>>| {
        let cells = table
            .get(code)
            .unwrap_or_else(|| panic!("no line for {code}: {text}"));
        let printed = &cells[cells.len() - COLUMNS.len()..];
        for (i, (((kpi, e), got), want)) in COLUMNS.iter().zip(printed).zip(want).enumerate() {
            let got = cell(got);
            let ok = match (got, want) {
                (None, None) => true,
                // Counts print whole; rates as percentages with one decimal.
                (Some(g), Some(w)) => match e {
                    Expected::Count(_) => g == w,
                    Expected::Rate(_) => (g - w).abs() <= 0.0005 + 1e-9,
                },
                _ => false,
            };
            assert!(ok, "{code} {kpi}: printed {got:?}, truth {want:?}\n{text}");
            compared += 1;
            nonzero += usize::from(want.is_some_and(|w| w != 0.0));
            nonzero_columns[i] |= want.is_some_and(|w| w != 0.0);
        }
    };
    for (code, d) in districts {
        let week = d["weeks"].get(WEEK).unwrap_or(&empty);
        all_weeks.push(week);
        check(code, truth_of(&[week]));
    }
    check("110000", truth_of(&all_weeks));
    assert_eq!(compared, (districts.len() + 1) * COLUMNS.len());
    assert!(
        nonzero >= 2 * districts.len(),
        "only {nonzero} non-zero values: the comparison says little\n{text}"
    );
    // At this seed and size the week has hotline requests, both rates, age-friendly households
    // and childcare places (no elevator is completed).
    assert!(
        nonzero_columns.iter().filter(|c| **c).count() >= 5,
        "columns with a non-zero value: {nonzero_columns:?}\n{text}"
    );

    // The endpoints it printed answer.
    let http_port: u16 = lines
        .iter()
        .find_map(|l| {
            l.split("http://127.0.0.1:")
                .nth(1)?
                .strip_suffix("/health")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no /health line: {text}"));
    let health = request(http_port, "GET", "/health", None, &[]).expect("/health answers");
    assert_eq!(health.status, 200, "{}", health.text());
    let kpi = request(
        http_port,
        "GET",
        &format!("/kpis/K23?district=110108&from={FROM}&to={TO}&grain=week"),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(kpi.status, 200, "{}", kpi.text());
    // The week's leader summary, with the KPI service's figures.
    let report = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("report")?
                .split_whitespace()
                .next()
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| panic!("no report line: {text}"));
    let html =
        std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    assert!(html.contains("完整社区建设周报") && html.contains("<svg class=\"bars\""));
    let json: Value =
        serde_json::from_slice(&std::fs::read(report.with_extension("json")).expect("report JSON"))
            .unwrap();
    let city = request(
        http_port,
        "GET",
        &format!("/kpis/K23?district=110000&from={FROM}&to={TO}&grain=week"),
        None,
        &[],
    )
    .unwrap();
    let city: Value = serde_json::from_slice(&city.body).unwrap();
    let k23 = json["city"]["headline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kpi"] == "K23")
        .unwrap();
    assert_eq!(
        k23["value"].as_f64(),
        city[0]["value"].as_f64(),
        "the report's requests"
    );
    let pg_port: u16 = lines
        .iter()
        .find_map(|l| {
            l.split(" port=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no psql line: {text}"));
    std::net::TcpStream::connect(("127.0.0.1", pg_port)).expect("the PostgreSQL port accepts");

    // Ctrl-C: a clean exit.
    let stopped = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the demo ignored Ctrl-C for 60 s: {}", log());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit after Ctrl-C: {status}\n{}", log());
    eprintln!(
        "demo: table after {ready_secs:.1} s, stopped {:.1} s after Ctrl-C",
        stopped.elapsed().as_secs_f64()
    );
}
