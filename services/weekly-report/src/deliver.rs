//! Delivery: files in the output directory, the JSON on Kafka and the HTML by e-mail, each
//! recorded in a sent-log so that running a week again sends nothing twice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use civicpulse_core::kafka::{client_config, ensure_topics};
use civicpulse_core::settings::KafkaSettings;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use std::io::Write;

use civicpulse_core::division::DivisionTable;

use crate::ReportError;
use crate::lang::Lang;
use crate::settings::SmtpSettings;
use crate::week::ReportWeek;

/// A city or district code checked against the division table: six ASCII digits, the only form
/// in which a place becomes part of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaceCode(String);

impl PlaceCode {
    /// `raw` if it is the code of a city of `table` (`110000`).
    pub fn city(table: &DivisionTable, raw: &str) -> Result<Self, ReportError> {
        if is_six_digits(raw) && table.districts().any(|d| d.city_code == raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ReportError::Input(format!(
                "report.city {raw:?} is not the six-digit code of a city in division table {}",
                table.version()
            )))
        }
    }

    /// `raw` if it is the code of a district of `city` in `table` (`110108`).
    pub fn district_of(table: &DivisionTable, city: &Self, raw: &str) -> Result<Self, ReportError> {
        match table.district(raw) {
            Some(d) if is_six_digits(raw) && d.city_code == city.0 => Ok(Self(raw.to_owned())),
            _ => Err(ReportError::Input(format!(
                "report.recipients.districts: {raw:?} is not a district code of city {} in division table {}",
                city.0,
                table.version()
            ))),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlaceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_six_digits(raw: &str) -> bool {
    raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit())
}

/// The files of one report.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `<out>/<city>/<week>/`.
    pub dir: PathBuf,
    /// `report.<lang>.json`.
    pub json: PathBuf,
    /// `report.<lang>.html`.
    pub html: PathBuf,
    /// `report.<lang>.md`.
    pub markdown: PathBuf,
    lang: Lang,
}

impl ReportFiles {
    /// Where the report of `city` for `week` goes under `out`: every part below `out` is a
    /// checked code, a canonical week id (`2024-W23`) or a language code.
    pub fn new(out: &Path, city: &PlaceCode, week: ReportWeek, lang: Lang) -> Self {
        let dir = out.join(city.as_str()).join(week.to_string());
        let lang_code = lang.code();
        Self {
            json: dir.join(format!("report.{lang_code}.json")),
            html: dir.join(format!("report.{lang_code}.html")),
            markdown: dir.join(format!("report.{lang_code}.md")),
            dir,
            lang,
        }
    }

    /// A district's page (`district-110108.zh.html` / `.md`).
    pub fn district(&self, code: &PlaceCode, ext: &str) -> PathBuf {
        self.dir
            .join(format!("district-{code}.{}.{ext}", self.lang.code()))
    }
}

/// Writes `contents` to `path` through a temporary file of its own in the same directory, so a
/// reader never sees half a file and two runs writing the same report never share a temporary.
pub async fn write_file(path: &Path, contents: Vec<u8>) -> Result<(), ReportError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let io = |e: std::io::Error| ReportError::Output(format!("{}: {e}", path.display()));
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".report-")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(&contents).map_err(io)?;
        tmp.as_file().sync_data().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    })
    .await
    .map_err(|e| ReportError::Output(format!("writing a report file: {e}")))?
}

/// One delivery made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentEntry {
    /// City code.
    pub city: String,
    /// Week id.
    pub week: String,
    /// `kafka:<topic>`, `mail` or `mail:<district>`.
    pub channel: String,
    /// Recipients (mail) or the record key (Kafka).
    pub to: String,
    /// SHA-256 of what was sent.
    pub digest: String,
    /// When (RFC 3339, UTC).
    pub sent_at: String,
}

/// The append-only log of deliveries: `<out>/sent-log.jsonl`.
#[derive(Debug)]
pub struct SentLog {
    path: PathBuf,
    entries: Vec<SentEntry>,
}

