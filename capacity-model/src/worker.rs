//! Escenario 2's figures, from the raw data of its run directory: X (videos per minute), S
//! (service time), the queue wait, Little's law, the queue's trend overall and per step of
//! the saturation staircase, and the tasks as one "endpoint".
//!
//! loadgen prints them when a cell ends and the analyzer computes them again from the same
//! files, so both say the same thing; nothing here reads a file.

use hdrhistogram::Histogram;
use rundir::{
    EndpointSummary, LatencySummary, LoadModel, Manifest, MetricRow, QueueRow, StackKind,
    TaskStatus, TasksRow, WorkerStep, WorkerSummary,
};
use time::OffsetDateTime;

use crate::{QueueStabilityRule, QueueVerdict, queue_stability};

/// How tasks were offered to the workers, as the manifest's load model and stages record it.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// A backlog kept in the system: each arrival follows a completion.
    Closed,
    /// Open arrivals at one rate.
    Rate { per_minute: f64 },
    /// The saturation staircase: one open rate per stage.
    Steps(Vec<ArrivalStep>),
}

/// One step of the staircase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrivalStep {
    pub per_minute: f64,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Arrivals {
    pub fn of(manifest: &Manifest) -> Arrivals {
        match manifest.load_model {
            LoadModel::Closed { .. } => Arrivals::Closed,
            LoadModel::Open {
                max_rate_per_sec, ..
            } if manifest.stages.is_empty() => Arrivals::Rate {
                per_minute: max_rate_per_sec * 60.0,
            },
            LoadModel::Open { .. } => Arrivals::Steps(
                manifest
                    .stages
                    .iter()
                    .map(|stage| {
                        let from = manifest.started_at
                            + time::Duration::milliseconds(stage.start_offset_ms as i64);
                        ArrivalStep {
                            per_minute: stage.rate_per_sec.unwrap_or(0.0) * 60.0,
                            from,
                            to: from + time::Duration::milliseconds(stage.duration_ms as i64),
                        }
                    })
                    .collect(),
            ),
        }
    }

    /// The mean arrival rate while injecting, per second; a closed backlog's follows the
    /// completions (`x_per_minute`).
    fn mean_per_sec(&self, x_per_minute: f64) -> f64 {
        match self {
            Arrivals::Closed => x_per_minute / 60.0,
            Arrivals::Rate { per_minute } => per_minute / 60.0,
            Arrivals::Steps(steps) => {
                steps.iter().map(|s| s.per_minute).sum::<f64>() / steps.len().max(1) as f64 / 60.0
            }
        }
    }
}

/// A scenario-2 run's raw data, as its run directory holds it.
#[derive(Debug, Clone, Copy)]
pub struct WorkerRun<'a> {
    pub manifest: &'a Manifest,
    /// `tasks.csv`.
    pub tasks: &'a [TasksRow],
    /// `queue.csv`.
    pub queue: &'a [QueueRow],
    /// `metrics.csv`, for the worker group's CPU on the local stack.
    pub metrics: &'a [MetricRow],
}

/// Why a run's figures cannot be computed from its files (they were written before aforo
/// recorded what the figures need; the run's `summary.json` still holds loadgen's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerFiguresError {
    #[error("the manifest does not record the worker pool (workload.worker_pool)")]
    NoWorkerPool,
    #[error("queue.csv does not record the staircase step and whether tasks were injected")]
    QueueWithoutPhases,
}

