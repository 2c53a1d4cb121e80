//! kpi-query's PostgreSQL port end to end, against the real binary: no statement smuggled
//! through a `SET`, `SHOW` or transaction command runs (the files it would write never
//! appear); the extended protocol (psycopg's Parse/Bind/Execute) keeps the time limit and the
//! concurrency slot; SCRAM-SHA-256 over TLS with a certificate made here, plaintext refused;
//! a query that fails after its first rows ends in an error on psql, psycopg and HTTP.
//!
//! One kpi-query (TLS, a password, a 3 s time limit, one slot, 10,000 rows) on an empty lake
//! serves every case of the first test; no broker is needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use civicpulse_tests::process::{CommandRun as Run, binary, run_with_deadline};
use civicpulse_tests::python;
use civicpulse_tests::query::{self, KpiQuery, PG_PASSWORD, PG_USER, TOKEN};

/// Runs far past the time limit: 10^16 rows of a cross join.
const SLOW_SQL: &str =
    "SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b";
/// Rows past `query.max_rows` (10,000), in batches of 8,192: the cap is hit after a batch
/// was sent.
const ROWS_SQL: &str = "SELECT v FROM generate_series(1, 20000) AS t(v)";
/// Fails after its first row: the one-row branch answers at once, the other divides by zero
/// after counting 5 million rows.
const LATE_ERROR_SQL: &str = "SELECT 1 AS x UNION ALL \
     SELECT 1 / (count(*) - count(*)) AS x FROM generate_series(1, 5000000)";
/// Any answer comes well within this.
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `cmd`, killed after [`DEADLINE`].
fn run(cmd: Command) -> Run {
    run_with_deadline(cmd, DEADLINE)
}

/// `psql` with each of `commands` as a `-c` on one connection (unaligned, tuples only).
fn psql(dsn: &str, commands: &[&str]) -> Run {
    let mut cmd = Command::new(std::env::var("CIVICPULSE_PSQL").unwrap_or_else(|_| "psql".into()));
    cmd.arg(dsn)
        .args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD");
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    run(cmd)
}

/// One result of `tests/python/pg_run.py`.
#[derive(Debug, serde::Deserialize)]
struct PgResult {
    ok: bool,
    error: Option<String>,
    sqlstate: Option<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// psycopg 3 running a JSON list of statements on one connection and printing one result per
/// statement. `extended` sends each with `prepare=True` (Parse, then Bind/Execute of the named
/// statement): without parameters psycopg would otherwise use the simple protocol. `simple`
/// uses a `ClientCursor` (one Query message, as psql).
const PSYCOPG_RUN: &str = r#"
import json, os, sys
import psycopg
dsn, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
out, conn = [], None
for sql in json.load(open(path, encoding="utf-8")):
    r = {"ok": False, "error": None, "sqlstate": None, "rows": []}
    try:
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        if mode == "simple":
            cur = psycopg.ClientCursor(conn)
            cur.execute(sql)
        else:
            cur = conn.cursor()
            cur.execute(sql, prepare=True)
        if cur.description is not None:
            r["rows"] = [[None if v is None else str(v) for v in row] for row in cur.fetchmany(20)]
        r["ok"] = True
    except psycopg.Error as e:
        r["error"] = str(e).strip() or type(e).__name__
        r["sqlstate"] = getattr(e, "sqlstate", None)
    out.append(r)
json.dump(out, sys.stdout, ensure_ascii=False)
sys.stdout.flush()
os._exit(0)
"#;

/// `statements` through psycopg on one connection: the extended protocol unless `simple`.
fn psycopg(dsn: &str, statements: &[String], simple: bool) -> Vec<PgResult> {
    let dir = tempfile::tempdir().expect("statements directory");
    let path = dir.path().join("statements.json");
    std::fs::write(&path, serde_json::to_vec(statements).expect("JSON")).expect("write");
    let mut cmd = Command::new(python::python());
    cmd.args(["-c", PSYCOPG_RUN, dsn])
        .arg(if simple { "simple" } else { "extended" })
        .arg(&path);
    let r = run(cmd);
    assert!(r.ok, "psycopg: {r:?}");
    let results: Vec<PgResult> = serde_json::from_str(&r.stdout).expect("psycopg output");
    assert_eq!(results.len(), statements.len());
    results
}

/// Collects independent failures and reports them together.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

/// A self-signed certificate for 127.0.0.1 (ECDSA P-256) and its key, made with openssl.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// libpq connection strings: TLS required (certificate not checked), and with `extra`.
fn dsn(kq: &KpiQuery, extra: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={PG_USER} password={PG_PASSWORD} dbname=civicpulse {extra}",
        kq.pg_port
    )
}

