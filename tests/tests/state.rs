//! The state service (`lake-maintain state`): killed with `kill -9` at random moments while
//! events of the three streams land in many commits and a compaction rewrites them, it ends
//! with every state table (`hotline_ticket_state`, `hotline_ticket_reopens`, `facility_state`,
//! `renovation_project_state`) equal to its reference definition over the events (asked of
//! kpi-query, which reads the events at the version each state applied); every KPI answered
//! from the kept state equals the answer from the reference definitions (a second kpi-query
//! over the same events without state tables); with the follower state one step behind its
//! leader, both are read at one source version; `--rebuild` gives the same state and deletes
//! the files its own steps replaced.
//! The definitions suite (`definitions.rs`) checks the kept state against hand-written values
//! on DataFusion and DuckDB, folding at random points of each fixture.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use civicpulse_tests::process::{ServiceProcess, binary, run_with_deadline, wait_for};
use civicpulse_tests::query::KpiQuery;
use civicpulse_tests::{TEST_HASH_KEY, heavy, workspace_root};

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn lake_maintain(lake: &Path, args: &[&str]) -> String {
    lake_maintain_with(lake, args, &[])
}

fn lake_maintain_with(lake: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(binary("lake-maintain"));
    cmd.arg("--lake")
        .arg(lake)
        .args(args)
        .envs(env.iter().copied());
    let run = run_with_deadline(cmd, Duration::from_secs(600));
    assert!(run.ok, "lake-maintain {args:?} failed: {}", run.stderr);
    run.stdout
}

/// The state tables and their reference definitions.
const STATE_TABLES: [&str; 4] = [
    "hotline_ticket_state",
    "hotline_ticket_reopens",
    "facility_state",
    "renovation_project_state",
];

/// Rows of the kept state tables and of their reference definitions that the other side lacks.
fn state_differences(query: &KpiQuery) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for table in STATE_TABLES {
        let text = std::fs::read_to_string(workspace_root().join(format!("sql/state/{table}.sql")))
            .expect("reference SQL");
        let reference = text.trim().trim_end_matches(';');
        // One side at a time: both in one statement pass kpi-query's limit of 64 tables.
        rows.extend(query.rows(&format!(
            "SELECT '{table}: kept only' AS side, * FROM (SELECT * FROM {table} \
             EXCEPT SELECT * FROM ({reference}\n) r) a"
        )));
        rows.extend(query.rows(&format!(
            "SELECT '{table}: reference only' AS side, * FROM (SELECT * FROM ({reference}\n) r \
             EXCEPT SELECT * FROM {table}) b"
        )));
    }
    rows
}

fn count(query: &KpiQuery, sql: &str) -> i64 {
    query.rows(sql)[0]["n"].as_i64().expect("a count")
}

