//! The analysts' path (issue 7): the README's analysts' snippets and its curl/psql examples run
//! as written against a citysim lake, the district-week notebook runs and matches citysim's
//! ground truth, and pandas, pyarrow, polars and DuckDB all see UTC timestamps, decimals and a
//! text `district` partition column.
//!
//! One lake per test binary, the one the README tells analysts to make: the first half of June
//! 2024 in Haidian and Dongcheng, the hotline at scale 0.05 and facilities and renovation at
//! 0.5, landed straight into `<CARGO_TARGET_TMPDIR>/analysts/<pid>/lake` by `citysim --lake`
//! (about 10 s in a debug build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use civicpulse_tests::query::{KpiQuery, PG_PASSWORD, TOKEN};
use civicpulse_tests::{TEST_HASH_KEY, process, python, scenario, workspace_root};
use serde_json::Value;

/// Haidian, the district of the README's snippets and of the notebook.
const HAIDIAN: &str = "110108";
/// The notebook's week: 2024-06-10 to 2024-06-16, the lake's last week.
const WEEK: &str = "2024-W24";
/// citysim flags shared by both runs (the README's demo lake; `--to` is the Sunday of [`WEEK`],
/// so the truth's period-end stocks are the notebook's week-end stocks).
const CITY: &[&str] = &[
    "--city",
    "beijing",
    "--from",
    "2024-06-01",
    "--to",
    "2024-06-16",
    "--districts",
    "110108,110101",
    "--seed",
    "7",
];

/// The lake every test reads, made once.
struct DemoLake {
    /// `<CARGO_TARGET_TMPDIR>/analysts/<pid>`; the lake is its `lake/`, as `./lake` is the
    /// README's.
    dir: PathBuf,
    /// Truth of the hotline run, and its path.
    hotline: (Value, PathBuf),
    /// Truth of the facility/renovation run, and its path.
    programme: (Value, PathBuf),
}

impl DemoLake {
    fn root(&self) -> PathBuf {
        self.dir.join("lake")
    }

    /// Haidian's truth of the hotline run (`period` or `weeks`).
    fn hotline(&self) -> &Value {
        &self.hotline.0["districts"][HAIDIAN]
    }

    /// Haidian's truth of the facility/renovation run.
    fn programme(&self) -> &Value {
        &self.programme.0["districts"][HAIDIAN]
    }
}

fn demo_lake() -> &'static DemoLake {
    static CELL: OnceLock<Result<DemoLake, String>> = OnceLock::new();
    scenario::shared(&CELL, make_lake)
}

fn make_lake() -> DemoLake {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analysts");
    let dir = scenario::run_dir(&base);
    let land = |scale: &str, streams: &str, truth: &str| {
        let path = dir.join(truth);
        let out = Command::new(process::binary("citysim"))
            .args(CITY)
            .args(["--scale", scale, "--streams", streams, "--lake", "lake"])
            .args(["--quiet", "--truth", path.to_str().expect("UTF-8")])
            .env("CIVICPULSE_HASH_KEY", TEST_HASH_KEY)
            .current_dir(&dir)
            .output()
            .expect("citysim runs");
        assert!(
            out.status.success(),
            "citysim --lake: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let truth: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("truth file")).expect("JSON");
        (truth, path)
    };
    let hotline = land("0.05", "hotline", "hotline.json");
    let programme = land("0.5", "facility,renovation", "programme.json");
    DemoLake {
        dir,
        hotline,
        programme,
    }
}

/// Runs `tests/python/<script>` in `cwd` with `env`; panics with its output unless it succeeds.
fn run_python(script: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> String {
    let out = Command::new(python::python())
        .arg(workspace_root().join("tests/python").join(script))
        .args(args)
        .envs(env.iter().copied())
        .env("PYTHONFAULTHANDLER", "1")
        .current_dir(cwd)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// A README section: from its `## ` heading to the next.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[test]
fn readme_python_snippets_run_on_a_citysim_lake() {
    let _heavy = civicpulse_tests::heavy();
    let lake = demo_lake();
    let readme = workspace_root().join("README.md");
    // The snippets read `./lake`: they run in the directory holding it.
    let out = run_python(
        "readme_snippets.py",
        &[
            readme.to_str().unwrap(),
            lake.hotline.1.to_str().unwrap(),
            lake.programme.1.to_str().unwrap(),
        ],
        &lake.dir,
        &[],
    );
    let report: Value = serde_json::from_str(&out).expect("readme_snippets.py JSON");
    // pandas, pyarrow, polars, DuckDB; each shows the output it prints.
    assert_eq!(report["python_blocks"], 4, "{report}");
    assert_eq!(report["outputs_checked"], 4, "{report}");
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    assert_eq!(
        int(&report["requests"]),
        int(&lake.hotline()["period"]["hotline_tickets_received"])
    );
    assert!(
        int(&report["elevators"]) > 0 && int(&report["openings"]) > 0,
        "{report}"
    );
}

/// The curl and psql commands of a README section, continuation lines joined.
fn commands(section: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut current = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_shell = !in_shell && line.trim() == "```sh";
            continue;
        }
        if !in_shell {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                let command = std::mem::take(&mut current);
                if command.starts_with("curl ") || command.starts_with("psql ") {
                    commands.push(command);
                }
            }
        }
    }
    commands
}

