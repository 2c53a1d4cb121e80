//! Service configuration: built-in defaults, then a TOML file (`--config`), then
//! `CIVICPULSE_<SECTION>__<KEY>` environment variables, then command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::row::RowLimits;

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file or an environment value could not be read or has the wrong type.
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// A required secret is missing from the environment.
    #[error(
        "{0} is not set: export a random secret of at least 16 bytes (it is never read from a file in the repository)"
    )]
    MissingSecret(&'static str),
}

/// Kafka connection and topic settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]` of the brokers.
    pub brokers: String,
    /// Consumer group; every instance of one service shares it.
    pub group_id: String,
    /// Topic to consume.
    pub topic: String,
    /// Dead-letter topic; `<topic>.dlq` when empty.
    pub dlq_topic: String,
    /// librdkafka `fetch.wait.max.ms`: how long a fetch waits for data.
    pub fetch_wait_max_ms: u32,
    /// librdkafka `session.timeout.ms`.
    pub session_timeout_ms: u32,
    /// Extra librdkafka properties for every client (e.g. `security.protocol`).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: String::new(),
            topic: String::new(),
            dlq_topic: String::new(),
            fetch_wait_max_ms: 100,
            session_timeout_ms: 10_000,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    /// The dead-letter topic in effect.
    pub fn dlq_topic(&self) -> String {
        if self.dlq_topic.is_empty() {
            format!("{}.dlq", self.topic)
        } else {
            self.dlq_topic.clone()
        }
    }
}

/// Where the lake is.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LakeSettings {
    /// A directory, or `s3://bucket/prefix`.
    pub root: String,
    /// Object-store options (`aws_endpoint`, `aws_access_key_id`, `aws_allow_http` …).
    pub storage_options: BTreeMap<String, String>,
}

impl Default for LakeSettings {
    fn default() -> Self {
        Self {
            root: "./lake".into(),
            storage_options: BTreeMap::new(),
        }
    }
}

/// When a batch is committed, and how its files are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LandingSettings {
    /// Commit once this many rows are buffered.
    pub max_rows: usize,
    /// Commit once this many payload bytes are buffered.
    pub max_bytes: usize,
    /// Commit a non-empty batch at least this often (bounds freshness at low volume).
    pub max_age_ms: u64,
    /// Records larger than this go to the dead-letter topic as `oversized`.
    pub max_record_bytes: usize,
    /// zstd level of the Parquet files.
    pub zstd_level: i32,
    /// Roll to a new file past this size within one commit.
    pub target_file_size: u64,
    /// Earliest year (UTC) of any timestamp a row may hold; earlier ones are dead-lettered as
    /// `schema_violation.invalid_value`.
    pub min_year: i32,
    /// Earliest year of a calendar date (`opened_date`, `status_date` …, construction years).
    pub min_date_year: i32,
    /// Latest year of any timestamp or date.
    pub max_year: i32,
    /// Longest text value in bytes; longer ones are dead-lettered as `oversized`.
    pub max_field_bytes: usize,
    /// `/healthz` answers 503 when the landing loop made no progress for this long while
    /// records wait (or one step, such as a batch write, runs this long).
    pub stall_timeout_secs: u64,
    /// Where to start a partition the table holds no offsets for.
    pub start_offset: StartOffset,
}

/// Where a partition without offsets in the table starts; Kafka's committed offsets are never
/// used for that (they may run ahead of what landed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    /// The oldest record the broker keeps: every record lands.
    #[default]
    Earliest,
    /// The end of the partition when the service first sees it: older records are skipped on
    /// purpose.
    Latest,
}

impl Default for LandingSettings {
    fn default() -> Self {
        let limits = RowLimits::default();
        Self {
            max_rows: 200_000,
            max_bytes: 96 * 1024 * 1024,
            max_age_ms: 5_000,
            max_record_bytes: 1024 * 1024,
            zstd_level: 3,
            target_file_size: 128 * 1024 * 1024,
            min_year: limits.min_year,
            min_date_year: limits.min_date_year,
            max_year: limits.max_year,
            max_field_bytes: limits.max_field_bytes,
            stall_timeout_secs: 120,
            start_offset: StartOffset::Earliest,
        }
    }
}

impl LandingSettings {
    /// `max_age_ms` as a duration.
    pub fn max_age(&self) -> Duration {
        Duration::from_millis(self.max_age_ms)
    }

    /// `stall_timeout_secs` as a duration.
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs(self.stall_timeout_secs)
    }

    /// What a landed value may be.
    pub fn row_limits(&self) -> RowLimits {
        RowLimits {
            min_year: self.min_year,
            min_date_year: self.min_date_year,
            max_year: self.max_year,
            max_field_bytes: self.max_field_bytes,
        }
    }
}

/// Reference files `lake-maintain load-reference` loads into the lake (see
/// [`crate::reference`]): CSV with a header, or Parquet, by extension. Unset: not loaded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReferenceSettings {
    /// The `communities` file (one row per community and version).
    pub communities: Option<PathBuf>,
    /// The `life_circles` file.
    pub life_circles: Option<PathBuf>,
    /// The `community_assessments` file.
    pub community_assessments: Option<PathBuf>,
}

impl ReferenceSettings {
    /// The file configured for `table`.
    pub fn file(&self, table: crate::reference::ReferenceTable) -> Option<&Path> {
        use crate::reference::ReferenceTable;
        match table {
            ReferenceTable::Communities => self.communities.as_deref(),
            ReferenceTable::LifeCircles => self.life_circles.as_deref(),
            ReferenceTable::CommunityAssessments => self.community_assessments.as_deref(),
        }
    }
}

