//! `weekly-report`: the weekly summary of the complete-community programme for a city's leaders.
//!
//! ```text
//! weekly-report --lake DIR --week 2024-W23 --out DIR     # one week, files and deliveries
//! weekly-report --lake DIR --schedule                    # each week at its cut-off, catching up
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Utc};
use civicpulse_core::settings::load_config;
use civicpulse_core::telemetry;
use clap::Parser;
use weekly_report::settings::ReportServiceSettings;
use weekly_report::week::shanghai;
use weekly_report::{ReportError, RunOptions, WeeklyReporter};

#[derive(Debug, Parser)]
#[command(about = "Writes and sends the weekly complete-community summary of a city")]
struct Args {
    /// TOML configuration file (sections [report], [lake], [kafka], [query], [telemetry]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Lake root: a directory or `s3://bucket/prefix` (overrides lake.root).
    #[arg(long)]
    lake: Option<String>,
    /// Output directory (overrides report.out_dir).
    #[arg(long)]
    out: Option<PathBuf>,
    /// City code (overrides report.city), e.g. 110000 Beijing.
    #[arg(long)]
    city: Option<String>,
    /// `zh` (default) or `en`.
    #[arg(long)]
    lang: Option<String>,
    /// Annual targets file (overrides report.targets_file).
    #[arg(long)]
    targets: Option<PathBuf>,
    /// The week, e.g. `2024-W23`; default the last week whose cut-off has passed.
    #[arg(long, conflicts_with = "schedule")]
    week: Option<String>,
    /// Keep running: produce and send each week at its cut-off, catching up missed weeks.
    #[arg(long)]
    schedule: bool,
    /// Read the lake as it stood at this time (RFC 3339) instead of the recorded versions.
    #[arg(long)]
    as_of: Option<String>,
    /// Read the latest table versions even if the week was produced before.
    #[arg(long)]
    refresh: bool,
    /// Send again what the sent-log says was sent.
    #[arg(long)]
    force: bool,
    /// Write the files only.
    #[arg(long)]
    no_send: bool,
    /// Take this time as now (RFC 3339): replays a schedule or picks the default week.
    #[arg(long)]
    now: Option<String>,
}

fn parse_time(value: &str, what: &str) -> Result<DateTime<FixedOffset>, ReportError> {
    kpi_query::lake::parse_as_of(value).map_err(|e| ReportError::Input(format!("{what}: {e}")))
}

async fn run(args: Args) -> Result<(), ReportError> {
    let mut settings: ReportServiceSettings = load_config(args.config.as_deref())?;
    if let Some(lake) = args.lake {
        settings.lake.root = lake;
    }
    let r = &mut settings.report;
    if let Some(out) = args.out {
        r.out_dir = out;
    }
    if let Some(city) = args.city {
        r.city = city;
    }
    if let Some(lang) = args.lang {
        r.lang = lang;
    }
    if let Some(targets) = args.targets {
        r.targets_file = Some(targets);
    }
    // The SMTP password may come from a file too (the environment is checked in main).
    civicpulse_core::secret::check("report.smtp.password", &r.smtp.password)
        .map_err(|e| ReportError::Input(e.to_string()))?;
    telemetry::init(&settings.telemetry);
    let reporter = WeeklyReporter::open(settings).await?;

    let started = Instant::now();
    let now_at = match &args.now {
        Some(t) => parse_time(t, "--now")?,
        None => Utc::now().with_timezone(&shanghai()),
    };
    let now = move || now_at + chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default();
    if args.schedule {
        return reporter
            .schedule(now, civicpulse_core::service::shutdown_signal())
            .await;
    }
    let week = match &args.week {
        Some(id) => reporter.week(id)?,
        None => reporter.last_due(now()),
    };
    let options = RunOptions {
        as_of: args
            .as_of
            .as_deref()
            .map(|t| parse_time(t, "--as-of"))
            .transpose()?,
        refresh: args.refresh,
        force: args.force,
        no_send: args.no_send,
    };
    let outcome = reporter.run_week(week, &options).await?;
    println!("weekly report {} ({}–{})", week, week.start(), week.end());
    for path in [
        &outcome.files.html,
        &outcome.files.markdown,
        &outcome.files.json,
    ] {
        println!("  {}", path.display());
    }
    let versions: Vec<String> = outcome
        .versions
        .iter()
        .map(|v| {
            format!(
                "{}@{}",
                v.table,
                v.version.map_or("-".into(), |n| n.to_string())
            )
        })
        .collect();
    println!("  read {}", versions.join(" "));
    for s in &outcome.sent {
        println!("  sent {s}");
    }
    for s in &outcome.already_sent {
        println!("  already sent {s} (--force sends again)");
    }
    Ok(())
}

fn main() -> ExitCode {
    civicpulse_core::secret::refuse_example_secrets("weekly-report");
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weekly-report: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weekly-report: {e}");
            ExitCode::FAILURE
        }
    }
}
