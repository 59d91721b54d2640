//! Escenario 2, the worker path: video tasks go straight into the queue (bypassing the web
//! layer) and the run measures how many videos per minute the workers finish.
//!
//! Pure: which cells a matrix holds and, for each, how many tasks are due at a moment. The
//! load generator samples the queue and injects what [`Injection::due`] says.
//!
//! - Sustained: a fixed number of tasks kept in the system (queued + in progress), topped up
//!   as they finish, until the planned total has been queued: the workers never starve and
//!   the queue cannot grow, so the run measures their capacity X and service time S.
//! - Saturation: arrivals at a rate raised step by step (a staircase): below capacity the
//!   queue stays flat, above it grows without bound, and the first growing step is the
//!   saturation point.

use std::time::Duration;

/// The two modes of the course's design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Saturation,
    Sustained,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saturation => "saturation",
            Self::Sustained => "sustained",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "saturation" => Ok(Self::Saturation),
            "sustained" => Ok(Self::Sustained),
            other => Err(format!(
                "unknown mode {other:?}; use saturation or sustained"
            )),
        }
    }
}

/// One cell of the size × concurrency × mode matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub size_bytes: u64,
    /// Tasks one worker processes at once.
    pub concurrency: u32,
    pub mode: Mode,
}

impl Cell {
    /// A short name for run ids and tables: `50MB-c2-sustained`.
    pub fn label(&self) -> String {
        let size = if self.size_bytes >= 1_000_000 && self.size_bytes.is_multiple_of(1_000_000) {
            format!("{}MB", self.size_bytes / 1_000_000)
        } else if self.size_bytes >= 1_000 && self.size_bytes.is_multiple_of(1_000) {
            format!("{}KB", self.size_bytes / 1_000)
        } else {
            format!("{}B", self.size_bytes)
        };
        format!("{size}-c{}-{}", self.concurrency, self.mode.as_str())
    }
}

/// The course's matrix: every size × concurrency, sustained before saturation (a
/// saturation run without a given rate starts from what the sustained run measured).
pub fn matrix(sizes: &[u64], concurrencies: &[u32], modes: &[Mode]) -> Vec<Cell> {
    let mut modes = modes.to_vec();
    modes.sort_by_key(|m| *m != Mode::Sustained);
    modes.dedup();
    let mut cells = Vec::new();
    for &size_bytes in sizes {
        for &concurrency in concurrencies {
            for &mode in &modes {
                cells.push(Cell {
                    size_bytes,
                    concurrency,
                    mode,
                });
            }
        }
    }
    cells
}

/// How tasks are injected in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Injection {
    /// Keep `backlog` tasks in the system until `total` have been queued.
    KeepInSystem { backlog: u64, total: u64 },
    /// Arrivals at a constant rate until `total` have been queued.
    Rate { per_minute: f64, total: u64 },
    /// Arrivals at `rates[k]` tasks per minute during step k, each step `step` long.
    Staircase { rates: Vec<f64>, step: Duration },
}

impl Injection {
    /// A staircase of `steps` rates from `start` by `increment` tasks per minute.
    pub fn staircase(start: f64, increment: f64, steps: usize, step: Duration) -> Self {
        Self::Staircase {
            rates: (0..steps).map(|k| start + increment * k as f64).collect(),
            step,
        }
    }

    /// Tasks to queue now, given the time since the start, how many were queued so far and
    /// how many of those have not finished.
    pub fn due(&self, elapsed: Duration, enqueued: u64, in_system: u64) -> u64 {
        match self {
            Self::KeepInSystem { backlog, total } => backlog
                .saturating_sub(in_system)
                .min(total.saturating_sub(enqueued)),
            Self::Rate { per_minute, total } => {
                let arrived = (per_minute * elapsed.as_secs_f64() / 60.0).floor() as u64 + 1;
                arrived.min(*total).saturating_sub(enqueued)
            }
            Self::Staircase { rates, step } => {
                let arrived = arrivals_by(rates, *step, elapsed).floor() as u64;
                arrived.saturating_sub(enqueued)
            }
        }
    }

