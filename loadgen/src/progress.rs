//! The live view of a run: a progress bar with the current figures on a terminal, a plain
//! line every 10 s otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The figures shown while running, from the last second(s) the recorder handed out: it
/// holds each second for [`crate::recorder::SETTLE`] so that requests due in it can finish,
/// so `rps` and `p95_ms` trail the clock by that much.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub level: f64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub error_pct: f64,
    pub requests: u64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    total: Duration,
    unit: &'static str,
    label: String,
    last_line: Instant,
}

const PLAIN_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    pub fn new(label: &str, total: Duration, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total.as_millis() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {elapsed_precise} [{bar:25}] {percent:>3}% {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Self {
            bar,
            total,
            unit,
            label: label.to_string(),
            last_line: Instant::now(),
        }
    }

    fn figures(&self, s: &Snapshot) -> String {
        let p95 = s.p95_ms.map_or("-".to_string(), |p| format!("{p:.1} ms"));
        format!(
            "{:.0} {} · {:.0} req/s · p95 {p95} · errors {:.1}% · {} requests",
            s.level, self.unit, s.rps, s.error_pct, s.requests
        )
    }

    pub fn update(&mut self, snapshot: &Snapshot) {
        let figures = self.figures(snapshot);
        match &self.bar {
            Some(bar) => {
                bar.set_position(snapshot.elapsed.min(self.total).as_millis() as u64);
                bar.set_message(figures);
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "{} {:>5.0}s/{:.0}s {figures}",
                    self.label,
                    snapshot.elapsed.as_secs_f64(),
                    self.total.as_secs_f64()
                );
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
