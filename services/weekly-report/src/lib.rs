//! # weekly-report
//!
//! The weekly summary municipal leaders receive: for a city and each of its districts, the
//! headline KPIs of the week with the change on last week and on the same week a year before,
//! an 8-week trend, rank among districts, progress to annual targets and red flags, in Chinese
//! first. Every figure is an answer of kpi-query's KPI catalogue (or a report query of
//! `sql/reports/`) read through the same engine, at table versions fixed once per report and
//! recorded in its JSON, so a report can be regenerated exactly as sent.
//!
//! - [`week`]: report weeks and cut-offs;
//! - [`source`]: the catalogue's answers at fixed table versions;
//! - [`build`]: the report as data ([`model`]), with [`flags`] and [`targets`];
//! - [`render`]: HTML with inline SVG charts, and Markdown;
//! - [`deliver`]: files, Kafka, e-mail and the sent-log; [`WeeklyReporter`] ties them together.
#![warn(missing_docs)]

pub mod build;
pub mod deliver;
pub mod flags;
pub mod lang;
pub mod model;
pub mod render;
pub mod settings;
pub mod source;
pub mod targets;
pub mod week;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveTime, Weekday};
use kpi_query::lake::TableVersion;
use kpi_query::{QueryEngine, QueryLimits};

use crate::build::ReportSpec;
use civicpulse_core::division::DivisionTable;

use crate::deliver::{Mail, PlaceCode, ReportFiles, SentEntry, SentLog};
use crate::lang::Lang;
use crate::model::WeeklyReport;
use crate::settings::ReportServiceSettings;
use crate::source::KpiSource;
use crate::targets::Targets;
use crate::week::ReportWeek;

/// Why a report could not be made or delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A flag, configuration value or input file is wrong.
    #[error("{0}")]
    Input(String),
    /// Configuration could not be read.
    #[error(transparent)]
    Settings(#[from] civicpulse_core::settings::SettingsError),
    /// The query engine refused or failed a query.
    #[error("query: {0}")]
    Engine(#[from] kpi_query::QueryError),
    /// A query's answer could not be read.
    #[error("{0}")]
    Query(String),
    /// A file could not be written.
    #[error("{0}")]
    Output(String),
    /// Kafka or the mail server did not take the report.
    #[error("{0}")]
    Delivery(String),
}

/// How one week is produced.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Read the lake as it stood then (instead of the versions a previous run recorded, or the
    /// latest).
    pub as_of: Option<DateTime<FixedOffset>>,
    /// Read the latest versions even if the week was produced before.
    pub refresh: bool,
    /// Send again what the sent-log says was sent.
    pub force: bool,
    /// Write files only.
    pub no_send: bool,
}

/// A report built and written to its files.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The report.
    pub report: WeeklyReport,
    /// Where its files are.
    pub files: ReportFiles,
    /// The JSON file's bytes (what is published).
    pub json: Vec<u8>,
}

/// What a run of one week did.
#[derive(Debug, Clone)]
pub struct WeekOutcome {
    /// The week.
    pub week: ReportWeek,
    /// Its files.
    pub files: ReportFiles,
    /// The table versions read.
    pub versions: Vec<TableVersion>,
    /// Deliveries made now (`channel → to`).
    pub sent: Vec<String>,
    /// Deliveries skipped because the sent-log has them.
    pub already_sent: Vec<String>,
}

/// Produces and delivers weekly reports of one city.
pub struct WeeklyReporter {
    engine: Arc<QueryEngine>,
    settings: ReportServiceSettings,
    targets: Targets,
    lang: Lang,
    week_start: Weekday,
    cutoff: NaiveTime,
    /// `report.city`, checked against the division table.
    city: PlaceCode,
    /// The districts of `report.recipients.districts`, checked likewise.
    recipient_districts: Vec<PlaceCode>,
}

impl WeeklyReporter {
    /// Opens the lake of `settings` with kpi-query's engine.
    pub async fn open(settings: ReportServiceSettings) -> Result<Self, ReportError> {
        let engine = QueryEngine::open(
            &settings.lake,
            &settings.query.weights,
            QueryLimits::from(&settings.query),
        )
        .await?;
        Self::with_engine(Arc::new(engine), settings)
    }