/// The run's figures.
pub fn worker_summary(run: &WorkerRun<'_>) -> Result<WorkerSummary, WorkerFiguresError> {
    let manifest = run.manifest;
    let pool = manifest
        .workload
        .worker_pool
        .ok_or(WorkerFiguresError::NoWorkerPool)?;
    let samples = run
        .queue
        .iter()
        .map(|row| QueueSample::of(row, manifest.started_at))
        .collect::<Option<Vec<_>>>()
        .ok_or(WorkerFiguresError::QueueWithoutPhases)?;
    let rows = run.tasks;
    let started = manifest.started_at;

    let processed: Vec<&TasksRow> = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Processed)
        .collect();
    let failed = count(rows, TaskStatus::Failed);
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
    let injecting: Vec<&QueueSample> = samples.iter().filter(|s| s.injecting).collect();
    // L over the same window as X: from the first enqueue to the last finish.
    let window: Vec<&QueueSample> = samples
        .iter()
        .filter(|s| last_finish.is_none_or(|end| s.at <= end))
        .collect();
    let mean_in_system = if window.is_empty() {
        0.0
    } else {
        window.iter().map(|s| s.in_system as f64).sum::<f64>() / window.len() as f64
    };
    let mean_secs = |h: &Histogram<u64>| if h.is_empty() { 0.0 } else { h.mean() / 1e6 };
    let little_in_system = x / 60.0 * (mean_secs(&wait) + mean_secs(&service));
    let arrivals = Arrivals::of(manifest);
    let queue = trend(&injecting, arrivals.mean_per_sec(x));
    let steps = match &arrivals {
        Arrivals::Steps(steps) => steps
            .iter()
            .enumerate()
            .map(|(k, step)| {
                let in_step: Vec<&QueueSample> = injecting
                    .iter()
                    .copied()
                    .filter(|s| s.step as usize == k)
                    .collect();
                let within = |at: &OffsetDateTime| *at >= step.from && *at < step.to;
                let done = finishes.iter().filter(|f| within(f)).count();
                let arrived = rows.iter().filter(|r| within(&r.enqueued_at)).count();
                let queue = trend(&in_step, step.per_minute / 60.0);
                let seconds = (step.to - step.from).as_seconds_f64();
                WorkerStep {
                    rate_per_minute: step.per_minute,
                    completed_per_minute: done as f64 / (seconds / 60.0),
                    queue_slope_per_minute: queue.slope,
                    queue_slope_error_per_minute: queue.error,
                    queue_verdict: queue.verdict,
                    seconds,
                    arrivals: arrived as u64,
                    completions: done as u64,
                }
            })
            .collect(),
        Arrivals::Closed | Arrivals::Rate { .. } => Vec::new(),
    };
    let size_bytes = manifest.workload.upload_bytes.unwrap_or(0);
    let on_local_stack = matches!(manifest.target.stack, StackKind::Local { .. });
    Ok(WorkerSummary {
        mode: manifest.profile.clone(),
        size_bytes,
        concurrency: pool.concurrency,
        workers: pool.instances,
        enqueued: rows.len() as u64,
        processed: processed.len() as u64,
        failed,
        unfinished: rows.len() as u64 - processed.len() as u64 - failed,
        videos_per_minute: x,
        megabytes_per_minute: x * size_bytes as f64 / 1e6,
        per_minute,
        service_us: LatencySummary::from_histogram(&service),
        wait_us: LatencySummary::from_histogram(&wait),
        mean_in_system,
        little_in_system,
        queue_slope_per_minute: queue.slope,
        queue_slope_error_per_minute: queue.error,
        queue_verdict: queue.verdict,
        worker_cpu_percent: on_local_stack
            .then(|| mean_worker_cpu(run.metrics))
            .flatten(),
        steps,
    })
}

/// The tasks as one "endpoint", so that readers of `summary.total` see them: requests =
/// tasks queued, successes = processed, latency = enqueue → end.
pub fn tasks_total(rows: &[TasksRow], duration: time::Duration) -> EndpointSummary {
    let processed = count(rows, TaskStatus::Processed);
    let failed = count(rows, TaskStatus::Failed);
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

/// Mean `CPUUtilization` of the local stack's worker group in the run's metrics; None
/// without a sample.
pub fn mean_worker_cpu(metrics: &[MetricRow]) -> Option<f64> {
    let values: Vec<f64> = metrics
        .iter()
        .filter(|r| {
            r.metric == "CPUUtilization"
                && r.statistic == "Average"
                && r.dimensions.iter().any(|(_, v)| v == "worker")
        })
        .map(|r| r.value)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// A duration in whole microseconds, at least 1 (a histogram records no zero).
pub fn micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

/// Durations in a histogram of microseconds up to a day, at 3 significant digits.
pub fn histogram_of(durations: impl Iterator<Item = time::Duration>) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 24 * 3_600_000_000, 3).expect("valid bounds");
    for d in durations {
        h.saturating_record(micros(d));
    }
    h
}