fn alive(kq: &mut KpiQuery) -> bool {
    kq.process.exited().is_none()
        && query::request_with_timeout(
            kq.http_port,
            "GET",
            "/health",
            None,
            &[],
            Duration::from_secs(5),
        )
        .is_ok_and(|r| r.status == 200)
}

/// Statements that try to smuggle `COPY … TO '<target>'` through every setting, `SHOW` and
/// transaction form; `{}` stands for the target file. With `true`, the text must be refused;
/// with `false`, it is one well-formed `SET` whose literal holds the `COPY`: it is stored as
/// the setting's value, and runs nothing.
fn smuggling_forms() -> Vec<(&'static str, bool)> {
    vec![
        // The exploit: sqlparser printed the COLLATE literal unescaped.
        (
            "SET NAMES utf8 COLLATE '''x''; COPY (SELECT 1 AS a) TO ''{}'''",
            true,
        ),
        ("SET NAMES 'x''; COPY (SELECT 1 AS a) TO ''{}'''", true),
        (
            "SET TIME ZONE '''x''; COPY (SELECT 1 AS a) TO ''{}'''",
            false,
        ),
        ("SET TIME ZONE LOCAL; COPY (SELECT 1 AS a) TO '{}'", true),
        (
            "SET application_name TO '''x''; COPY (SELECT 1 AS a) TO ''{}'''",
            false,
        ),
        (
            "SET SESSION application_name = N'x''; COPY (SELECT 1 AS a) TO ''{}'''",
            false,
        ),
        (
            "SET LOCAL search_path = E'x\\'; COPY (SELECT 1 AS a) TO \\'{}\\''",
            false,
        ),
        (
            "SET application_name = $$x'; COPY (SELECT 1 AS a) TO '{}$$",
            false,
        ),
        (
            "SET datestyle = $q$ISO'; COPY (SELECT 1 AS a) TO '{}'; --$q$",
            false,
        ),
        (
            "SET statement_timeout TO '1'; COPY (SELECT 1 AS a) TO '{}'",
            true,
        ),
        (
            "SET extra_float_digits = (SELECT 3); COPY (SELECT 1 AS a) TO '{}'",
            true,
        ),
        (
            "SET client_encoding = '''UTF8''; COPY (SELECT 1 AS a) TO ''{}'''",
            true,
        ),
        (
            "SET civicpulse.as_of = '''x''; COPY (SELECT 1 AS a) TO ''{}'''",
            true,
        ),
        ("SET \"x'; COPY (SELECT 1 AS a) TO '{}'; --\" = 1", true),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; COPY (SELECT 1 AS a) TO '{}'",
            true,
        ),
        ("SHOW \"x'; COPY (SELECT 1 AS a) TO '{}'; --\"", true),
        ("SHOW application_name; COPY (SELECT 1 AS a) TO '{}'", true),
        (
            "BEGIN ISOLATION LEVEL SERIALIZABLE; COPY (SELECT 1 AS a) TO '{}'; COMMIT",
            true,
        ),
        (
            "START TRANSACTION READ WRITE; COPY (SELECT 1 AS a) TO '{}'",
            true,
        ),
        ("COMMIT; COPY (SELECT 1 AS a) TO '{}'", true),
        ("ROLLBACK; COPY (SELECT 1 AS a) TO '{}'", true),
    ]
}