    /// Reports over an engine that is already open (the demo shares kpi-query's).
    pub fn with_engine(
        engine: Arc<QueryEngine>,
        settings: ReportServiceSettings,
    ) -> Result<Self, ReportError> {
        let r = &settings.report;
        let lang = Lang::parse(&r.lang)?;
        let week_start = kpi_query::catalog::parse_weekday(&r.week_start)
            .map_err(|e| ReportError::Input(format!("report.{e}")))?;
        let cutoff = week::parse_time(&r.cutoff)?;
        // Codes become paths: only those of the division table pass.
        let divisions = DivisionTable::builtin();
        let city = PlaceCode::city(&divisions, &r.city)?;
        let recipient_districts = r
            .recipients
            .districts
            .keys()
            .map(|code| PlaceCode::district_of(&divisions, &city, code))
            .collect::<Result<_, _>>()?;
        let targets = match &r.targets_file {
            Some(path) => Targets::load(path)?,
            None => Targets::default(),
        };
        Ok(Self {
            engine,
            settings,
            targets,
            lang,
            week_start,
            cutoff,
            city,
            recipient_districts,
        })
    }

    /// Reports against `targets` instead of those of `report.targets_file`.
    pub fn with_targets(mut self, targets: Targets) -> Self {
        self.targets = targets;
        self
    }

    /// The week named `id` (`2024-W23`).
    pub fn week(&self, id: &str) -> Result<ReportWeek, ReportError> {
        ReportWeek::parse(id, self.week_start)
    }

    /// The last week whose cut-off has passed at `now`.
    pub fn last_due(&self, now: DateTime<FixedOffset>) -> ReportWeek {
        ReportWeek::last_due(now, self.week_start, self.cutoff)
    }

    fn files(&self, week: ReportWeek) -> ReportFiles {
        ReportFiles::new(&self.settings.report.out_dir, &self.city, week, self.lang)
    }

    /// Builds the report of `week` and writes its files. A week produced before is read at the
    /// table versions its JSON recorded (so the files come out the same), unless `options` ask
    /// for `as_of` or a refresh.
    pub async fn generate(
        &self,
        week: ReportWeek,
        options: &RunOptions,
    ) -> Result<Generated, ReportError> {
        let files = self.files(week);
        let recorded = if options.refresh || options.as_of.is_some() {
            None
        } else {
            recorded_versions(&files.dir).await?
        };
        let source = KpiSource::open(
            self.engine.clone(),
            recorded,
            options.as_of,
            self.week_start,
        )
        .await?;
        let r = &self.settings.report;
        let spec = ReportSpec {
            city: &r.city,
            week,
            lang: self.lang,
            targets: &self.targets,
            settings: r,
        };
        let report = build::build(&source, self.engine.catalog(), &spec).await?;
        let mut json = serde_json::to_vec_pretty(&report).expect("a report serialises");
        json.push(b'\n');
        let mut outputs = vec![
            (
                files.html.clone(),
                render::html::render(&report, self.lang, None),
            ),
            (
                files.markdown.clone(),
                render::markdown::render(&report, self.lang, None),
            ),
        ];
        for code in &self.recipient_districts {
            outputs.push((
                files.district(code, "html"),
                render::html::render(&report, self.lang, Some(code.as_str())),
            ));
            outputs.push((
                files.district(code, "md"),
                render::markdown::render(&report, self.lang, Some(code.as_str())),
            ));
        }
        deliver::write_file(&files.json, json.clone()).await?;
        for (path, text) in outputs {
            deliver::write_file(&path, text.into_bytes()).await?;
        }
        Ok(Generated {
            report,
            files,
            json,
        })
    }

    /// Generates `week` and delivers it on every configured channel that has not had it yet.
    pub async fn run_week(
        &self,
        week: ReportWeek,
        options: &RunOptions,
    ) -> Result<WeekOutcome, ReportError> {
        let generated = self.generate(week, options).await?;
        let mut outcome = WeekOutcome {
            week,
            versions: generated.report.source.table_versions.clone(),
            files: generated.files.clone(),
            sent: Vec::new(),
            already_sent: Vec::new(),
        };
        if !options.no_send {
            self.deliver(&generated, &mut outcome, options.force)
                .await?;
        }
        Ok(outcome)
    }

    /// Every delivery `week` should have.
    fn deliveries(&self, week: &str) -> Vec<Delivery> {
        let r = &self.settings.report;
        let mut out = Vec::new();
        if !r.publish_topic.is_empty() {
            out.push(Delivery {
                channel: format!("kafka:{}", r.publish_topic),
                to: format!("{}/{week}", r.city),
                district: None,
            });
        }
        if !r.smtp.host.is_empty() {
            if !r.recipients.city.is_empty() {
                out.push(Delivery {
                    channel: "mail".into(),
                    to: r.recipients.city.join(","),
                    district: None,
                });
            }
            for (code, addresses) in r.recipients.districts.iter().filter(|(_, a)| !a.is_empty()) {
                out.push(Delivery {
                    channel: format!("mail:{code}"),
                    to: addresses.join(","),
                    district: Some(code.clone()),
                });
            }
        }
        out
    }

