//! Scenario 2's statistics from what was measured (pure): X, S, wait, Little's law, the
//! queue's trend overall and per staircase step, and the tasks as one "endpoint".

use capacity_model::{QueueStabilityRule, QueueVerdict, queue_stability};
use hdrhistogram::Histogram;
use rundir::{EndpointSummary, LatencySummary, TaskStatus, TasksRow, WorkerStep, WorkerSummary};
use scenarios::scenario2::{Cell, Injection};
use time::OffsetDateTime;

use super::{DriveLog, QueueSample};

pub(super) fn to_micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

pub(super) fn histogram_of(values: impl Iterator<Item = time::Duration>) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 24 * 3_600_000_000, 3).expect("valid bounds");
    for v in values {
        h.saturating_record(to_micros(v));
    }
    h
}

/// The scenario's figures from what was measured (pure).
pub fn figures(
    cell: &Cell,
    bytes: u64,
    workers: u32,
    injection: &Injection,
    drive: &DriveLog,
    rows: &[TasksRow],
    started: OffsetDateTime,
) -> WorkerSummary {
    let processed: Vec<&TasksRow> = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Processed)
        .collect();
    let failed = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Failed)
        .count() as u64;
    let finishes: Vec<OffsetDateTime> = processed.iter().filter_map(|r| r.finished_at).collect();
    let first_enqueue = rows.iter().map(|r| r.enqueued_at).min();
    let last_finish = finishes.iter().max().copied();
    let minutes = match (first_enqueue, last_finish) {
        (Some(a), Some(b)) if b > a => (b - a).as_seconds_f64() / 60.0,
        _ => 0.0,
    };
    let x = if minutes > 0.0 {
        processed.len() as f64 / minutes
    } else {
        0.0
    };
    let mut per_minute = Vec::new();
    for finish in &finishes {
        let minute = ((*finish - started).as_seconds_f64().max(0.0) / 60.0) as usize;
        if per_minute.len() <= minute {
            per_minute.resize(minute + 1, 0);
        }
        per_minute[minute] += 1;
    }
    let service = histogram_of(processed.iter().filter_map(|r| r.service()));
    let wait = histogram_of(processed.iter().filter_map(|r| r.wait()));
    let injecting: Vec<&QueueSample> = drive.samples.iter().filter(|s| s.injecting).collect();
    // L over the same window as X: from the first enqueue to the last finish.
    let window: Vec<&QueueSample> = drive
        .samples
        .iter()
        .filter(|s| last_finish.is_none_or(|end| s.at <= end))
        .collect();
    let mean_in_system = if window.is_empty() {
        0.0
    } else {
        window
            .iter()
            .map(|s| (s.visible + s.in_flight) as f64)
            .sum::<f64>()
            / window.len() as f64
    };
    let mean_secs = |h: &Histogram<u64>| if h.is_empty() { 0.0 } else { h.mean() / 1e6 };
    let little_in_system = x / 60.0 * (mean_secs(&wait) + mean_secs(&service));
    let arrival_per_sec = match injection {
        Injection::Rate { per_minute, .. } => per_minute / 60.0,
        Injection::Staircase { rates, .. } => rates.iter().sum::<f64>() / rates.len() as f64 / 60.0,
        // A closed backlog: arrivals follow completions.
        Injection::KeepInSystem { .. } => (x / 60.0).max(1e-9),
    };
    let queue = trend(&injecting, arrival_per_sec);
    let steps = match injection {
        Injection::Staircase { rates, step } => rates
            .iter()
            .enumerate()
            .map(|(k, rate)| {
                let in_step: Vec<&QueueSample> =
                    injecting.iter().copied().filter(|s| s.step == k).collect();
                let from = started + *step * k as u32;
                let to = from + *step;
                let done = finishes.iter().filter(|f| **f >= from && **f < to).count();
                let arrived = rows
                    .iter()
                    .filter(|r| r.enqueued_at >= from && r.enqueued_at < to)
                    .count();
                let queue = trend(&in_step, rate / 60.0);
                WorkerStep {
                    rate_per_minute: *rate,
                    completed_per_minute: done as f64 / (step.as_secs_f64() / 60.0),
                    queue_slope_per_minute: queue.slope,
                    queue_slope_error_per_minute: queue.error,
                    queue_verdict: queue.verdict,
                    seconds: step.as_secs_f64(),
                    arrivals: arrived as u64,
                    completions: done as u64,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    WorkerSummary {
        mode: cell.mode.as_str().into(),
        size_bytes: bytes,
        concurrency: cell.concurrency,
        workers,
        enqueued: rows.len() as u64,
        processed: processed.len() as u64,
        failed,
        unfinished: rows.len() as u64 - processed.len() as u64 - failed,
        videos_per_minute: x,
        megabytes_per_minute: x * bytes as f64 / 1e6,
        per_minute,
        service_us: LatencySummary::from_histogram(&service),
        wait_us: LatencySummary::from_histogram(&wait),
        mean_in_system,
        little_in_system,
        queue_slope_per_minute: queue.slope,
        queue_slope_error_per_minute: queue.error,
        queue_verdict: queue.verdict,
        worker_cpu_percent: None,
        steps,
    }
}

/// The visible depth's slope and its standard error (per minute) and verdict; no slope
/// and `unknown` on too few samples.
struct QueueTrend {
    slope: Option<f64>,
    error: Option<f64>,
    verdict: QueueVerdict,
}

fn trend(samples: &[&QueueSample], arrival_per_sec: f64) -> QueueTrend {
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.visible as f64)).collect();
    match queue_stability(
        &points,
        arrival_per_sec.max(1e-9),
        &QueueStabilityRule::default(),
    ) {
        Ok(stability) => QueueTrend {
            slope: Some(stability.trend.slope * 60.0),
            error: Some(stability.trend.slope_standard_error * 60.0),
            verdict: stability.verdict,
        },
        Err(_) => QueueTrend {
            slope: None,
            error: None,
            verdict: QueueVerdict::Unknown,
        },
    }
}

/// The tasks as one "endpoint" so that readers of `summary.total` see them: requests =
/// tasks queued, successes = processed, latency = enqueue → end.
pub(super) fn tasks_total(rows: &[TasksRow], duration: time::Duration) -> EndpointSummary {
    let processed = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Processed)
        .count() as u64;
    let failed = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Failed)
        .count() as u64;
    let end_to_end = histogram_of(
        rows.iter()
            .filter_map(|r| Some(r.finished_at? - r.enqueued_at)),
    );
    EndpointSummary {
        name: "tasks".into(),
        requests: rows.len() as u64,
        successes: processed,
        errors: failed,
        error_rate: if rows.is_empty() {
            0.0
        } else {
            failed as f64 / rows.len() as f64
        },
        rps: processed as f64 / duration.as_seconds_f64().max(1e-9),
        bytes_sent: 0,
        bytes_received: 0,
        latency_us: LatencySummary::of(&end_to_end),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rundir::{QueuedTask, TaskOutcome, TaskRun};
    use scenarios::scenario2::Mode;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-23 04:00:00 UTC);

    fn ms(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// One worker slot, tasks of 10 s each, queued as the previous one finishes.
    fn back_to_back(n: u32) -> (Vec<TasksRow>, DriveLog) {
        let mut rows = Vec::new();
        let mut log = DriveLog::default();
        for k in 0..n {
            let at = T0 + time::Duration::seconds(10 * i64::from(k));
            let task = QueuedTask {
                task_id: format!("t{k}"),
                video_id: i64::from(k),
                enqueued_at: ms(at),
                bytes: 2_000_000,
            };
            let run = TaskRun {
                task_id: task.task_id.clone(),
                video_id: task.video_id,
                worker: "i-local-0002".into(),
                receive_count: 1,
                enqueued_at: task.enqueued_at,
                started_at: task.enqueued_at,
                finished_at: Some(ms(at + time::Duration::seconds(10))),
                outcome: Some(TaskOutcome::Processed),
            };
            rows.push(TasksRow::from_runs(&task, &[&run]));
            log.queued.push(task);
        }
        for t in 0..=(10 * n) {
            log.samples.push(QueueSample {
                t: f64::from(t),
                at: T0 + time::Duration::seconds(i64::from(t)),
                visible: 0,
                in_flight: u64::from(t < 10 * n),
                enqueued: u64::from(t / 10 + 1).min(u64::from(n)),
                step: 0,
                injecting: t < 10 * (n - 1),
            });
        }
        (rows, log)
    }

    #[test]
    fn figures_of_a_steady_worker_agree_with_littles_law() {
        let (rows, log) = back_to_back(3);
        let cell = Cell {
            size_bytes: 2_000_000,
            concurrency: 1,
            mode: Mode::Sustained,
        };
        let injection = Injection::KeepInSystem {
            backlog: 1,
            total: 3,
        };
        let s = figures(&cell, 2_000_000, 1, &injection, &log, &rows, T0);
        assert_eq!(
            (s.enqueued, s.processed, s.failed, s.unfinished),
            (3, 3, 0, 0)
        );
        // 3 videos between 0 s and 30 s.
        assert!(
            (s.videos_per_minute - 6.0).abs() < 1e-9,
            "{}",
            s.videos_per_minute
        );
        assert!((s.megabytes_per_minute - 12.0).abs() < 1e-9);
        assert_eq!(s.per_minute, vec![3]);
        assert!((s.service_us.mean - 10e6).abs() < 10e6 * 0.001);
        // One task always in the system; X·(W+S) = 0.1/s × 10 s = 1.
        assert!(
            (s.little_in_system - 1.0).abs() < 0.01,
            "{}",
            s.little_in_system
        );
        assert!(
            (s.mean_in_system - 1.0).abs() < 0.05,
            "{}",
            s.mean_in_system
        );
        assert_eq!(s.queue_verdict, QueueVerdict::Steady);
    }

    #[test]
    fn unfinished_tasks_are_counted_not_lost() {
        let (mut rows, log) = back_to_back(3);
        rows[2].status = TaskStatus::Queued;
        rows[2].started_at = None;
        rows[2].finished_at = None;
        rows[1].status = TaskStatus::Failed;
        let cell = Cell {
            size_bytes: 2_000_000,
            concurrency: 1,
            mode: Mode::Saturation,
        };
        let injection = Injection::staircase(6.0, 6.0, 1, Duration::from_secs(30));
        let s = figures(&cell, 2_000_000, 1, &injection, &log, &rows, T0);
        assert_eq!((s.processed, s.failed, s.unfinished), (1, 1, 1));
        assert_eq!(s.steps.len(), 1);
        assert_eq!(s.steps[0].rate_per_minute, 6.0);
    }
}
