//! `summary.json`: the end-of-run figures loadgen computes from its histograms, and the
//! threshold outcomes that decide its exit code.
//!
//! It is a digest for people and CI; the full data stays in `latency.hlog` and `requests.csv`.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::RunId;

/// What a queue's depth trend says about its consumers (capacity-model's
/// `queue_stability` judges it); one type for summaries, analyses and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueVerdict {
    /// Depth rises clearly and materially: consumers are slower than arrivals; unstable.
    Growing,
    /// No clear, material trend: consumers keep up.
    Steady,
    /// Depth falls clearly and materially: consumers are working off a backlog.
    Draining,
    /// Too few depth samples to judge.
    Unknown,
}

impl QueueVerdict {
    /// Growing is the unstable case; steady and draining queues keep up, and an unknown
    /// trend claims nothing.
    pub fn is_growing(self) -> bool {
        self == QueueVerdict::Growing
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueVerdict::Growing => "growing",
            QueueVerdict::Steady => "steady",
            QueueVerdict::Draining => "draining",
            QueueVerdict::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for QueueVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`crate::FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    pub run_id: RunId,
    /// Wall-clock length of the run.
    pub duration_ms: u64,
    /// The run stopped early: Ctrl-C, `--abort-on-fail`, or the target died.
    pub interrupted: bool,
    /// Why it stopped early.
    pub interruption: Option<String>,
    /// A caveat about the load model, e.g. the closed-model coordinated-omission warning.
    pub model_note: Option<String>,
    /// Per endpoint, sorted by name.
    pub endpoints: Vec<EndpointSummary>,
    /// All endpoints together, named "all".
    pub total: EndpointSummary,
    /// Steps the target could not do.
    pub skipped: Vec<SkippedStep>,
    pub thresholds: Vec<ThresholdOutcome>,
    /// All thresholds passed.
    pub passed: bool,
    /// Scenario 2 (the worker path): the tasks' figures. Absent for web scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerSummary>,
}

/// Scenario 2's figures for one run (one cell of the size × concurrency × mode matrix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// `sustained` or `saturation`.
    pub mode: String,
    pub size_bytes: u64,
    /// Tasks each worker processes at once.
    pub concurrency: u32,
    /// Worker instances during the run (as configured, or as the stack reported).
    pub workers: u32,
    pub enqueued: u64,
    pub processed: u64,
    pub failed: u64,
    /// Still queued or running when the run ended: enqueued = processed + failed + unfinished.
    pub unfinished: u64,
    /// X: processed videos per minute, from the first enqueue to the last finish.
    pub videos_per_minute: f64,
    pub megabytes_per_minute: f64,
    /// Videos finished in each whole minute since the start (the last minute may be partial).
    pub per_minute: Vec<u64>,
    /// S: start → end of the delivery that finished each task, in microseconds.
    pub service_us: LatencySummary,
    /// Queue wait: enqueue → start, in microseconds.
    pub wait_us: LatencySummary,
    /// Mean tasks in the system (queued + in progress) over the injection, sampled each second.
    pub mean_in_system: f64,
    /// Little's law: X × (mean wait + mean service), the tasks in the system it implies.
    pub little_in_system: f64,
    /// Least-squares slope of the visible queue depth during the injection, tasks per minute;
    /// None ("unknown") with fewer than three depth samples.
    pub queue_slope_per_minute: Option<f64>,
    /// The slope's standard error, tasks per minute (its 95 % interval is ± 1.96 of it).
    #[serde(default)]
    pub queue_slope_error_per_minute: Option<f64>,
    /// `steady`, `growing` (unbounded: arrivals exceed capacity), `draining` or `unknown`.
    pub queue_verdict: QueueVerdict,
    /// Mean CPU of the worker group during the run, percent (local stack only).
    pub worker_cpu_percent: Option<f64>,
    /// Saturation mode: one entry per step of the arrival-rate staircase.
    pub steps: Vec<WorkerStep>,
}

/// One step of a saturation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStep {
    /// Arrivals per minute injected during the step.
    pub rate_per_minute: f64,
    /// Videos finished per minute during the step.
    pub completed_per_minute: f64,
    /// As [`WorkerSummary::queue_slope_per_minute`], over the step.
    pub queue_slope_per_minute: Option<f64>,
    #[serde(default)]
    pub queue_slope_error_per_minute: Option<f64>,
    /// `steady`, `growing`, `draining` or `unknown`.
    pub queue_verdict: QueueVerdict,
    /// The step's length, and the tasks enqueued and finished in it: the sample its rates
    /// rest on (0 in summaries written before they were recorded: unknown).
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub arrivals: u64,
    #[serde(default)]
    pub completions: u64,
}

/// Figures for one endpoint (or all of them) over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSummary {
    pub name: String,
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    /// errors / requests, 0 to 1 (0 when there were no requests).
    pub error_rate: f64,
    /// Requests per second over the run.
    pub rps: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Microseconds; None (`null`) when no request of it has a latency (all refused or
    /// never sent): no data, never 0.
    pub latency_us: Option<LatencySummary>,
}

/// Latency statistics in microseconds, read from an HDR histogram (so within its precision,
/// 3 significant digits in loadgen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencySummary {
    /// None for an empty histogram: no latency is no data, not 0 µs.
    pub fn of(h: &Histogram<u64>) -> Option<LatencySummary> {
        (!h.is_empty()).then(|| Self::from_histogram(h))
    }

    /// All zeros for an empty histogram (the crate leaves some of these undefined then);
    /// for figures that must be numbers. [`LatencySummary::of`] says "no data" instead.
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary {
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p95: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        LatencySummary {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A scenario step the target could not perform (e.g. an endpoint it does not have).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedStep {
    pub step: String,
    pub reason: String,
    /// How many times it was skipped.
    pub count: u64,
}

/// One threshold checked at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOutcome {
    /// As given on the command line, e.g. "p99<500ms".
    pub expression: String,
    /// The endpoint it applies to; `None` for all endpoints together.
    pub endpoint: Option<String>,
    /// The measured value, in `unit`; None when there was nothing to measure (the endpoint
    /// never ran, or none of its requests has a latency), which fails the threshold.
    pub observed: Option<f64>,
    /// The threshold's limit, in `unit`.
    pub limit: f64,
    /// E.g. "ms", "ratio", "rps".
    pub unit: String,
    pub passed: bool,
}

impl ThresholdOutcome {
    /// "412.30 ms", or "no data" when nothing was measured.
    pub fn observed_text(&self) -> String {
        self.observed
            .map_or("no data".to_owned(), |o| format!("{o:.2} {}", self.unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_gives_zeros() {
        let h = Histogram::<u64>::new(3).unwrap();
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.min, 0);
        assert_eq!(s.max, 0);
        assert_eq!(s.p999, 0);
        assert_eq!(s.mean, 0.0);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.min, 1000);
        assert_eq!(s.p50, h.value_at_quantile(0.5));
        assert!(h.equivalent(s.p50, 500_000), "{}", s.p50);
        assert!(h.equivalent(s.p90, 900_000), "{}", s.p90);
        assert!(h.equivalent(s.p99, 990_000), "{}", s.p99);
        assert!(h.equivalent(s.p999, 999_000), "{}", s.p999);
        assert!(h.equivalent(s.max, 1_000_000), "{}", s.max);
        assert!((s.mean - 500_500.0).abs() < 500.0, "{}", s.mean);
    }
}
