//! The demo's progress bars on stderr: simulate, land (one bar per topic), query. Without a
//! terminal the bars are hidden and each phase prints one line when it ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use citysim::Observer;
use citysim::clock::HOUR_MS;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one demo run.
pub struct Progress {
    multi: MultiProgress,
    visible: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Bars on stderr when it is a terminal.
    pub fn new() -> Self {
        let visible = std::io::stderr().is_terminal();
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            visible,
        }
    }

    /// Prints a line above the bars (or alone without a terminal).
    pub fn note(&self, line: &str) {
        if self.visible {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// The bar over simulated time.
    pub fn simulate(&self) -> SimulationBar {
        let bar = self.add(
            "{prefix:>22} [{bar:32}] {percent:>3}% {msg}",
            "simulate",
            Some(1),
        );
        SimulationBar {
            bar,
            started: Instant::now(),
        }
    }

    /// The bar of rows landed from `topic`.
    pub fn land(&self, topic: &str) -> ProgressBar {
        self.add(
            "{prefix:>22} [{bar:32}] {pos}/{len} rows {msg}",
            &format!("land {topic}"),
            Some(0),
        )
    }

    /// A spinner for a step without a count.
    pub fn spinner(&self, prefix: &str) -> ProgressBar {
        self.add("{prefix:>22} {spinner} {msg}", prefix, None)
    }

    fn add(&self, template: &str, prefix: &str, len: Option<u64>) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::with_draw_target(
            len,
            ProgressDrawTarget::hidden(),
        ));
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Removes the bars from the screen.
    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}

/// citysim's progress, in simulated hours.
pub struct SimulationBar {
    bar: ProgressBar,
    started: Instant,
}

impl SimulationBar {
    /// The bar.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}

impl Observer for SimulationBar {
    fn start(&mut self, total_ms: i64) {
        self.bar.set_length((total_ms / HOUR_MS).max(1) as u64);
    }

    fn progress(&mut self, done_ms: i64, records: u64) {
        self.bar.set_position((done_ms / HOUR_MS) as u64);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{records} records, {:.0}/s", records as f64 / secs));
    }

    fn finish(&mut self) {
        if let Some(len) = self.bar.length() {
            self.bar.set_position(len);
        }
        self.bar.finish();
    }
}