fn run_shell(command: &str, env: &[(&str, &str)]) -> Output {
    // Not-2xx answers fail the command, as they would fail a user's eye.
    let script = format!("curl() {{ command curl --fail-with-body \"$@\"; }}\n{command}");
    Command::new("bash")
        .args(["-c", &script])
        .envs(env.iter().copied())
        .output()
        .expect("bash runs")
}

#[test]
fn readme_curl_and_psql_examples_answer_from_kpi_query() {
    let _heavy = civicpulse_tests::heavy();
    let lake = demo_lake();
    let logs = lake.dir.join("logs");
    let query = KpiQuery::start(&lake.root(), &[], &logs);
    let listed = commands(&readme_section(
        "## kpi-query: KPIs and SQL for statistics bureaus",
    ));
    // What each example is, in README order, and what its answer must hold.
    let expected = [
        "localhost:8080/kpis ",
        "/kpis/K13?district=110108",
        "/sql?format=csv",
        "/sql?as_of=",
        "psql ",
    ];
    assert_eq!(listed.len(), expected.len(), "README examples: {listed:#?}");
    // The only substitutions: this kpi-query's ports, and an `as_of` after the lake was made
    // (the README's 2024 instant predates this lake, which answers it with empty tables).
    let as_of = civicpulse_tests::clock_now(8);
    let psqlrc = lake.dir.join("psqlrc");
    std::fs::write(&psqlrc, "\\set ON_ERROR_STOP on\n").unwrap();
    let env = [
        ("CIVICPULSE_QUERY_TOKEN", TOKEN),
        // What a user types at psql's password prompt.
        ("PGPASSWORD", PG_PASSWORD),
        ("PSQLRC", psqlrc.to_str().unwrap()),
    ];
    let mut answers = Vec::new();
    for (command, key) in listed.iter().zip(expected) {
        assert!(command.contains(key), "expected {key:?} in {command}");
        let run = command
            .replace("localhost:8080", &format!("localhost:{}", query.http_port))
            .replace("port=5433", &format!("port={}", query.pg_port))
            .replace("2024-06-10T08:00:00", &as_of);
        let out = run_shell(&run, &env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{run}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        answers.push(stdout);
    }
    let json = |i: usize| -> Vec<Value> {
        serde_json::from_str::<Value>(&answers[i])
            .unwrap_or_else(|e| panic!("{}: {e}: {}", listed[i], answers[i]))
            .as_array()
            .expect("rows")
            .clone()
    };

    assert!(json(0).len() >= 25, "the catalogue: {}", answers[0]);

    // K13 per week over 2024 = the truth's weekly elevators (history before June included).
    let k13 = json(1);
    assert!(!k13.is_empty());
    assert!(k13.iter().all(|r| r["district"] == HAIDIAN));
    let got: f64 = k13.iter().map(|r| r["value"].as_f64().unwrap()).sum();
    let want: i64 = lake.programme()["weeks"]
        .as_object()
        .unwrap()
        .values()
        .map(|w| int(&w["elevators_completed"]))
        .sum();
    assert!(want > 0);
    assert_eq!(got, want as f64, "K13: {}", answers[1]);

    // Tickets per district as CSV = the tickets citysim received.
    let mut lines = answers[2].lines();
    assert_eq!(lines.next(), Some("district,tickets"), "{}", answers[2]);
    let csv: BTreeMap<String, i64> = lines
        .map(|l| {
            let (d, n) = l.split_once(',').expect("two columns");
            (d.to_owned(), n.parse().expect("a count"))
        })
        .collect();
    let truth: BTreeMap<String, i64> = lake.hotline.0["districts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(d, t)| (d.clone(), int(&t["period"]["hotline_tickets_received"])))
        .collect();
    assert_eq!(csv, truth);

    // as_of now = the current facilities.
    let now = query.rows("SELECT count(*) AS n FROM facility_current");
    let then = json(3);
    assert!(int(&now[0]["n"]) > 0);
    assert_eq!(then[0]["count(*)"], now[0]["n"], "{}", answers[3]);

    // psql: Haidian's current facilities by type, one line each.
    let stock = &lake.programme()["period"]["facility_stock_end"];
    let rows: BTreeMap<String, i64> = answers[4]
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter_map(|(t, n)| Some((t.trim().to_owned(), n.trim().parse().ok()?)))
        .collect();
    let want: BTreeMap<String, i64> = stock
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, n)| (t.clone(), int(n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(rows, want, "psql printed:\n{}", answers[4]);
}

#[test]
fn district_week_notebook_runs_and_matches_the_truth() {
    let _heavy = civicpulse_tests::heavy();
    let lake = demo_lake();
    let notebook = workspace_root().join("docs/notebooks/district_week.ipynb");
    let executed = lake.dir.join("district_week.executed.ipynb");
    let root = lake.root();
    let out = run_python(
        "run_notebook.py",
        &[notebook.to_str().unwrap(), executed.to_str().unwrap()],
        &lake.dir,
        &[
            ("CIVICPULSE_LAKE", root.to_str().unwrap()),
            ("CIVICPULSE_DISTRICT", HAIDIAN),
            ("CIVICPULSE_WEEK", WEEK),
        ],
    );
    let report: Value = serde_json::from_str(&out).expect("run_notebook.py JSON");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    assert_eq!(report["executed"], report["cells"], "{report}");
    assert!(int(&report["images"]) >= 2, "charts: {report}");
    let s = &report["summary"];
    assert_eq!(s["district"], HAIDIAN);
    assert_eq!(s["week"], WEEK);

    // The week's flows against the truth's week (a field the truth leaves out is 0).
    let hotline = &lake.hotline()["weeks"][WEEK];
    let programme = &lake.programme()["weeks"][WEEK];
    for (field, truth) in [
        ("hotline_tickets_received", hotline),
        ("hotline_valid_visits", hotline),
        ("facilities_created", programme),
        ("facilities_closed", programme),
        ("elderly_service_centres_opened", programme),
        ("elevators_completed", programme),
        ("renovation_projects_declared", programme),
        ("renovation_projects_completed", programme),
    ] {
        assert_eq!(int(&s[field]), int(&truth[field]), "{field} in {WEEK}");
    }
    for field in [
        "hotline_tickets_received",
        "facilities_created",
        "elevators_completed",
    ] {
        assert!(
            int(&s[field]) > 0,
            "{field} is 0: the check would be vacuous"
        );
    }
    let valid = int(&hotline["hotline_valid_visits"]) as f64;
    let satisfied = int(&hotline["hotline_satisfied"]) as f64
        + 0.9 * int(&hotline["hotline_basic_satisfied"]) as f64;
    for (rate, want) in [
        (
            "response_rate",
            int(&hotline["hotline_contacted"]) as f64 / valid,
        ),
        (
            "resolution_rate",
            int(&hotline["hotline_resolved"]) as f64 / valid,
        ),
        ("satisfaction_rate", satisfied / valid),
    ] {
        let got = s[rate].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{rate}: notebook {got}, truth {want}"
        );
    }

    // The week-end stocks: the lake ends on the week's Sunday, so they are the period's.
    let period = &lake.programme()["period"];
    let by_status: BTreeMap<String, i64> = period["projects_by_status_end"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), int(v)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let got: BTreeMap<String, i64> = s["projects_by_status_end"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), int(v)))
        .collect();
    assert_eq!(got, by_status, "projects by status at {WEEK}'s end");
    let stock: BTreeMap<String, i64> = period["facility_stock_end"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), int(v)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let got: BTreeMap<String, i64> = s["facility_stock_end"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), int(v)))
        .collect();
    assert_eq!(got, stock, "facilities open at {WEEK}'s end");
    let yuan: f64 = s["investment_completed_end_yuan"]
        .as_str()
        .expect("a decimal string")
        .parse()
        .unwrap();
    let want = period["investment_completed_end_yuan"].as_f64().unwrap();
    assert!(want > 0.0);
    assert!(
        (yuan - want).abs() < 0.005,
        "investment: notebook {yuan}, truth {want}"
    );
}

