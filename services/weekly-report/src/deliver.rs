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

use crate::ReportError;
use crate::settings::SmtpSettings;

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
}

impl ReportFiles {
    /// Where the report of `city` for `week` goes under `out`.
    pub fn new(out: &Path, city: &str, week: &str, lang: &str) -> Self {
        let dir = out.join(city).join(week);
        Self {
            json: dir.join(format!("report.{lang}.json")),
            html: dir.join(format!("report.{lang}.html")),
            markdown: dir.join(format!("report.{lang}.md")),
            dir,
        }
    }

    /// A district's page (`district-110108.zh.html` / `.md`).
    pub fn district(&self, code: &str, lang: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("district-{code}.{lang}.{ext}"))
    }
}

/// Writes `contents` to `path` through a temporary file, so a reader never sees half a file.
pub async fn write_file(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let io = |e: std::io::Error| ReportError::Output(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, contents).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
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