impl SentLog {
    /// Reads the log under `out` (empty if there is none yet).
    pub async fn open(out: &Path) -> Result<Self, ReportError> {
        let path = out.join("sent-log.jsonl");
        let entries = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l).map_err(|e| {
                        ReportError::Output(format!("{}: bad line {l:?}: {e}", path.display()))
                    })
                })
                .collect::<Result<_, _>>()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ReportError::Output(format!("{}: {e}", path.display()))),
        };
        Ok(Self { path, entries })
    }

    /// The delivery of `week` on `channel` to `to`, if made.
    pub fn find(&self, city: &str, week: &str, channel: &str, to: &str) -> Option<&SentEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.city == city && e.week == week && e.channel == channel && e.to == to)
    }

    /// Records a delivery (appended and flushed before the next one is attempted).
    pub async fn record(&mut self, entry: SentEntry) -> Result<(), ReportError> {
        let io = |e: std::io::Error| ReportError::Output(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(io)?;
        let mut line = serde_json::to_string(&entry).expect("an entry serialises");
        line.push('\n');
        file.write_all(line.as_bytes()).await.map_err(io)?;
        file.sync_data().await.map_err(io)?;
        self.entries.push(entry);
        Ok(())
    }
}

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Publishes `payload` under `key` to `topic` (created with one partition if missing) and
/// waits for the broker's acknowledgement.
pub async fn publish(
    kafka: &KafkaSettings,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> Result<(), ReportError> {
    let fail = |e: rdkafka::error::KafkaError| ReportError::Delivery(format!("Kafka {topic}: {e}"));
    let mut config = client_config(kafka);
    config
        .set("enable.idempotence", "true")
        .set("message.max.bytes", "10000000")
        .set("message.timeout.ms", "30000");
    ensure_topics(&config, &[(topic, 1)]).await.map_err(fail)?;
    let producer: FutureProducer = config.create().map_err(fail)?;
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| fail(e))?;
    Ok(())
}

/// One e-mail: HTML with a plain-text alternative.
pub struct Mail<'a> {
    /// Recipients.
    pub to: &'a [String],
    /// Subject.
    pub subject: String,
    /// The HTML page.
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// Sends `mail` through the SMTP server of `smtp`.
pub async fn send_mail(smtp: &SmtpSettings, mail: Mail<'_>) -> Result<(), ReportError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ReportError::Input(format!("{what}: {e}"));
    let from: Mailbox = smtp.from.parse().map_err(|e| bad("report.smtp.from", &e))?;
    let mut message = Message::builder().from(from).subject(mail.subject);
    for to in mail.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| bad(&format!("recipient {to:?}"), &e))?;
        message = message.to(mailbox);
    }
    let message = message
        .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
        .map_err(|e| ReportError::Delivery(format!("mail: {e}")))?;
    let smtp_error = |e: lettre::transport::smtp::Error| {
        ReportError::Delivery(format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
    };
    let mut builder = match smtp.tls.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        "starttls" => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(smtp_error)?
        }
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(smtp_error)?,
        other => {
            return Err(ReportError::Input(format!(
                "report.smtp.tls {other:?} is not none, starttls or tls"
            )));
        }
    }
    .port(smtp.port)
    .timeout(Some(Duration::from_secs(30)));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.clone(),
        ));
    }
    builder.build().send(message).await.map_err(smtp_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [&str; 12] = [
        "../etc",
        "../../110000",
        "110000/../..",
        "/etc/passwd",
        "110000\0",
        "11000",
        "1100000",
        "１１００００",
        " 110000",
        "110000 ",
        "999999",
        "",
    ];

    #[test]
    fn only_division_codes_become_paths() {
        let table = DivisionTable::builtin();
        let city = PlaceCode::city(&table, "110000").unwrap();
        for raw in HOSTILE {
            let e = PlaceCode::city(&table, raw).unwrap_err().to_string();
            assert!(e.contains("six-digit code of a city"), "{raw:?}: {e}");
            assert!(
                PlaceCode::district_of(&table, &city, raw).is_err(),
                "{raw:?}"
            );
        }
        // A district, not a city; a district of another city.
        assert!(PlaceCode::city(&table, "110108").is_err());
        assert!(PlaceCode::district_of(&table, &city, "500103").is_err());
        let haidian = PlaceCode::district_of(&table, &city, "110108").unwrap();
        assert!(PlaceCode::city(&table, "500000").is_ok());

        let out = Path::new("/srv/reports");
        let week = ReportWeek::parse("2024-W23", chrono::Weekday::Fri).unwrap();
        let files = ReportFiles::new(out, &city, week, Lang::Zh);
        assert_eq!(files.dir, Path::new("/srv/reports/110000/2024-W23"));
        assert_eq!(
            files.district(&haidian, "md"),
            Path::new("/srv/reports/110000/2024-W23/district-110108.zh.md")
        );
        for path in [&files.json, &files.html, &files.markdown] {
            assert_eq!(path.parent(), Some(files.dir.as_path()));
        }
    }

    #[tokio::test]
    async fn concurrent_writes_of_one_file_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("110000/2024-W23/report.zh.md");
        // Two runs writing the same report at once: each goes through its own temporary
        // file, so the result is one of them whole, and no temporary is left behind.
        let writes: Vec<_> = (0..16u8)
            .map(|i| {
                let path = path.clone();
                tokio::spawn(async move { write_file(&path, vec![b'a' + i; 200_000]).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 200_000);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "mixed contents");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.zh.md"]);
    }
}