#[test]
fn lake_types_are_utc_timestamps_decimals_and_a_text_district_in_every_tool() {
    let _heavy = civicpulse_tests::heavy();
    let lake = demo_lake();
    let out = run_python(
        "lake_types.py",
        &[lake.root().to_str().unwrap()],
        &lake.dir,
        &[],
    );
    let types: Value = serde_json::from_str(&out).expect("lake_types.py JSON");
    let tools = ["pyarrow", "pandas", "polars", "duckdb"];
    for (table, must_have) in [
        ("hotline_tickets", &["event_time", "received_time"][..]),
        ("facility_changes", &["event_time", "floor_area_m2"][..]),
        (
            "renovation_progress",
            &["event_time", "investment_completed_cum_yuan"][..],
        ),
    ] {
        let t = &types[table];
        assert_eq!(
            t["partition_columns"],
            serde_json::json!(["district", "month"])
        );
        let columns = t["columns"].as_object().expect("columns");
        for column in must_have.iter().chain(&["district", "event_date"]) {
            assert!(columns.contains_key(*column), "{table} lacks {column}");
        }
        for (column, kind) in columns {
            let kind = kind.as_str().unwrap_or("unknown");
            let money = column.ends_with("_yuan");
            for tool in tools {
                let got = t[tool][column].as_str().unwrap_or("missing");
                let ok = match (kind, tool) {
                    ("timestamp", "pyarrow") => got == "timestamp[us, tz=UTC]",
                    ("timestamp", "pandas") => got == "datetime64[us, UTC]",
                    ("timestamp", "polars") => got == "Datetime(time_unit='us', time_zone='UTC')",
                    ("timestamp", "duckdb") => got == "TIMESTAMP WITH TIME ZONE",
                    ("date", "pyarrow") => got == "date32[day]",
                    ("date", "pandas") => got == "object/date" || got == "object/empty",
                    ("date", "polars") => got == "Date",
                    ("date", "duckdb") => got == "DATE",
                    ("decimal", "pyarrow") if money => got == "decimal128(18, 2)",
                    ("decimal", "pyarrow") => got.starts_with("decimal128("),
                    // A column with no value at all cannot show its type in pandas.
                    ("decimal", "pandas") => got == "object/Decimal" || got == "object/empty",
                    ("decimal", "polars") if money => got == "Decimal(precision=18, scale=2)",
                    ("decimal", "polars") => got.starts_with("Decimal("),
                    ("decimal", "duckdb") if money => got == "DECIMAL(18,2)",
                    ("decimal", "duckdb") => got.starts_with("DECIMAL("),
                    ("string", "pyarrow") => got == "string",
                    ("string", "pandas") => got == "str",
                    ("string", "polars") => got == "String",
                    ("string", "duckdb") => got == "VARCHAR",
                    _ => false,
                };
                assert!(ok, "{table}.{column} ({kind}) is {got} in {tool}");
            }
        }
    }
    // The money column analysts sum has values, so pandas shows them as Decimal.
    assert_eq!(
        types["renovation_progress"]["pandas"]["investment_completed_cum_yuan"],
        "object/Decimal"
    );
}
