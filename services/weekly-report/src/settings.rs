//! weekly-report's configuration: the `[report]` section besides the shared `[lake]`,
//! `[kafka]`, `[query]` (limits and the rates' weights) and `[telemetry]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use civicpulse_core::settings::{KafkaSettings, LakeSettings, TelemetrySettings};
use kpi_query::QuerySettings;
use serde::Deserialize;

/// Everything weekly-report reads from configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReportServiceSettings {
    /// The lake it reads.
    pub lake: LakeSettings,
    /// Brokers for publishing the JSON (`kafka.brokers`, `kafka.properties`).
    pub kafka: KafkaSettings,
    /// Query limits and the versions of the hotline rates' weights, as kpi-query uses them.
    pub query: QuerySettings,
    /// Logs.
    pub telemetry: TelemetrySettings,
    /// The report.
    pub report: ReportSettings,
}

/// What a report covers, where it goes and which rules raise red flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ReportSettings {
    /// City code (`110000` Beijing, `500000` Chongqing, `330100` Hangzhou).
    pub city: String,
    /// `zh` (default) or `en`.
    pub lang: String,
    /// Output directory: `<out_dir>/<city>/<week>/…` and the sent-log.
    pub out_dir: PathBuf,
    /// Weekday report weeks start on (`monday`: ISO weeks).
    pub week_start: String,
    /// Local time (`HH:MM`, Asia/Shanghai) on the day after a week ends at which its figures
    /// are taken and the report is sent.
    pub cutoff: String,
    /// On start, the schedule catches up at most this many missed weeks.
    pub catch_up_weeks: u32,
    /// Annual targets (TOML, see `deploy/targets.toml`).
    pub targets_file: Option<PathBuf>,
    /// Kafka topic the JSON is published to; empty disables publishing.
    pub publish_topic: String,
    /// Categories, communities and overdue projects listed per section.
    pub top_n: usize,
    /// Mail delivery.
    pub smtp: SmtpSettings,
    /// Who receives which report.
    pub recipients: Recipients,
    /// Red-flag rules.
    pub rules: FlagRules,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            city: "110000".into(),
            lang: "zh".into(),
            out_dir: PathBuf::from("./reports"),
            week_start: "monday".into(),
            cutoff: "09:00".into(),
            catch_up_weeks: 4,
            targets_file: None,
            publish_topic: "reports.weekly".into(),
            top_n: 5,
            smtp: SmtpSettings::default(),
            recipients: Recipients::default(),
            rules: FlagRules::default(),
        }
    }
}

/// The SMTP server reports are mailed through.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// Host; empty disables mail.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    /// Login user; empty: no login.
    pub username: String,
    /// Login password (set it with `CIVICPULSE_REPORT__SMTP__PASSWORD`, not in a file).
    pub password: String,
    /// `From:` address.
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 25,
            tls: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "civicpulse <reports@localhost>".into(),
        }
    }
}

/// Mail recipients: the city's get the whole report, a district's get the city summary and
/// their district's section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Recipients {
    /// Addresses receiving the whole report.
    pub city: Vec<String>,
    /// District code → addresses.
    pub districts: BTreeMap<String, Vec<String>>,
}

/// Thresholds of the red-flag rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FlagRules {
    /// A rate falling at least this many percentage points (score points for the composite)
    /// week over week.
    pub rate_drop_points: f64,
    /// … when the week has at least this many valid visits (small samples swing).
    pub rate_min_visits: f64,
    /// A complaint category at this multiple of its average over the 8 weeks before.
    pub category_spike_ratio: f64,
    /// … with at least this many requests in the week.
    pub category_min_requests: f64,
    /// A targeted KPI without progress for this many weeks.
    pub stall_weeks: u32,
}

impl Default for FlagRules {
    fn default() -> Self {
        Self {
            rate_drop_points: 3.0,
            rate_min_visits: 20.0,
            category_spike_ratio: 2.0,
            category_min_requests: 10.0,
            stall_weeks: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn deploy_example_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/civicpulse.toml");
        let s: ReportServiceSettings = civicpulse_core::settings::load_config(Some(&path)).unwrap();
        let (r, d) = (s.report, ReportSettings::default());
        assert_eq!(
            (&r.city, &r.lang, &r.out_dir, &r.week_start, &r.cutoff),
            (&d.city, &d.lang, &d.out_dir, &d.week_start, &d.cutoff)
        );
        assert_eq!(
            (r.catch_up_weeks, &r.publish_topic, r.top_n),
            (d.catch_up_weeks, &d.publish_topic, d.top_n)
        );
        assert_eq!(
            (&r.smtp.host, r.smtp.port, &r.smtp.tls, &r.smtp.from),
            (&d.smtp.host, d.smtp.port, &d.smtp.tls, &d.smtp.from)
        );
        assert_eq!(r.rules.rate_drop_points, d.rules.rate_drop_points);
        assert_eq!(r.rules.rate_min_visits, d.rules.rate_min_visits);
        assert_eq!(r.rules.category_spike_ratio, d.rules.category_spike_ratio);
        assert_eq!(r.rules.category_min_requests, d.rules.category_min_requests);
        assert_eq!(r.rules.stall_weeks, d.rules.stall_weeks);
    }
}
