//! weekly-report over a lake landed by citysim: every figure equals kpi-query's answer for the
//! same week, a week re-rendered after late data is the report as sent, the e-mail reaches a
//! real SMTP server with HTML and text parts, the JSON reaches Kafka, nothing is sent twice,
//! the schedule catches up missed weeks, and the HTML renders in headless Chromium with its
//! charts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::kafka::read_topic;
use civicpulse_tests::process::{ServiceProcess, binary, wait_for};
use civicpulse_tests::query::KpiQuery;
use civicpulse_tests::{TEST_HASH_KEY, free_port, heavy, python, workspace_root};
use serde_json::Value;

/// The report week: the last full week of the simulated period.
const WEEK: &str = "2024-W24";
const WEEK_START: &str = "2024-06-10";
const WEEK_END: &str = "2024-06-16";

/// A Beijing lake of 2024-04-08 … 2024-06-16 (the week, the 8 before it for trends and spikes) at a small scale, landed once per test binary.
fn lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &LAKE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let lake = dir.path().join("lake");
            citysim(&lake, "2024-04-08", "2024-06-16", 7);
            (dir, lake)
        })
        .1
}

fn citysim(lake: &Path, from: &str, to: &str, seed: u64) {
    let out = Command::new(binary("citysim"))
        .args([
            "--city", "beijing", "--from", from, "--to", to, "--scale", "0.01",
        ])
        .args(["--seed", &seed.to_string(), "--quiet", "--lake"])
        .arg(lake)
        .env("CIVICPULSE_HASH_KEY", TEST_HASH_KEY)
        .output()
        .expect("citysim runs");
    assert!(
        out.status.success(),
        "citysim: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    civicpulse_tests::scenario::keep_state(lake);
}

fn targets() -> String {
    workspace_root()
        .join("deploy/targets.toml")
        .display()
        .to_string()
}

/// Runs weekly-report on `lake` with `args` and `env`; panics unless it succeeds.
fn report(lake: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(binary("weekly-report"))
        .arg("--lake")
        .arg(lake)
        .args(["--targets", &targets()])
        .args(args)
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("weekly-report runs");
    assert!(
        out.status.success(),
        "weekly-report {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("report JSON")
}

fn week_dir(out: &Path, week: &str) -> PathBuf {
    out.join("110000").join(week)
}

/// `(district, period) → value` of a KPI answer (rows with no item).
fn answer(kq: &KpiQuery, id: &str, query: &str) -> BTreeMap<(String, String), Option<f64>> {
    let r = kq.get(&format!("/kpis/{id}?{query}"));
    assert_eq!(r.status, 200, "{id} {query}: {}", r.text());
    r.json()
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["item"].is_null())
        .map(|row| {
            (
                (
                    row["district"].as_str().unwrap().to_owned(),
                    row["period"].as_str().unwrap().to_owned(),
                ),
                row["value"].as_f64(),
            )
        })
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

/// What the catalogue's answer means for a week without a row: 0 for flows and stocks.
fn expected(kind: &str, v: Option<&Option<f64>>) -> Option<f64> {
    match v {
        Some(v) => *v,
        None if kind == "ratio" => None,
        None => Some(0.0),
    }
}

#[test]
fn every_figure_equals_the_kpi_service_and_a_sent_week_renders_the_same() {
    let _heavy = heavy();
    let lake = lake();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports");
    let out_arg = out.to_str().unwrap();
    // Every category listed, so their sum can be checked against K23.
    let env = [("CIVICPULSE_REPORT__TOP_N", "1000")];
    report(lake, &["--week", WEEK, "--out", out_arg, "--no-send"], &env);
    let files = week_dir(&out, WEEK);
    let json = read_json(&files.join("report.zh.json"));
    assert_eq!(json["week"]["start"], WEEK_START);
    assert_eq!(json["lang"], "zh");

    let kq = KpiQuery::start(lake, &[], &dir.path().join("logs"));
    let trend_weeks: Vec<String> = json["week"]["trend_weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trend_weeks.len(), 8);
    assert_eq!(trend_weeks[7], WEEK_START);
    let kinds: BTreeMap<String, String> = json["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap().to_owned(),
                k["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sections: Vec<&Value> = std::iter::once(&json["city"])
        .chain(json["districts"].as_array().unwrap())
        .collect();
    assert_eq!(sections.len(), 17, "Beijing and its 16 districts");
    let (mut checked, mut with_last_year) = (0, 0);
    let headline: Vec<String> = json["city"]["headline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kpi"].as_str().unwrap().to_owned())
        .collect();
    for (i, id) in headline.iter().enumerate() {
        let kind = &kinds[id];
        let range = format!("from={}&to={WEEK_END}&grain=week", trend_weeks[0]);
        let mut trend = answer(&kq, id, &range);
        trend.extend(answer(&kq, id, &format!("{range}&district=110000")));
        let week = answer(
            &kq,
            id,
            &format!("from={WEEK_START}&to={WEEK_END}&grain=week"),
        );
        let ly = "from=2023-06-12&to=2023-06-18&grain=week";
        let mut last_year = answer(&kq, id, ly);
        last_year.extend(answer(&kq, id, &format!("{ly}&district=110000")));
        for s in &sections {
            let code = s["place"]["code"].as_str().unwrap();
            let fig = &s["headline"][i];
            assert_eq!(fig["kpi"], id.as_str());
            for (j, w) in trend_weeks.iter().enumerate() {
                let want = expected(kind, trend.get(&(code.to_owned(), w.clone())));
                assert!(
                    close(fig["trend"][j].as_f64(), want),
                    "{code} {id} week {w}: {} vs {want:?}",
                    fig["trend"][j]
                );
                checked += 1;
            }
            let want = expected(kind, trend.get(&(code.to_owned(), WEEK_START.to_owned())));
            assert!(
                close(fig["value"].as_f64(), want),
                "{code} {id}: {} vs {want:?}",
                fig["value"]
            );
            if code != "110000" {
                let alone = expected(kind, week.get(&(code.to_owned(), WEEK_START.to_owned())));
                assert!(
                    close(fig["value"].as_f64(), alone),
                    "{code} {id} asked for the week alone"
                );
            }
            assert!(close(fig["previous"].as_f64(), fig["trend"][6].as_f64()));
            // The same week of 2023, where the lake goes back that far (renovation history does).
            if !fig["last_year"].is_null() {
                let want = expected(
                    kind,
                    last_year.get(&(code.to_owned(), "2023-06-12".to_owned())),
                );
                assert!(
                    close(fig["last_year"].as_f64(), want),
                    "{code} {id} last year"
                );
                with_last_year += 1;
            }
            checked += 3;
        }
        // Ranks order the districts by value.
        let ranked: Vec<(f64, u64)> = json["districts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| {
                Some((
                    d["headline"][i]["value"].as_f64()?,
                    d["headline"][i]["rank"]["position"].as_u64()?,
                ))
            })
            .collect();
        for (v, r) in &ranked {
            let higher = ranked.iter().filter(|(o, _)| o > v).count() as u64;
            assert_eq!(*r, higher + 1, "{id} rank of {v}");
        }
        // All equal (e.g. all 0): no ranks at all rather than everyone first.
        let values: Vec<f64> = json["districts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["headline"][i]["value"].as_f64())
            .collect();
        if id == "K23" {
            // Raw volume is not ranked: districts are ranked by K34, per 10,000 residents.
            assert!(ranked.is_empty(), "K23 is ranked");
        } else if values.windows(2).all(|w| w[0] == w[1]) {
            assert!(ranked.is_empty(), "{id}: equal values are ranked");
        } else {
            assert_eq!(ranked.len(), values.len(), "{id}: a district without rank");
        }
    }
    assert!(checked > 2000, "{checked} figures checked");
    assert!(
        with_last_year > 0 && with_last_year < checked / 4,
        "{with_last_year} with a year before"
    );
    assert_eq!(json["week"]["same_week_last_year"], "2023-W24");

    // Targets: the year so far equals the KPI over 1 January … the week's end.
    let haidian = json["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["place"]["code"] == "110108")
        .unwrap();
    let mut targeted = 0;
    for fig in haidian["headline"].as_array().unwrap() {
        let Some(t) = fig.get("target").filter(|t| !t.is_null()) else {
            continue;
        };
        let id = fig["kpi"].as_str().unwrap();
        let ytd = answer(
            &kq,
            id,
            &format!("from=2024-01-01&to={WEEK_END}&grain=year&district=110108"),
        );
        let want = expected(
            &kinds[id],
            ytd.get(&("110108".to_owned(), "2024-01-01".to_owned())),
        );
        assert!(
            close(t["actual"].as_f64(), want),
            "{id} year to date {t} vs {want:?}"
        );
        assert!(close(
            t["share"].as_f64(),
            want.map(|w| w / t["target"].as_f64().unwrap())
        ));
        assert!(
            t["projected"].as_f64().unwrap() >= t["actual"].as_f64().unwrap()
                || kinds[id] == "stock"
        );
        targeted += 1;
    }
    assert_eq!(targeted, 7, "Haidian's seven 2024 targets");

    // Projects by status: K17's items at the week's end.
    let r = kq.get(&format!(
        "/kpis/K17?from={WEEK_START}&to={WEEK_END}&grain=week&district=110000"
    ));
    let k17: BTreeMap<String, f64> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["item"].as_str().unwrap().to_owned(),
                row["value"].as_f64().unwrap(),
            )
        })
        .collect();
    let ours: BTreeMap<String, f64> = json["city"]["projects_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item"].as_str().unwrap().to_owned(),
                i["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, k17);
    assert!(!ours.is_empty());

    // Requests by category add up to K23, in the city and in every district.
    let k23 = headline.iter().position(|k| k == "K23").unwrap();
    for s in &sections {
        let sum: f64 = s["top_categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["requests"].as_f64().unwrap())
            .sum();
        assert!(
            close(Some(sum), s["headline"][k23]["value"].as_f64()),
            "{} categories {sum}",
            s["place"]["code"]
        );
    }
    assert!(
        json["city"]["headline"][k23]["value"].as_f64().unwrap() > 50.0,
        "a week of requests"
    );
    assert!(
        !json["city"]["top_communities"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The same week again: identical files.
    let before: Vec<Vec<u8>> = ["report.zh.json", "report.zh.html", "report.zh.md"]
        .iter()
        .map(|f| std::fs::read(files.join(f)).unwrap())
        .collect();
    // Late data: another seed lands more events into the same weeks.
    let versions = json["source"]["table_versions"].clone();
    citysim(lake, "2024-06-03", "2024-06-16", 99);
    report(lake, &["--week", WEEK, "--out", out_arg, "--no-send"], &env);
    for (f, old) in ["report.zh.json", "report.zh.html", "report.zh.md"]
        .iter()
        .zip(&before)
    {
        assert!(
            std::fs::read(files.join(f)).unwrap() == *old,
            "{f} changed on re-rendering"
        );
    }
    // --refresh reads the late data: more requests, newer versions.
    report(
        lake,
        &["--week", WEEK, "--out", out_arg, "--no-send", "--refresh"],
        &env,
    );
    let fresh = read_json(&files.join("report.zh.json"));
    assert_ne!(fresh["source"]["table_versions"], versions);
    assert!(
        fresh["city"]["headline"][k23]["value"].as_f64()
            > json["city"]["headline"][k23]["value"].as_f64()
    );
    let after = answer(
        &kq,
        "K23",
        &format!("from={WEEK_START}&to={WEEK_END}&grain=week&district=110000"),
    );
    assert!(close(
        fresh["city"]["headline"][k23]["value"].as_f64(),
        after[&("110000".to_owned(), WEEK_START.to_owned())]
    ));

    // English.
    report(
        lake,
        &[
            "--week",
            WEEK,
            "--out",
            out_arg,
            "--no-send",
            "--lang",
            "en",
        ],
        &env,
    );
    let en = std::fs::read_to_string(files.join("report.en.html")).unwrap();
    assert!(
        en.contains("Complete-community programme") && en.contains("Haidian"),
        "English page"
    );
    let zh = std::fs::read_to_string(files.join("report.zh.html")).unwrap();
    assert!(
        zh.contains("完整社区建设周报") && zh.contains("海淀区"),
        "Chinese page"
    );

    // Weeks from Friday to Thursday: the catalogue's answer for that week.
    let friday = dir.path().join("friday");
    report(
        lake,
        &[
            "--week",
            WEEK,
            "--out",
            friday.to_str().unwrap(),
            "--no-send",
        ],
        &[("CIVICPULSE_REPORT__WEEK_START", "friday")],
    );
    let fj = read_json(&week_dir(&friday, WEEK).join("report.zh.json"));
    assert_eq!(
        (fj["week"]["start"].as_str(), fj["week"]["end"].as_str()),
        (Some("2024-06-14"), Some("2024-06-20"))
    );
    let fri_start = fj["week"]["trend_weeks"][6].as_str().unwrap().to_owned(); // 2024-06-07
    assert_eq!(fri_start, "2024-06-07");
    let by_year = answer(
        &kq,
        "K23",
        "from=2024-06-07&to=2024-06-13&grain=year&district=110000",
    );
    let by_week = answer(
        &kq,
        "K23",
        "from=2024-06-07&to=2024-06-13&grain=week&week_start=friday&district=110000",
    );
    let want = by_year[&("110000".to_owned(), "2024-01-01".to_owned())];
    assert!(close(
        by_week[&("110000".to_owned(), fri_start.clone())],
        want
    ));
    assert!(
        close(fj["city"]["headline"][k23]["previous"].as_f64(), want),
        "Friday week's requests"
    );
}

/// An SMTP server of Python's aiosmtpd on loopback, keeping what it receives.
struct SmtpSink {
    process: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    fn start(dir: PathBuf) -> Self {
        let port = free_port();
        let mut process = Command::new(python::python())
            .arg(workspace_root().join("tests/python/smtp_sink.py"))
            .arg(port.to_string())
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("smtp_sink.py starts");
        let up = wait_for(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        if up.is_none() {
            let _ = process.kill();
            panic!("the SMTP server did not come up");
        }
        Self { process, port, dir }
    }

    fn messages(&self) -> Vec<Value> {
        let out = python::run_script("read_mail.py", &[self.dir.to_str().unwrap()]);
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn mail_and_kafka_deliver_once_and_the_schedule_catches_up() {
    let _heavy = heavy();
    let lake = lake();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports");
    let smtp = SmtpSink::start(dir.path().join("mail"));
    let broker = TestBroker::start_durable();
    let config = dir.path().join("report.toml");
    std::fs::write(
        &config,
        format!(
            r#"[kafka]
brokers = "{brokers}"

[report]
out_dir = "{out}"
publish_topic = "reports.weekly"
catch_up_weeks = 2
cutoff = "09:00"

[report.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "周报 <reports@civicpulse.test>"

[report.recipients]
city = ["mayor@beijing.test", "office@beijing.test"]

[report.recipients.districts]
"110108" = ["haidian@beijing.test"]
"#,
            brokers = broker.brokers(),
            out = out.display(),
            port = smtp.port
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let first = report(lake, &["--config", config_arg, "--week", WEEK], &[]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(stdout.matches("  sent ").count(), 3, "{stdout}");

    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    let city = mail
        .iter()
        .find(|m| m["rcpt_tos"].as_array().unwrap().len() == 2)
        .expect("the city's mail");
    assert_eq!(
        city["rcpt_tos"],
        serde_json::json!(["mayor@beijing.test", "office@beijing.test"])
    );
    assert!(
        city["subject"]
            .as_str()
            .unwrap()
            .contains("完整社区建设周报")
            && city["subject"].as_str().unwrap().contains(WEEK)
    );
    assert_eq!(city["content_type"], "multipart/alternative");
    let parts = city["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let html = parts[1]["text"].as_str().unwrap();
    let sent_html = std::fs::read_to_string(week_dir(&out, WEEK).join("report.zh.html")).unwrap();
    // SMTP carries lines ending in CRLF.
    assert!(
        html.replace("\r\n", "\n").trim_end() == sent_html.trim_end(),
        "the mail carries the report's page"
    );
    assert!(
        parts[0]["text"]
            .as_str()
            .unwrap()
            .contains("# 北京市完整社区建设周报")
    );
    let haidian = mail
        .iter()
        .find(|m| m["rcpt_tos"] == serde_json::json!(["haidian@beijing.test"]))
        .expect("Haidian's mail");
    let haidian_html = haidian["parts"][1]["text"].as_str().unwrap();
    assert!(
        haidian_html.contains("海淀区 110108") && !haidian_html.contains("朝阳区 110105"),
        "only Haidian's section"
    );

    let published = read_topic(
        &broker.brokers(),
        "reports.weekly",
        2,
        Duration::from_secs(10),
    );
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].key.as_deref(),
        Some(format!("110000/{WEEK}").as_bytes())
    );
    let json = std::fs::read(week_dir(&out, WEEK).join("report.zh.json")).unwrap();
    assert_eq!(published[0].payload, json);

    // Again: nothing is sent twice; with --force everything is.
    let again = report(lake, &["--config", config_arg, "--week", WEEK], &[]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(stdout.matches("already sent").count(), 3, "{stdout}");
    assert_eq!(smtp.messages().len(), 2);
    report(
        lake,
        &["--config", config_arg, "--week", WEEK, "--force"],
        &[],
    );
    assert_eq!(smtp.messages().len(), 4);
    assert_eq!(
        read_topic(
            &broker.brokers(),
            "reports.weekly",
            3,
            Duration::from_secs(10)
        )
        .len(),
        2
    );

    // Back after downtime on Tuesday 25 June: W25 is due (its cut-off was Monday 09:00) and
    // caught up; W24 was sent already.
    let mut schedule = ServiceProcess::start_without_http(
        "weekly-report",
        &[
            "--lake",
            lake.to_str().unwrap(),
            "--config",
            config_arg,
            "--targets",
            &targets(),
            "--schedule",
            "--now",
            "2024-06-25T10:00:00+08:00",
        ],
        &[("CIVICPULSE_TELEMETRY__LOG_LEVEL", "info")],
        &dir.path().join("logs"),
    );
    let caught_up = wait_for(Duration::from_secs(180), || {
        if let Some(status) = schedule.exited() {
            panic!("the schedule exited with {status}: {}", schedule.log());
        }
        let log = std::fs::read_to_string(out.join("sent-log.jsonl")).ok()?;
        (log.lines().filter(|l| l.contains("2024-W25")).count() == 3).then_some(log)
    });
    let log = caught_up.unwrap_or_else(|| panic!("W25 was not caught up: {}", schedule.log()));
    schedule.terminate(Duration::from_secs(10));
    assert_eq!(
        log.lines().filter(|l| l.contains("2024-W24")).count(),
        6,
        "W24: sent, then forced once"
    );
    assert!(week_dir(&out, "2024-W25").join("report.zh.html").exists());
    assert_eq!(smtp.messages().len(), 6);
}

#[test]
fn the_page_renders_in_headless_chromium_with_its_charts() {
    let _heavy = heavy();
    let lake = lake();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports");
    report(
        lake,
        &["--week", WEEK, "--out", out.to_str().unwrap(), "--no-send"],
        &[],
    );
    let html = week_dir(&out, WEEK).join("report.zh.html");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("<script") && !page.contains("http://") && !page.contains("https://"),
        "self-contained"
    );
    assert!(page.contains("@page { size: A4"));
    let png = dir.path().join("page.png");
    let chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=900,2200",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg("--enable-logging=stderr")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs (apt-get install chromium)");
    let log = String::from_utf8_lossy(&chromium.stderr);
    assert!(chromium.status.success(), "chromium: {log}");
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "page errors: {log}"
    );
    // The DOM Chromium built has every chart.
    let dom = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg class=\"bars\"").count(), 4);
    assert!(dom.matches("<svg class=\"trend\"").count() >= 15 * 17);
    // Printed, it is A4 with every district on pages of its own.
    let pdf = dir.path().join("page.pdf");
    let printed = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium prints");
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let pdf = String::from_utf8_lossy(&std::fs::read(&pdf).expect("a PDF")).into_owned();
    let pages = pdf.matches("/Type /Page").count() - pdf.matches("/Type /Pages").count();
    assert!(
        pages >= 17,
        "{pages} pages: the city and one or more per district"
    );
    assert!(
        pdf.contains("/MediaBox [0 0 594.95996 841.91998]"),
        "A4 pages"
    );
    // The screenshot shows trend lines (red) and bars (blue) drawn.
    let colours: Value = serde_json::from_str(&python::run_script(
        "png_colours.py",
        &[png.to_str().unwrap(), "c0392b", "2e6da4"],
    ))
    .unwrap();
    assert_eq!(
        (colours["width"].as_u64(), colours["height"].as_u64()),
        (Some(900), Some(2200))
    );
    assert!(
        colours["counts"]["c0392b"].as_u64().unwrap() > 300,
        "trend lines: {colours}"
    );
    assert!(
        colours["counts"]["2e6da4"].as_u64().unwrap() > 2000,
        "bars: {colours}"
    );
    assert!(
        colours["non_white"].as_u64().unwrap() > 50_000,
        "text and tables: {colours}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    // A district key of the recipients that is a path, in the configuration file.
    let config = dir.path().join("hostile.toml");
    std::fs::write(
        &config,
        "[report.recipients.districts]\n\"../../../escaped\" = [\"a@b.invalid\"]\n",
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let out = dir.path().join("out");
    for (args, says) in [
        (vec!["--week", "2024-23"], "not an ISO week"),
        (vec!["--week", "2024-W23/../../x"], "not an ISO week"),
        (vec!["--week", WEEK, "--city", "../etc"], "six-digit"),
        (
            vec!["--week", WEEK, "--city", "999999"],
            "six-digit code of a city",
        ),
        (
            vec!["--week", WEEK, "--city", "110108"],
            "six-digit code of a city",
        ),
        (
            vec!["--week", WEEK, "--config", config_arg],
            "\"../../../escaped\" is not a district code of city 110000",
        ),
        (vec!["--week", WEEK, "--lang", "fr"], "not zh or en"),
        (
            vec!["--week", WEEK, "--targets", "/nonexistent.toml"],
            "targets file",
        ),
    ] {
        let run = Command::new(binary("weekly-report"))
            .arg("--lake")
            .arg(lake)
            .args(["--no-send", "--out"])
            .arg(&out)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Refused before anything was written, inside the output directory or beside it.
    let mut written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    written.sort();
    assert_eq!(written, ["hostile.toml"], "files written");
}