    async fn deliver(
        &self,
        generated: &Generated,
        outcome: &mut WeekOutcome,
        force: bool,
    ) -> Result<(), ReportError> {
        let r = &self.settings.report;
        let report = &generated.report;
        let week = report.week.id.clone();
        let mut log = SentLog::open(&r.out_dir).await?;
        let subject = match self.lang {
            Lang::Zh => format!(
                "【完整社区建设周报】{} {}（{} 至 {}）",
                report.city.place.name_zh, week, report.week.start, report.week.end
            ),
            Lang::En => format!(
                "Complete-community weekly report: {}, {} ({} to {})",
                report.city.place.name_en, week, report.week.start, report.week.end
            ),
        };
        for Delivery {
            channel,
            to,
            district,
        } in self.deliveries(&week)
        {
            let label = format!("{channel} → {to}");
            if !force && log.find(&r.city, &week, &channel, &to).is_some() {
                outcome.already_sent.push(label);
                continue;
            }
            let digest = if let Some(topic) = channel.strip_prefix("kafka:") {
                deliver::publish(&self.settings.kafka, topic, &to, &generated.json).await?;
                deliver::digest(&generated.json)
            } else {
                let district = district.as_deref();
                let recipients: Vec<String> = to.split(',').map(str::to_owned).collect();
                let html = render::html::render(report, self.lang, district);
                let digest = deliver::digest(html.as_bytes());
                deliver::send_mail(
                    &r.smtp,
                    Mail {
                        to: &recipients,
                        subject: subject.clone(),
                        html,
                        text: render::markdown::render(report, self.lang, district),
                    },
                )
                .await?;
                digest
            };
            log.record(SentEntry {
                city: r.city.clone(),
                week: week.clone(),
                channel,
                to,
                digest,
                sent_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .await?;
            outcome.sent.push(label);
        }
        Ok(())
    }

    /// Whether `week` has its files and every configured delivery.
    pub async fn is_done(&self, week: ReportWeek) -> Result<bool, ReportError> {
        let files = self.files(week);
        if !tokio::fs::try_exists(&files.json).await.unwrap_or(false) {
            return Ok(false);
        }
        let log = SentLog::open(&self.settings.report.out_dir).await?;
        let id = week.to_string();
        let city = &self.settings.report.city;
        Ok(self
            .deliveries(&id)
            .iter()
            .all(|d| log.find(city, &id, &d.channel, &d.to).is_some()))
    }

    /// Runs until `shutdown` resolves: each week is produced and sent at its cut-off, and on
    /// start the last `catch_up_weeks` weeks that are due but not done are caught up. `now`
    /// tells the time (the real clock, or a replayed one).
    pub async fn schedule(
        &self,
        now: impl Fn() -> DateTime<FixedOffset>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ReportError> {
        tokio::pin!(shutdown);
        let catch_up = i64::from(self.settings.report.catch_up_weeks.max(1));
        loop {
            let last = self.last_due(now());
            for week in (0..catch_up).rev().map(|i| last.offset(-i)) {
                if self.is_done(week).await? {
                    continue;
                }
                match self.run_week(week, &RunOptions::default()).await {
                    Ok(outcome) => tracing::info!(
                        week = %week,
                        dir = %outcome.files.dir.display(),
                        sent = ?outcome.sent,
                        "weekly report produced"
                    ),
                    // The next round tries again; other weeks go on.
                    Err(e) => tracing::error!(week = %week, error = %e, "weekly report failed"),
                }
            }
            let next = last.offset(1).cutoff(self.cutoff);
            let wait = (next - now()).to_std().unwrap_or_default().clamp(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(300),
            );
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// One delivery a week should have.
struct Delivery {
    /// `kafka:<topic>`, `mail` (the city's recipients) or `mail:<district>`.
    channel: String,
    /// Recipients, or the Kafka record key.
    to: String,
    /// The district whose page is sent.
    district: Option<String>,
}

/// The table versions a report of this week recorded (any language), if one was produced.
async fn recorded_versions(dir: &Path) -> Result<Option<Vec<TableVersion>>, ReportError> {
    let mut jsons = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return Ok(None);
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("report.") && n.ends_with(".json"))
        {
            jsons.push(path);
        }
    }
    jsons.sort();
    let Some(path) = jsons.first() else {
        return Ok(None);
    };
    let bad = |e: String| ReportError::Input(format!("{}: {e}", path.display()));
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let versions = serde_json::from_value(value["source"]["table_versions"].clone())
        .map_err(|e| bad(format!("source.table_versions: {e}")))?;
    Ok(Some(versions))
}