    /// True once nothing more will be queued.
    pub fn is_done(&self, elapsed: Duration, enqueued: u64) -> bool {
        match self {
            Self::KeepInSystem { total, .. } | Self::Rate { total, .. } => enqueued >= *total,
            Self::Staircase { rates, step } => elapsed >= step.mul_f64(rates.len() as f64),
        }
    }

    /// The staircase's step at `elapsed` (0 for the other injections).
    pub fn step_at(&self, elapsed: Duration) -> usize {
        match self {
            Self::Staircase { rates, step } if !step.is_zero() => {
                ((elapsed.as_secs_f64() / step.as_secs_f64()) as usize).min(rates.len() - 1)
            }
            _ => 0,
        }
    }
}

/// Tasks that have arrived by `elapsed` on the staircase: the integral of its rate.
fn arrivals_by(rates: &[f64], step: Duration, elapsed: Duration) -> f64 {
    let step_secs = step.as_secs_f64();
    let mut left = elapsed.as_secs_f64();
    let mut arrived = 0.0;
    for rate in rates {
        let span = left.min(step_secs);
        arrived += rate / 60.0 * span;
        left -= span;
        if left <= 0.0 {
            break;
        }
    }
    arrived
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_runs_sustained_first_for_every_size_and_concurrency() {
        let cells = matrix(
            &[50_000_000, 100_000_000],
            &[1, 2, 4],
            &[Mode::Saturation, Mode::Sustained],
        );
        assert_eq!(cells.len(), 12);
        assert_eq!(cells[0].label(), "50MB-c1-sustained");
        assert_eq!(cells[1].label(), "50MB-c1-saturation");
        assert_eq!(cells[11].label(), "100MB-c4-saturation");
    }

    #[test]
    fn sustained_tops_up_to_the_backlog_and_stops_at_the_total() {
        let plan = Injection::KeepInSystem {
            backlog: 4,
            total: 10,
        };
        assert_eq!(plan.due(Duration::ZERO, 0, 0), 4);
        assert_eq!(plan.due(Duration::from_secs(5), 4, 4), 0);
        assert_eq!(plan.due(Duration::from_secs(9), 4, 1), 3);
        assert_eq!(
            plan.due(Duration::from_secs(20), 8, 0),
            2,
            "capped by the total"
        );
        assert!(plan.is_done(Duration::from_secs(30), 10));
    }

    #[test]
    fn a_rate_queues_one_at_once_then_one_per_interval() {
        let plan = Injection::Rate {
            per_minute: 30.0,
            total: 3,
        };
        assert_eq!(plan.due(Duration::ZERO, 0, 0), 1);
        assert_eq!(plan.due(Duration::from_millis(1900), 1, 1), 0);
        assert_eq!(plan.due(Duration::from_secs(2), 1, 1), 1);
        assert_eq!(
            plan.due(Duration::from_secs(60), 2, 0),
            1,
            "never past the total"
        );
    }

    #[test]
    fn a_staircase_integrates_its_rates() {
        let plan = Injection::staircase(60.0, 60.0, 3, Duration::from_secs(10));
        // 1/s for 10 s, then 2/s for 10 s, then 3/s.
        assert_eq!(plan.due(Duration::from_secs(10), 0, 0), 10);
        assert_eq!(plan.due(Duration::from_secs(15), 10, 0), 10);
        assert_eq!(plan.due(Duration::from_secs(30), 20, 0), 40);
        assert_eq!(
            plan.due(Duration::from_secs(99), 60, 0),
            0,
            "the staircase ended"
        );
        assert_eq!(plan.step_at(Duration::from_secs(15)), 1);
        assert_eq!(plan.step_at(Duration::from_secs(99)), 2);
        assert!(!plan.is_done(Duration::from_secs(29), 0));
        assert!(plan.is_done(Duration::from_secs(30), 0));
    }

    #[test]
    fn modes_parse_with_a_helpful_error() {
        assert_eq!("sustained".parse::<Mode>().unwrap(), Mode::Sustained);
        assert!(
            "steady"
                .parse::<Mode>()
                .unwrap_err()
                .contains("saturation or sustained")
        );
    }
}