fn count(rows: &[TasksRow], status: TaskStatus) -> u64 {
    rows.iter().filter(|r| r.status == status).count() as u64
}

/// One row of `queue.csv` with its phase known.
struct QueueSample {
    /// Seconds since the run started.
    t: f64,
    at: OffsetDateTime,
    visible: u64,
    in_system: u64,
    step: u32,
    injecting: bool,
}

impl QueueSample {
    fn of(row: &QueueRow, started: OffsetDateTime) -> Option<QueueSample> {
        Some(QueueSample {
            t: (row.at - started).as_seconds_f64(),
            at: row.at,
            visible: row.visible,
            in_system: row.visible + row.in_flight,
            step: row.step?,
            injecting: row.injecting?,
        })
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

#[cfg(test)]
mod tests {
    use rundir::{
        HostInfo, QueuedTask, RunId, Stage, Target, TaskOutcome, TaskRun, ToolVersions, WorkerPool,
        Workload,
    };
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-23 04:00:00 UTC);

    fn ms(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn manifest(profile: &str, load_model: LoadModel, stages: Vec<Stage>) -> Manifest {
        Manifest {
            format_version: rundir::FORMAT_VERSION,
            run_id: RunId::parse("20261123T040000Z-scenario2").unwrap(),
            scenario: "scenario2".into(),
            profile: profile.into(),
            load_model,
            target: Target {
                url: "http://127.0.0.1:8080".into(),
                stack: StackKind::Local { data_dir: None },
            },
            started_at: T0,
            ended_at: None,
            time_scale: 1.0,
            stages,
            thresholds: Vec::new(),
            tool: ToolVersions {
                aforo: "test".into(),
                goose: "-".into(),
                hdrhistogram: "7".into(),
            },
            host: HostInfo {
                cores: 2,
                os: "linux".into(),
                hostname: "test".into(),
            },
            command_line: Vec::new(),
            workload: Workload {
                upload_bytes: Some(2_000_000),
                worker_pool: Some(WorkerPool {
                    instances: 1,
                    concurrency: 1,
                }),
                ..Workload::default()
            },
            shard: None,
        }
    }

    fn sustained() -> Manifest {
        manifest("sustained", LoadModel::Closed { max_users: 1 }, Vec::new())
    }

    /// One worker slot, tasks of 10 s each, queued as the previous one finishes, and the
    /// queue sampled each second.
    fn back_to_back(n: u32) -> (Vec<TasksRow>, Vec<QueueRow>) {
        let mut rows = Vec::new();
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
        }
        let queue = (0..=(10 * n))
            .map(|t| QueueRow {
                at: T0 + time::Duration::seconds(i64::from(t)),
                visible: 0,
                in_flight: u64::from(t < 10 * n),
                enqueued: u64::from(t / 10 + 1).min(u64::from(n)),
                finished: u64::from(t / 10),
                step: Some(0),
                injecting: Some(t < 10 * (n - 1)),
            })
            .collect();
        (rows, queue)
    }

    fn summary_of(
        manifest: &Manifest,
        tasks: &[TasksRow],
        queue: &[QueueRow],
    ) -> Result<WorkerSummary, WorkerFiguresError> {
        worker_summary(&WorkerRun {
            manifest,
            tasks,
            queue,
            metrics: &[],
        })
    }

    #[test]
    fn figures_of_a_steady_worker_agree_with_littles_law() {
        let (rows, queue) = back_to_back(3);
        let s = summary_of(&sustained(), &rows, &queue).unwrap();
        assert_eq!(
            (s.enqueued, s.processed, s.failed, s.unfinished),
            (3, 3, 0, 0)
        );
        assert_eq!(
            (s.mode.as_str(), s.workers, s.concurrency),
            ("sustained", 1, 1)
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
        assert!(s.steps.is_empty());
    }

    #[test]
    fn unfinished_tasks_are_counted_not_lost() {
        let (mut rows, queue) = back_to_back(3);
        rows[2].status = TaskStatus::Queued;
        rows[2].started_at = None;
        rows[2].finished_at = None;
        rows[1].status = TaskStatus::Failed;
        let staircase = manifest(
            "saturation",
            LoadModel::Open {
                max_rate_per_sec: 0.1,
                max_in_flight: u32::MAX,
            },
            vec![Stage {
                name: "step1".into(),
                start_offset_ms: 0,
                duration_ms: 30_000,
                users: None,
                rate_per_sec: Some(0.1),
                ramp: false,
            }],
        );
        let s = summary_of(&staircase, &rows, &queue).unwrap();
        assert_eq!((s.processed, s.failed, s.unfinished), (1, 1, 1));
        assert_eq!(s.steps.len(), 1);
        let step = &s.steps[0];
        assert!((step.rate_per_minute - 6.0).abs() < 1e-9);
        // Three arrivals in the 30 s step, one of them processed within it.
        assert_eq!(
            (step.seconds, step.arrivals, step.completions),
            (30.0, 3, 1)
        );
        assert!((step.completed_per_minute - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_staircase_judges_each_step_on_its_own_samples() {
        // 0.5 arrivals/s against 0.25 completions/s in the second step: the visible queue
        // grows by 0.25/s there, and stays at 0 in the first.
        let step = |k: u64, per_sec: f64| Stage {
            name: format!("step{}", k + 1),
            start_offset_ms: k * 60_000,
            duration_ms: 60_000,
            users: None,
            rate_per_sec: Some(per_sec),
            ramp: false,
        };
        let staircase = manifest(
            "saturation",
            LoadModel::Open {
                max_rate_per_sec: 0.5,
                max_in_flight: u32::MAX,
            },
            vec![step(0, 0.25), step(1, 0.5)],
        );
        let queue: Vec<QueueRow> = (0..120u32)
            .map(|t| QueueRow {
                at: T0 + time::Duration::seconds(i64::from(t)),
                visible: if t < 60 { 0 } else { u64::from(t - 60) / 4 },
                in_flight: 1,
                enqueued: 0,
                finished: 0,
                step: Some(t / 60),
                injecting: Some(true),
            })
            .collect();
        let s = summary_of(&staircase, &[], &queue).unwrap();
        let verdicts: Vec<QueueVerdict> = s.steps.iter().map(|s| s.queue_verdict).collect();
        assert_eq!(verdicts, [QueueVerdict::Steady, QueueVerdict::Growing]);
        let slope = s.steps[1].queue_slope_per_minute.unwrap();
        assert!((slope - 15.0).abs() < 1.0, "{slope}");
        // No task finished: X is 0, not a division by zero.
        assert_eq!((s.videos_per_minute, s.per_minute.len()), (0.0, 0));
    }

    #[test]
    fn files_written_before_the_phases_were_recorded_are_refused_not_misread() {
        let (rows, mut queue) = back_to_back(2);
        queue[3].injecting = None;
        assert_eq!(
            summary_of(&sustained(), &rows, &queue),
            Err(WorkerFiguresError::QueueWithoutPhases)
        );
        let mut old = sustained();
        old.workload.worker_pool = None;
        let (_, queue) = back_to_back(2);
        assert_eq!(
            summary_of(&old, &rows, &queue),
            Err(WorkerFiguresError::NoWorkerPool)
        );
    }

    #[test]
    fn the_worker_cpu_is_the_worker_groups_and_only_on_the_local_stack() {
        let (rows, queue) = back_to_back(2);
        let cpu = |group: &str, value: f64| MetricRow {
            timestamp: T0,
            namespace: "AWS/EC2".into(),
            metric: "CPUUtilization".into(),
            dimensions: vec![("AutoScalingGroupName".into(), group.into())],
            statistic: "Average".into(),
            value,
            unit: "Percent".into(),
        };
        let metrics = [cpu("worker", 40.0), cpu("worker", 60.0), cpu("web", 90.0)];
        let mut local = sustained();
        let run = |manifest: &Manifest| {
            worker_summary(&WorkerRun {
                manifest,
                tasks: &rows,
                queue: &queue,
                metrics: &metrics,
            })
            .unwrap()
            .worker_cpu_percent
        };
        assert_eq!(run(&local), Some(50.0));
        local.target.stack = StackKind::External;
        assert_eq!(run(&local), None);
    }
}