/// (1, 2, 4, 5) One kpi-query with TLS and a password: every smuggling form writes nothing
/// over psql and psycopg (both protocols); clients' startup statements still work; the
/// extended protocol keeps the time limit and the slot; SCRAM over TLS only; a failure after
/// the first rows is an error on every client.
#[test]
fn the_pg_port_runs_only_reads_within_limits_over_tls() {
    let _heavy = civicpulse_tests::heavy();
    let dir = tempfile::tempdir().expect("test directory");
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).expect("lake directory");
    let targets = dir.path().join("targets");
    std::fs::create_dir_all(&targets).expect("targets directory");
    let (cert, key) = certificate(dir.path());
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let mut kq = KpiQuery::start(
        &lake,
        &[
            ("CIVICPULSE_QUERY__TLS_CERT_PATH", &cert_s),
            ("CIVICPULSE_QUERY__TLS_KEY_PATH", &key_s),
            ("CIVICPULSE_QUERY__TIMEOUT_SECS", "3"),
            ("CIVICPULSE_QUERY__MAX_ROWS", "10000"),
            ("CIVICPULSE_QUERY__MAX_CONCURRENT", "1"),
            ("CIVICPULSE_QUERY__QUEUE_TIMEOUT_SECS", "1"),
        ],
        &dir.path().join("logs"),
    );
    let tls = dsn(&kq, "sslmode=require");
    let mut failures = Failures::default();

    // 4. SCRAM over TLS; plaintext, a wrong password, a wrong user and no password refused.
    let r = psql(&tls, &["SELECT 41 + 1"]);
    failures.check(r.ok && r.stdout.trim() == "42", || {
        format!("psql sslmode=require with the password: {r:?}")
    });
    let verified = dsn(
        &kq,
        &format!("sslmode=verify-full sslrootcert={cert_s} channel_binding=require"),
    );
    let r = psql(&verified, &["SELECT 1"]);
    failures.check(r.ok, || {
        format!("psql verify-full with SCRAM-SHA-256-PLUS (channel binding): {r:?}")
    });
    for (what, dsn, needle) in [
        (
            "sslmode=disable",
            dsn(&kq, "sslmode=disable"),
            "accepts only tls",
        ),
        (
            "a wrong password",
            tls.replace(PG_PASSWORD, "wrong-password"),
            "password authentication failed",
        ),
        (
            "a wrong user",
            tls.replace(&format!("user={PG_USER}"), "user=intruder"),
            "password authentication failed",
        ),
        (
            "no password",
            tls.replace(&format!("password={PG_PASSWORD}"), ""),
            "password",
        ),
    ] {
        let r = psql(&dsn, &["SELECT 1"]);
        failures.check(
            !r.ok && r.stdout.trim().is_empty() && r.stderr.to_lowercase().contains(needle),
            || format!("psql with {what}: expected a refusal with {needle:?}, got {r:?}"),
        );
    }

    // 1. Smuggling: each form over psql, psycopg's extended protocol and its simple one.
    let forms = smuggling_forms();
    let target = |i: usize, client: &str| targets.join(format!("pwn-{client}-{i}.csv"));
    for (client, simple) in [("extended", false), ("simple", true)] {
        let statements: Vec<String> = forms
            .iter()
            .enumerate()
            .map(|(i, (f, _))| f.replace("{}", &target(i, client).display().to_string()))
            .collect();
        let results = psycopg(&tls, &statements, simple);
        for ((sql, r), (_, refused)) in statements.iter().zip(&results).zip(&forms) {
            failures.check(r.ok != *refused, || {
                format!("psycopg {client}: {sql} (refused: {refused}): {r:?}")
            });
        }
    }
    for (i, (form, refused)) in forms.iter().enumerate() {
        let sql = form.replace("{}", &target(i, "psql").display().to_string());
        let r = psql(&tls, &[&sql]);
        failures.check(r.ok != *refused && r.stdout.is_empty(), || {
            format!("psql: {sql} (refused: {refused}): {r:?}")
        });
    }
    let written: Vec<String> = std::fs::read_dir(&targets)
        .expect("targets")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    failures.check(written.is_empty(), || {
        format!("smuggled COPY wrote {written:?}")
    });
    failures.check(
        std::fs::read_dir(&lake).expect("lake").next().is_none(),
        || "something was written into the lake".into(),
    );
    failures.check(alive(&mut kq), || {
        "kpi-query stopped answering after the smuggling forms".into()
    });
    // A quoted value is a value: stored and shown, never run.
    let smuggled = format!(
        "x'; COPY (SELECT 1 AS a) TO '{}'; --",
        target(99, "shown").display()
    );
    let r = psql(
        &tls,
        &[
            &format!("SET application_name = $${smuggled}$$"),
            "SHOW application_name",
        ],
    );
    failures.check(r.ok && r.stdout.trim() == smuggled, || {
        format!("SET/SHOW application_name of a quoted COPY: {r:?}")
    });
    failures.check(!target(99, "shown").exists(), || {
        "the shown value was run".into()
    });

    // What clients send at startup and around queries still works, on both protocols.
    let r = psql(
        &tls,
        &[
            "SET TIME ZONE 'Asia/Shanghai'",
            "SHOW TIME ZONE",
            "SET extra_float_digits = 3",
            "SET application_name = 'PostgreSQL JDBC Driver'",
            "SET search_path TO DEFAULT",
            "SHOW search_path",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "BEGIN ISOLATION LEVEL READ COMMITTED",
            "SELECT 7",
            "COMMIT",
            "SHOW transaction_read_only",
        ],
    );
    failures.check(
        r.ok && r.stdout.trim() == "Asia/Shanghai\npublic\n7\non",
        || format!("psql client settings and a transaction: {r:?}"),
    );
    let startup: Vec<String> = [
        "SET extra_float_digits = 3",
        "SET application_name = 'DBeaver'",
        "SHOW application_name",
        "BEGIN",
        "SELECT 8",
        "COMMIT",
        "SET civicpulse.as_of = '2000-01-01T00:00:00+08:00'",
        "SHOW civicpulse.as_of",
        "SELECT count(*) FROM facility_changes",
        "SET civicpulse.as_of TO DEFAULT",
        "SHOW civicpulse.as_of",
    ]
    .map(str::to_owned)
    .to_vec();
    for simple in [false, true] {
        let results = psycopg(&tls, &startup, simple);
        let got: Vec<String> = results
            .iter()
            .map(|r| match (&r.error, r.rows.first()) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(row)) => row[0].clone().unwrap_or_default(),
                (None, None) => "-".into(),
            })
            .collect();
        let want = [
            "-",
            "-",
            "DBeaver",
            "-",
            "8",
            "-",
            "-",
            "2000-01-01T00:00:00+08:00",
            "0",
            "-",
            "latest",
        ];
        failures.check(got == want, || {
            format!("psycopg (simple: {simple}) startup statements: {got:?}, want {want:?}")
        });
    }

    // 2. The extended protocol: the time limit (57014) and the slot (53300).
    let t = Instant::now();
    let r = psycopg(&tls, &[SLOW_SQL.to_owned()], false);
    let elapsed = t.elapsed();
    failures.check(
        r[0].sqlstate.as_deref() == Some("57014")
            && r[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("time limit")),
        || format!("psycopg extended, slow query: {:?}", r[0]),
    );
    failures.check(elapsed < Duration::from_secs(9), || {
        format!("psycopg extended: the time limit of 3 s answered after {elapsed:?}")
    });
    let port = kq.http_port;
    let slow = std::thread::spawn(move || {
        query::request_with_timeout(
            port,
            "POST",
            "/sql",
            Some(SLOW_SQL.as_bytes()),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            DEADLINE,
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let r = psycopg(&tls, &["SELECT 1".to_owned()], false);
    failures.check(r[0].sqlstate.as_deref() == Some("53300"), || {
        format!("psycopg extended while the only slot is taken: {:?}", r[0])
    });
    let slow = slow.join().expect("slow query thread");
    failures.check(slow.as_ref().is_ok_and(|r| r.status == 504), || {
        format!("the HTTP query holding the slot: {slow:?}")
    });
    let r = psycopg(&tls, &["SELECT 1".to_owned()], false);
    failures.check(r[0].ok, || {
        format!("psycopg extended after the slot came back: {:?}", r[0])
    });

    // 5. Failing after the first rows: an error on psql and psycopg, a broken body on HTTP.
    for (sql, needle) in [
        (ROWS_SQL, "more than 10000 rows"),
        (LATE_ERROR_SQL, "Divide by zero"),
    ] {
        let r = psql(&tls, &[sql]);
        failures.check(
            !r.ok && r.stderr.contains("ERROR") && r.stderr.contains(needle),
            || format!("psql, {sql}: {r:?}"),
        );
        for simple in [false, true] {
            let r = psycopg(&tls, &[sql.to_owned()], simple);
            failures.check(
                !r[0].ok && r[0].error.as_deref().is_some_and(|e| e.contains(needle)),
                || format!("psycopg (simple: {simple}), {sql}: {:?}", r[0]),
            );
        }
        let url = format!("http://127.0.0.1:{}/sql?format=csv", kq.http_port);
        let mut curl = Command::new("curl");
        curl.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            .args(["--data-binary", sql, &url]);
        let r = run(curl);
        // 200 and a body cut off: the failure came after the first rows were sent.
        failures.check(
            !r.ok && r.stdout == "200" && r.stderr.contains("transfer closed"),
            || format!("curl, {sql}: {r:?}"),
        );
        let mut requests = Command::new(python::python());
        requests.args([
            "-c",
            "import sys, requests\n\
             r = requests.post(sys.argv[1], data=sys.argv[2], headers={'Authorization': 'Bearer ' + sys.argv[3]})\n\
             print(r.status_code, len(r.content))",
            &url,
            sql,
            TOKEN,
        ]);
        let r = run(requests);
        failures.check(!r.ok && r.stderr.contains("ChunkedEncodingError"), || {
            format!("python requests, {sql}: a complete answer {r:?}")
        });
    }
    failures.check(alive(&mut kq), || "kpi-query is down at the end".into());
    assert!(
        failures.0.is_empty(),
        "{} failure(s):\n- {}\n{}",
        failures.0.len(),
        failures.0.join("\n- "),
        kq.process.log()
    );
}

/// (4) Credentials that would let anyone in, or TLS half configured, stop kpi-query at start
/// with a message that says what to fix.
#[test]
fn kpi_query_refuses_empty_credentials_and_half_tls() {
    let dir = tempfile::tempdir().expect("test directory");
    let cert = dir.path().join("cert.pem");
    let cert_s = cert.display().to_string();
    let missing = dir.path().join("missing.pem").display().to_string();
    std::fs::write(&cert, "not a certificate").expect("write");
    let cases = [
        (
            "an empty password",
            vec![("CIVICPULSE_QUERY_PASSWORD", "")],
            "CIVICPULSE_QUERY_PASSWORD is set but empty",
        ),
        (
            "an empty token",
            vec![("CIVICPULSE_QUERY_TOKEN", " ")],
            "CIVICPULSE_QUERY_TOKEN is set but empty",
        ),
        (
            "a certificate without a key",
            vec![("CIVICPULSE_QUERY__TLS_CERT_PATH", &cert_s)],
            "set both query.tls_cert_path and query.tls_key_path",
        ),
        (
            "a missing key file",
            vec![
                ("CIVICPULSE_QUERY__TLS_CERT_PATH", &missing),
                ("CIVICPULSE_QUERY__TLS_KEY_PATH", &missing),
            ],
            "query.tls_cert_path",
        ),
        (
            "a file without a certificate",
            vec![
                ("CIVICPULSE_QUERY__TLS_CERT_PATH", &cert_s),
                ("CIVICPULSE_QUERY__TLS_KEY_PATH", &cert_s),
            ],
            "no certificate",
        ),
    ];
    let mut failures = Failures::default();
    for (what, env, needle) in cases {
        let mut cmd = Command::new(binary("kpi-query"));
        cmd.args(["--lake", &dir.path().join("lake").display().to_string()])
            .args(["--http", "127.0.0.1:0", "--pg", "127.0.0.1:0"])
            .env("CIVICPULSE_HASH_KEY", civicpulse_tests::TEST_HASH_KEY)
            .env_remove("CIVICPULSE_QUERY_TOKEN")
            .env_remove("CIVICPULSE_QUERY_PASSWORD")
            .envs(env);
        let r = run(cmd);
        failures.check(!r.ok && r.stderr.contains(needle), || {
            format!("kpi-query with {what}: expected an exit with {needle:?}, got {r:?}")
        });
        failures.check(r.elapsed < Duration::from_secs(20), || {
            format!("kpi-query with {what} kept running")
        });
    }
    assert!(
        failures.0.is_empty(),
        "{} failure(s):\n- {}",
        failures.0.len(),
        failures.0.join("\n- ")
    );
}
