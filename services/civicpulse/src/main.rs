//! `civicpulse`: the project's command line.
//!
//! ```text
//! civicpulse demo [--city beijing] [--weeks 4] [--scale 0.1] [--brokers HOST:PORT]
//! civicpulse land --lake DIR FILE.jsonl...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use civicpulse::demo::{self, DemoArgs};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "civicpulse",
    version,
    about = "City statistics for China's complete-community programme"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulates a city for a few weeks, lands its three streams through the ingest services
    /// (on an embedded broker unless --brokers), prints the last week's headline KPIs per
    /// district from kpi-query and serves kpi-query on HTTP and PostgreSQL until Ctrl-C.
    Demo(DemoArgs),
    /// Lands JSONL files of events into a lake without a broker, decoded and normalised by the
    /// ingest services' code (needs CIVICPULSE_HASH_KEY). A file's name says its stream:
    /// hotline.tickets.jsonl, facility.changes.jsonl or renovation.progress.jsonl. A line the
    /// ingest refuses stops the landing with its file, line and reason.
    Land {
        /// The lake's directory.
        #[arg(long)]
        lake: PathBuf,
        /// The files, landed in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Land { lake, files } => land(&lake, &files),
        Command::Demo(args) => {
            // SAFETY: no other thread exists yet.
            let key_generated = unsafe { demo::ensure_hash_key() };
            // DataFusion's planner recurses deeply on nested SQL: room as kpi-query gives it.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_stack_size(256 << 20)
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("civicpulse demo: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let outcome = runtime.block_on(demo::run(args, key_generated));
            // Blocking work still under way (a cancelled simulation) is not waited for long.
            runtime.shutdown_timeout(Duration::from_secs(5));
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("civicpulse demo: {e}");
                    ExitCode::from(if e.is_usage() { 2 } else { 1 })
                }
            }
        }
    }
}

fn land(lake: &std::path::Path, files: &[PathBuf]) -> ExitCode {
    let landed = civicpulse_core::settings::Settings::hash_key()
        .map_err(|e| e.to_string())
        .and_then(|key| civicpulse::land::land(lake, files, &key).map_err(|e| e.to_string()));
    match landed {
        Ok(counts) => {
            for (file, n) in files.iter().zip(counts) {
                println!("{}: {n} events", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("civicpulse land: {e}");
            ExitCode::FAILURE
        }
    }
}