/// Logs and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `human` or `json`.
    pub log_format: String,
    /// A `tracing` filter, e.g. `info` or `civicpulse_core=debug`.
    pub log_level: String,
    /// Address of `/metrics` and `/healthz`; empty disables the endpoint.
    pub http_addr: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: "human".into(),
            log_level: "info".into(),
            http_addr: String::new(),
        }
    }
}

/// Table maintenance schedule (`lake-maintain`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MaintainSettings {
    /// Seconds between maintenance rounds.
    pub interval_secs: u64,
    /// Compaction target file size in bytes.
    pub target_file_size: u64,
    /// Vacuum removes unreferenced files older than this many seconds. Keep it well above the
    /// longest commit interval: a file being written is unreferenced until its commit lands.
    pub vacuum_retention_secs: u64,
    /// `lake-maintain state`: milliseconds between looks at the event tables' logs.
    pub state_interval_ms: u64,
    /// `lake-maintain state`: about how many landed events one state commit folds in (bounds
    /// its memory; a catch-up or rebuild takes several commits).
    pub state_max_rows: u64,
    /// `lake-maintain state`: while it keeps a state from nothing (new, or reset by
    /// `--rebuild`), seconds a file it wrote stays on storage after a later step replaced it
    /// (longer than a query or report run reading the version that held it).
    pub state_replaced_grace_secs: u64,
}

impl Default for MaintainSettings {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
            target_file_size: 256 * 1024 * 1024,
            vacuum_retention_secs: 7 * 24 * 3600,
            state_interval_ms: 1000,
            state_max_rows: 500_000,
            state_replaced_grace_secs: 120,
        }
    }
}

/// Everything a civicpulse service reads from configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Kafka.
    pub kafka: KafkaSettings,
    /// The lake.
    pub lake: LakeSettings,
    /// Batching and files.
    pub landing: LandingSettings,
    /// Reference files loaded into the lake.
    pub reference: ReferenceSettings,
    /// Logs and metrics.
    pub telemetry: TelemetrySettings,
    /// Maintenance.
    pub maintain: MaintainSettings,
}

/// Loads any settings struct the way [`Settings::load`] does: defaults, then `file`, then
/// `CIVICPULSE_<SECTION>__<KEY>` environment overrides. Services with sections of their own
/// (`[query]`) load their own struct with it.
pub fn load_config<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    let settings = builder
        .add_source(
            config::Environment::with_prefix("CIVICPULSE")
                .prefix_separator("_")
                .separator("__"),
        )
        .build()?
        .try_deserialize()?;
    Ok(settings)
}

/// Environment variable holding the caller-hash key.
pub const HASH_KEY_ENV: &str = "CIVICPULSE_HASH_KEY";

impl Settings {
    /// Loads defaults, then `file` if given, then `CIVICPULSE_…` environment overrides
    /// (`CIVICPULSE_KAFKA__BROKERS=host:9092`).
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        load_config(file)
    }

    /// The caller-hash key from the environment; services that land hotline data refuse to start
    /// without it.
    pub fn hash_key() -> Result<Vec<u8>, SettingsError> {
        match std::env::var(HASH_KEY_ENV) {
            Ok(key) if !key.is_empty() => Ok(key.into_bytes()),
            _ => Err(SettingsError::MissingSecret(HASH_KEY_ENV)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[kafka]\nbrokers = \"127.0.0.1:1\"\ntopic = \"t\"\n[landing]\nmax_rows = 7\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.kafka.brokers, "127.0.0.1:1");
        assert_eq!(s.kafka.dlq_topic(), "t.dlq");
        assert_eq!(s.landing.max_rows, 7);
        assert_eq!(s.landing.max_age_ms, 5_000);
    }

    #[test]
    fn deploy_example_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/civicpulse.toml");
        let s = Settings::load(Some(&path)).unwrap();
        let d = Settings::default();
        assert_eq!(s.kafka.brokers, d.kafka.brokers);
        assert_eq!(s.kafka.fetch_wait_max_ms, d.kafka.fetch_wait_max_ms);
        assert_eq!(s.kafka.session_timeout_ms, d.kafka.session_timeout_ms);
        assert_eq!(s.lake.root, d.lake.root);
        assert_eq!(s.landing.max_rows, d.landing.max_rows);
        assert_eq!(s.landing.max_bytes, d.landing.max_bytes);
        assert_eq!(s.landing.max_age_ms, d.landing.max_age_ms);
        assert_eq!(s.landing.max_record_bytes, d.landing.max_record_bytes);
        assert_eq!(s.landing.target_file_size, d.landing.target_file_size);
        assert_eq!(s.landing.row_limits(), d.landing.row_limits());
        assert_eq!(s.landing.stall_timeout_secs, d.landing.stall_timeout_secs);
        assert_eq!(s.landing.start_offset, d.landing.start_offset);
        assert_eq!(s.maintain.interval_secs, d.maintain.interval_secs);
        assert_eq!(s.maintain.target_file_size, d.maintain.target_file_size);
        assert_eq!(
            s.maintain.vacuum_retention_secs,
            d.maintain.vacuum_retention_secs
        );
        assert_eq!(s.maintain.state_interval_ms, d.maintain.state_interval_ms);
        assert_eq!(s.maintain.state_max_rows, d.maintain.state_max_rows);
        assert_eq!(
            s.maintain.state_replaced_grace_secs,
            d.maintain.state_replaced_grace_secs
        );
        assert_eq!(s.reference.communities, d.reference.communities);
        assert_eq!(s.reference.life_circles, d.reference.life_circles);
        assert_eq!(
            s.reference.community_assessments,
            d.reference.community_assessments
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[landing]\nmax_rows = \"lots\"\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
    }
}
