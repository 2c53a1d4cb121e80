//! The week's leader summary (领导周报) that the demo writes beside the lake: weekly-report's
//! files over the demo's own query engine, nothing sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use citysim::profile::CityProfile;
use kpi_query::QueryEngine;
use weekly_report::settings::ReportServiceSettings;
use weekly_report::{RunOptions, WeeklyReporter};

use crate::table::Week;

/// Why the leader summary could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report failed.
    #[error("weekly report: {0}")]
    Report(#[from] weekly_report::ReportError),
}

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
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/targets.toml");
    r.targets_file = targets.exists().then_some(targets);
    let reporter = WeeklyReporter::with_engine(engine.clone(), settings)?;
    let week = reporter.week(&week.label())?;
    let options = RunOptions {
        no_send: true,
        ..RunOptions::default()
    };
    let outcome = reporter.run_week(week, &options).await?;
    Ok(outcome.files.html)
}
