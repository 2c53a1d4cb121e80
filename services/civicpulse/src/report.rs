//! The week's leader summary (领导周报) that the demo writes beside the lake: weekly-report's
//! files over the demo's own query engine, nothing sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use citysim::profile::CityProfile;
use kpi_query::QueryEngine;
use weekly_report::settings::ReportServiceSettings;
use weekly_report::targets::Targets;
use weekly_report::{RunOptions, WeeklyReporter};

use crate::table::Week;

/// Why the leader summary could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report failed.
    #[error("weekly report: {0}")]
    Report(#[from] weekly_report::ReportError),
    /// The built-in targets do not parse.
    #[error("weekly report targets: {0}")]
    Targets(String),
}

/// Haidian's published 2024 figures as annual targets (`deploy/targets.toml`).
const TARGETS: &str = include_str!("../../../deploy/targets.toml");

/// Writes the leader summary of `week` for `city` from `engine` into `dir` (Chinese HTML,
/// Markdown and JSON, Haidian's published 2024 figures as targets) and returns the HTML's path.
pub async fn write_leader_summary(
    engine: &Arc<QueryEngine>,
    city: &CityProfile,
    week: Week,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let mut settings = ReportServiceSettings::default();
    let r = &mut settings.report;
    r.city = city.city_code.to_owned();
    r.out_dir = dir.to_path_buf();
    r.publish_topic.clear();
    // The example targets are built in, so an installed binary has them too.
    let targets = Targets::parse(TARGETS).map_err(ReportError::Targets)?;
    let reporter = WeeklyReporter::with_engine(engine.clone(), settings)?.with_targets(targets);
    let week = reporter.week(&week.label())?;
    // Each demo lands a new lake: never reuse the table versions an earlier run recorded.
    let options = RunOptions {
        no_send: true,
        refresh: true,
        ..RunOptions::default()
    };
    let outcome = reporter.run_week(week, &options).await?;
    Ok(outcome.files.html)
}