#[test]
fn killed_at_random_moments_the_state_ends_equal_to_its_definition() {
    let _heavy = heavy();
    let work = tempfile::tempdir().expect("work directory");
    let sim = work.path().join("sim");
    let lake = work.path().join("lake");
    let logs = work.path().join("logs");
    let mut citysim = Command::new(binary("citysim"));
    citysim
        .args([
            "--city",
            "beijing",
            "--districts",
            "110108",
            "--from",
            "2024-03-04",
            "--to",
            "2024-03-24",
            "--scale",
            "0.02",
            "--seed",
            "21",
            "--quiet",
            "--out",
        ])
        .arg(&sim);
    let run = run_with_deadline(citysim, Duration::from_secs(120));
    assert!(run.ok, "citysim failed: {}", run.stderr);
    let streams = [
        "hotline.tickets.jsonl",
        "facility.changes.jsonl",
        "renovation.progress.jsonl",
    ];
    let lines: Vec<Vec<String>> = streams
        .iter()
        .map(|file| {
            std::fs::read_to_string(sim.join(file))
                .expect("events")
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert!(
        lines[0].len() > 2_000 && lines[1].len() > 100 && lines[2].len() > 20,
        "too few events: {:?}",
        lines.iter().map(Vec::len).collect::<Vec<_>>()
    );

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Lcg(seed);
    let chunks = 24;
    let state_args = [
        "--lake",
        lake.to_str().expect("UTF-8"),
        "state",
        "--interval-ms",
        "50",
        "--max-rows",
        "400",
    ];
    let env = [("CIVICPULSE_TELEMETRY__LOG_LEVEL", "info")];
    // The events land in a thread, commit after commit, while the keeper is killed: each
    // instance once it has applied a step (so it is at work, not starting), at a random moment
    // within the next 1.5 s.
    let landing = {
        let (lake, root, streams) = (lake.clone(), work.path().to_owned(), streams);
        let mut pace = Lcg(seed ^ 0x5eed);
        std::thread::spawn(move || {
            for i in 0..chunks {
                std::thread::sleep(Duration::from_millis(pace.below(1_000)));
                let dir = root.join(format!("chunk-{i}"));
                std::fs::create_dir_all(&dir).expect("chunk directory");
                let mut cmd = Command::new(binary("civicpulse"));
                cmd.args(["land", "--lake"])
                    .arg(&lake)
                    .env("CIVICPULSE_HASH_KEY", TEST_HASH_KEY);
                for (file, events) in streams.iter().zip(&lines) {
                    let per_chunk = events.len().div_ceil(chunks);
                    let chunk = events.chunks(per_chunk).nth(i).unwrap_or_default();
                    if !chunk.is_empty() {
                        std::fs::write(dir.join(file), chunk.join("\n") + "\n")
                            .expect("chunk file");
                        cmd.arg(dir.join(file));
                    }
                }
                let run = run_with_deadline(cmd, Duration::from_secs(120));
                assert!(run.ok, "civicpulse land failed: {}", run.stderr);
                if i == chunks / 2 {
                    // Compaction rewrites the landed rows into new files: not applied twice.
                    lake_maintain(&lake, &["--once"]);
                }
            }
        })
    };
    let mut kills = 0;
    let mut applies = 0;
    // Killed during the landing, and a few times more while it catches up on the last commits.
    while !landing.is_finished() || kills < 12 {
        let mut keeper =
            ServiceProcess::start_without_http("lake-maintain", &state_args, &env, &logs);
        let working = wait_for(Duration::from_secs(60), || {
            keeper.log().contains("state applied").then_some(())
        });
        if working.is_some() {
            std::thread::sleep(Duration::from_millis(rng.below(1_500)));
        }
        keeper.kill9();
        kills += 1;
        applies += keeper.log().matches("state applied").count();
    }
    landing.join().expect("landing thread");
    assert!(kills >= 10, "only {kills} kills");
    assert!(
        applies > kills,
        "{applies} steps applied by {kills} killed instances"
    );
    let out = lake_maintain(&lake, &["state", "--once"]);
    println!("{kills} kills after {applies} steps; {out}");

    let query = KpiQuery::start(&lake, &[], &logs);
    let tickets = count(
        &query,
        "SELECT COUNT(DISTINCT ticket_id) AS n FROM hotline_tickets",
    );
    let state_rows = count(&query, "SELECT COUNT(*) AS n FROM hotline_ticket_state");
    assert_eq!(state_rows, tickets, "one state row per ticket");
    let differences = state_differences(&query);
    assert!(
        differences.is_empty(),
        "kept state differs from its definition after {kills} kills (seed {seed}): {:?}",
        &differences[..differences.len().min(5)]
    );

    // Every KPI from the kept state equals the answer from the reference definitions: a second
    // kpi-query over the same events, without state tables.
    let bare = work.path().join("bare");
    std::fs::create_dir_all(&bare).expect("bare lake");
    for table in ["hotline_tickets", "facility_changes", "renovation_progress"] {
        copy_dir(&lake.join(table), &bare.join(table));
    }
    let reference = KpiQuery::start(&bare, &[], &logs);
    for n in 1..=35 {
        let kpi = format!("K{n:02}");
        let path = format!("/kpis/{kpi}?from=2024-03-01&to=2024-03-31&grain=week");
        let kept = query.get(&path);
        let recomputed = reference.get(&path);
        assert_eq!(kept.status, 200, "{kpi}: {}", kept.text());
        assert_eq!(recomputed.status, 200, "{kpi}: {}", recomputed.text());
        assert_eq!(
            kept.json(),
            recomputed.json(),
            "{kpi} from the kept state differs from the reference definitions"
        );
    }

    // A follower state table one step behind its leader (the keeper killed between the
    // leader's and the follower's commit of a step): kpi-query reads both at the follower's
    // source version, the leader at its older version that applied it (not by its
    // reference), and each equals its definition over the events of that version.
    let version_in = |query: &KpiQuery, table: &str| {
        query.get("/tables").json()["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["table"] == table)
            .map(|t| t["version"].as_i64())
            .expect("the table is listed")
    };
    let cut = version_in(&query, "hotline_tickets").expect("events read at the state's version");
    let skewed = work.path().join("follower-behind");
    copy_dir(&lake, &skewed);
    drop_newest_commit(&skewed.join("hotline_ticket_reopens"));
    let skewed_query = KpiQuery::start(&skewed, &[], &logs);
    let skewed_cut = version_in(&skewed_query, "hotline_tickets").expect("a cut");
    assert!(
        skewed_cut < cut,
        "the events are read at {skewed_cut}, not below {cut}"
    );
    let leader_latest = version_in(&query, "hotline_ticket_state").expect("kept");
    let leader_read = version_in(&skewed_query, "hotline_ticket_state");
    assert!(
        leader_read.is_some_and(|v| v < leader_latest),
        "hotline_ticket_state is read at {leader_read:?}, not at a version before {leader_latest}"
    );
    let differences = state_differences(&skewed_query);
    assert!(
        differences.is_empty(),
        "the follower one step behind: {:?}",
        &differences[..differences.len().min(5)]
    );
    drop(skewed_query);

    // A resend that takes an event from another facility (a lower Kafka position) recomputes
    // both facilities' histories.
    let takeover = work.path().join("takeover");
    let maintainer = binary("lake-maintain");
    civicpulse_tests::python::run_script(
        "state_takeover.py",
        &[
            lake.to_str().expect("UTF-8"),
            takeover.to_str().expect("UTF-8"),
            maintainer.to_str().expect("UTF-8"),
        ],
    );

    // A rebuild (one command) gives the same state, in steps it prints; with no grace, each
    // step deletes the files of the rebuild that it replaced: only the state's files and
    // those of the state before the rebuild (left to vacuum) remain.
    let ticket_state = lake.join("hotline_ticket_state");
    let before = parquet_files(&ticket_state);
    let out = lake_maintain_with(
        &lake,
        &["state", "--rebuild", "--once", "--max-rows", "2000"],
        &[("CIVICPULSE_MAINTAIN__STATE_REPLACED_GRACE_SECS", "0")],
    );
    let steps = out
        .lines()
        .filter(|l| l.starts_with("hotline_ticket_state: applied hotline_tickets versions "))
        .count();
    assert!(steps > 3, "the rebuild took {steps} steps:\n{out}");
    let live: HashSet<PathBuf> = civicpulse_tests::python::active_files(&ticket_state)
        .into_iter()
        .collect();
    let left: Vec<PathBuf> = parquet_files(&ticket_state)
        .into_iter()
        .filter(|f| !before.contains(f) && !live.contains(f))
        .collect();
    assert!(
        left.is_empty(),
        "{} files the rebuild replaced are still there, e.g. {:?}",
        left.len(),
        left.first()
    );
    let differences = state_differences(&query);
    assert!(
        differences.is_empty(),
        "rebuilt state differs: {:?}",
        &differences[..differences.len().min(5)]
    );
    assert_eq!(
        count(&query, "SELECT COUNT(*) AS n FROM hotline_ticket_state"),
        tickets
    );
}

/// Removes the newest commit of the Delta table at `table` (and the checkpoint hint), as if
/// its writer had died before it.
fn drop_newest_commit(table: &Path) {
    let log = table.join("_delta_log");
    let newest = std::fs::read_dir(&log)
        .expect("log")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().ok()?;
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
        .expect("a commit");
    std::fs::remove_file(log.join(format!("{newest:020}.json"))).expect("remove commit");
    let _ = std::fs::remove_file(log.join(format!("{newest:020}.checkpoint.parquet")));
    let _ = std::fs::remove_file(log.join("_last_checkpoint"));
}

/// The Parquet files under `dir`, at any depth.
fn parquet_files(dir: &Path) -> HashSet<PathBuf> {
    let mut files = HashSet::new();
    for entry in std::fs::read_dir(dir).expect("read directory") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            files.extend(parquet_files(&entry.path()));
        } else if entry.path().extension().is_some_and(|e| e == "parquet") {
            files.insert(entry.path());
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
