//! `loadgen run scenario2`: the worker path. Tasks go straight into the target's queue with
//! a real video already in its storage, and the run measures what the workers make of them:
//! videos per minute (X), service time (S), queue wait, the queue's trend, and every task
//! from enqueue to end (`tasks.csv`).
//!
//! Each cell of the size × concurrency × mode matrix is one run directory. Against the
//! local target each cell gets a fresh stack whose worker group is fixed at one instance of
//! the cell's concurrency; against `--host` the deployment is what it is and the
//! concurrency is recorded as declared. A saturation cell without `--rate` starts its
//! staircase from the X of the matching sustained cell (the matrix runs sustained first) or,
//! alone, from a short calibration.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use capacity_model::{QueueStabilityRule, QueueVerdict, queue_stability};
use hdrhistogram::Histogram;
use rundir::{
    EndpointSummary, HostInfo, LatencyLogWriter, LatencySummary, LoadModel, Manifest, QueuedTask,
    RunDir, RunId, StackKind, Stage, Summary, Target, TaskStatus, TasksRow, ToolVersions,
    WorkerStep, WorkerSummary,
};
use scenarios::scenario2::{Cell, Injection, Mode};
use time::OffsetDateTime;

use crate::inject::InjectClient;
use crate::plan::TargetChoice;
use crate::target::{LocalTarget, find_target_stack};

/// The checked plan of a scenario 2 invocation.
#[derive(Debug, Clone)]
pub struct Scenario2Plan {
    pub cells: Vec<Cell>,
    /// Sustained: tasks to queue in all (default: 3 × concurrency, at least
    /// `MIN_EVENTS_FOR_RATE`).
    pub tasks: Option<u64>,
    /// Sustained: arrivals at this rate instead of a constant backlog. Saturation: the first
    /// step and the increment of the staircase.
    pub rate_per_minute: Option<f64>,
    /// Saturation: each step's length; None chooses one with enough arrivals
    /// ([`step_for`]).
    pub step: Option<Duration>,
    /// Saturation: how many steps.
    pub steps: usize,
    /// After the last task is queued, how long to wait for the queue to drain.
    pub drain_timeout: Duration,
    pub target: TargetChoice,
    pub out_dir: PathBuf,
    pub command_line: Vec<String>,
}

/// The shortest step the staircase takes by default.
const MIN_STEP: Duration = Duration::from_secs(60);

/// The length of each saturation step: the one asked for, or long enough for
/// `MIN_EVENTS_FOR_RATE` arrivals at the first (lowest) rate and at least [`MIN_STEP`]. A
/// step asked for that is shorter is kept, with a warning: the analyzer will call it "not
/// enough data".
pub fn step_for(asked: Option<Duration>, first_rate_per_minute: f64) -> Duration {
    // The staircase's k-th arrival comes at k / rate, so a step of n / rate holds n − 1 of
    // them; one more interval holds n.
    let needed = (capacity_model::confidence::MIN_EVENTS_FOR_RATE + 1) as f64
        / first_rate_per_minute.max(f64::MIN_POSITIVE)
        * 60.0;
    let needed = Duration::from_secs_f64(needed.ceil().min(86_400.0));
    match asked {
        Some(step) => {
            if step < needed {
                eprintln!(
                    "warning: steps of {} s see about {:.0} arrivals at {first_rate_per_minute:.2}/min, \
                     fewer than {}: analyze will call them \"not enough data\"; use --step {}s \
                     or leave --step out",
                    step.as_secs(),
                    step.as_secs_f64() * first_rate_per_minute / 60.0,
                    capacity_model::confidence::MIN_EVENTS_FOR_RATE,
                    needed.as_secs()
                );
            }
            step
        }
        None => needed.max(MIN_STEP),
    }
}

/// A finished cell.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub cell: Cell,
    pub dir: PathBuf,
    pub run_id: RunId,
    pub summary: WorkerSummary,
    pub passed: bool,
}

/// Where generated videos are kept between runs: `payloads` in [`rundir::cache_dir`].
fn payload_cache() -> PathBuf {
    rundir::cache_dir(|name| std::env::var_os(name)).join("payloads")
}

/// The stack a cell runs on. Without a user's stack: one worker instance of the cell's
/// concurrency, fixed (no policies), so the cell measures one node; the web group stays at
/// one instance. With one (`--stack-config`): that stack, its worker group and policies
/// included, so the cell measures the worker tier as it scales, with the cell's concurrency
/// in place of the file's `[instance] worker_concurrency`.
fn stack_config(concurrency: u32, user: Option<&str>) -> anyhow::Result<String> {
    let Some(user) = user else {
        return Ok(format!(
            "[instance]\ncpus = 1.0\nworker_concurrency = {concurrency}\n\n\
             [web]\nname = \"web\"\nmin = 1\nmax = 1\nwarmup_secs = 1.0\n\n\
             [worker]\nname = \"worker\"\nmin = 1\nmax = 1\nwarmup_secs = 1.0\n"
        ));
    };
    let mut table: toml::Table = toml::from_str(user)
        .map_err(|e| anyhow::anyhow!("--stack-config is not valid TOML: {e}"))?;
    let instance = table
        .entry("instance")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(instance) = instance else {
        anyhow::bail!("--stack-config: [instance] must be a table");
    };
    // A stack file that names [instance] replaces the default one whole: keep its CPUs.
    instance.entry("cpus").or_insert(toml::Value::Float(1.0));
    instance.insert(
        "worker_concurrency".into(),
        toml::Value::Integer(i64::from(concurrency)),
    );
    Ok(toml::to_string(&table)?)
}

/// Runs every cell; returns the run directories and whether every cell processed all it
/// should have (sustained: everything, no failures; saturation: no failures).
pub async fn run(plan: &Scenario2Plan) -> anyhow::Result<crate::run::Outcome> {
    std::fs::create_dir_all(&plan.out_dir).with_context(|| {
        format!(
            "cannot create the output directory {}",
            plan.out_dir.display()
        )
    })?;
    let binary = match &plan.target {
        TargetChoice::Local { binary, .. } => find_target_stack(binary.as_deref())?,
        // Injection still goes through target-stack, with the ANB_* backends of the target.
        TargetChoice::Host { .. } | TargetChoice::AwsStack { .. } => find_target_stack(None)?,
    };
    let cache = payload_cache();
    let mut measured: BTreeMap<(u64, u32), f64> = BTreeMap::new();
    let mut results = Vec::new();
    for (index, cell) in plan.cells.iter().enumerate() {
        eprintln!(
            "\ncell {}/{}: {} ({} bytes, concurrency {}, {})",
            index + 1,
            plan.cells.len(),
            cell.label(),
            cell.size_bytes,
            cell.concurrency,
            cell.mode.as_str()
        );
        let reference = measured.get(&(cell.size_bytes, cell.concurrency)).copied();
        let result = run_cell(plan, cell, reference, &binary, &cache).await?;
        if cell.mode == Mode::Sustained && result.summary.videos_per_minute > 0.0 {
            measured.insert(
                (cell.size_bytes, cell.concurrency),
                result.summary.videos_per_minute,
            );
        }
        print_cell(&result);
        results.push(result);
    }
    if results.len() > 1 {
        let index = write_index(&plan.out_dir, &results)?;
        eprintln!("matrix index: {}", index.display());
    }
    print_matrix(&results);
    Ok(crate::run::Outcome {
        passed: results.iter().all(|r| r.passed),
        // The worker path has no HTTP target to lose; a dead worker shows as a stuck queue.
        target_lost: false,
        runs: results.into_iter().map(|r| r.dir).collect(),
    })
}

async fn run_cell(
    plan: &Scenario2Plan,
    cell: &Cell,
    reference_x: Option<f64>,
    binary: &Path,
    cache: &Path,
) -> anyhow::Result<CellResult> {
    let (url, local) = match &plan.target {
        TargetChoice::Host { url, .. } => (url.clone(), None),
        TargetChoice::AwsStack { name, .. } => {
            anyhow::bail!("--aws-stack {name} was not resolved")
        }
        TargetChoice::Local {
            keep_data,
            stack_config: user,
            ..
        } => {
            let user = crate::run::read_stack_config(user.as_deref())?;
            let config = stack_config(cell.concurrency, user.as_deref())?;
            let target = LocalTarget::start(binary, *keep_data, Some(&config), None).await?;
            (target.url.clone(), Some(target))
        }
    };
    let result = measure_cell(plan, cell, reference_x, binary, cache, &url, local.as_ref()).await;
    if let Some(target) = local {
        target.stop().await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure_cell(
    plan: &Scenario2Plan,
    cell: &Cell,
    reference_x: Option<f64>,
    binary: &Path,
    cache: &Path,
    url: &str,
    local: Option<&LocalTarget>,
) -> anyhow::Result<CellResult> {
    let data_dir = local.map(|t| t.data_dir.as_path());
    let log = match data_dir {
        Some(dir) => dir.join("inject.log"),
        None => plan.out_dir.join("inject.log"),
    };
    let mut inject = InjectClient::start(binary, data_dir, cache, &log)?;
    eprintln!(
        "preparing a {} MB video (generated once, cached in {})…",
        cell.size_bytes as f64 / 1e6,
        cache.display()
    );
    let bytes = inject.prepare(cell.size_bytes).await?;
    let workers = 1;
    let slots = u64::from(cell.concurrency) * workers;

    let (injection, calibration) = match cell.mode {
        Mode::Sustained => {
            let total = plan
                .tasks
                .unwrap_or((3 * slots).max(capacity_model::confidence::MIN_EVENTS_FOR_RATE));
            let injection = match plan.rate_per_minute {
                Some(per_minute) => Injection::Rate { per_minute, total },
                None => Injection::KeepInSystem {
                    backlog: slots,
                    total,
                },
            };
            (injection, None)
        }
        Mode::Saturation => {
            let (start, increment, calibration) = match (plan.rate_per_minute, reference_x) {
                (Some(rate), _) => (rate, rate, None),
                (None, Some(x)) => (x / 2.0, x / 2.0, None),
                (None, None) => {
                    let x = calibrate(&mut inject, slots, plan.drain_timeout).await?;
                    (x / 2.0, x / 2.0, Some(x))
                }
            };
            let step = step_for(plan.step, start);
            (
                Injection::staircase(start, increment, plan.steps.max(1), step),
                calibration,
            )
        }
    };

    let started = OffsetDateTime::now_utc();
    let run_id = RunId::parse(&format!(
        "{}-{}",
        RunId::generate(started, "scenario2"),
        cell.label()
    ))?;
    let dir = RunDir::create(&plan.out_dir, &run_id)?;
    let mut manifest = manifest(plan, cell, &run_id, url, local, started, &injection);
    dir.write_manifest(&manifest)?;
    eprintln!("run {run_id} → {}", dir.path().display());
    if let Some(x) = calibration {
        eprintln!("calibration: {x:.2} videos/min; the staircase starts at half that");
    }

    let wall_start = SystemTime::now();
    let clock = Instant::now();
    let drive = drive(&mut inject, &injection, plan.drain_timeout, clock).await?;
    let ended = OffsetDateTime::now_utc();
    let ids: Vec<String> = drive.queued.iter().map(|t| t.task_id.clone()).collect();
    let runs = inject.runs(ids).await?;
    inject.close().await;

    let mut by_task: BTreeMap<&str, Vec<&rundir::TaskRun>> = BTreeMap::new();
    for run in &runs {
        by_task.entry(run.task_id.as_str()).or_default().push(run);
    }
    let rows: Vec<TasksRow> = drive
        .queued
        .iter()
        .map(|t| {
            TasksRow::from_runs(
                t,
                by_task.get(t.task_id.as_str()).map_or(&[][..], |v| &v[..]),
            )
        })
        .collect();
    rundir::write_tasks(BufWriter::new(File::create(dir.tasks_path())?), &rows)?;
    write_queue_csv(&dir.path().join(QUEUE_FILE), &drive.samples, &rows)?;
    write_task_histograms(&dir, wall_start, &rows)?;

    manifest.ended_at = Some(ended);
    dir.write_manifest(&manifest)?;
    if let Some(target) = local {
        crate::run::copy_telemetry(&target.telemetry_dir(), &dir, started, ended)
            .context("cannot copy the stack's telemetry into the run directory")?;
    }
    let worker_cpu = local.and_then(|_| mean_worker_cpu(&dir));
    let mut summary = figures(
        cell,
        bytes,
        workers as u32,
        &injection,
        &drive,
        &rows,
        started,
    );
    summary.worker_cpu_percent = worker_cpu;
    let passed = summary.failed == 0
        && (cell.mode == Mode::Saturation || summary.unfinished == 0)
        && drive.interruption.is_none();
    dir.write_summary(&Summary {
        format_version: rundir::FORMAT_VERSION,
        run_id: run_id.clone(),
        duration_ms: (ended - started).whole_milliseconds().max(0) as u64,
        interrupted: drive.interruption.is_some(),
        interruption: drive.interruption.clone(),
        model_note: calibration
            .map(|x| format!("the staircase was based on a calibration of {x:.2} videos/min")),
        endpoints: Vec::new(),
        total: tasks_total(&rows, ended - started),
        skipped: Vec::new(),
        thresholds: Vec::new(),
        passed,
        worker: Some(summary.clone()),
    })?;
    Ok(CellResult {
        cell: *cell,
        dir: dir.path().to_path_buf(),
        run_id,
        summary,
        passed,
    })
}

/// `queue.csv`: scenario 2's per-second view of the queue, as loadgen sampled it.
pub const QUEUE_FILE: &str = "queue.csv";

fn manifest(
    plan: &Scenario2Plan,
    cell: &Cell,
    run_id: &RunId,
    url: &str,
    local: Option<&LocalTarget>,
    started: OffsetDateTime,
    injection: &Injection,
) -> Manifest {
    let (load_model, stages) = match injection {
        Injection::KeepInSystem { backlog, .. } => (
            LoadModel::Closed {
                max_users: *backlog as u32,
            },
            Vec::new(),
        ),
        Injection::Rate { per_minute, .. } => (
            LoadModel::Open {
                max_rate_per_sec: per_minute / 60.0,
                max_in_flight: u32::MAX,
            },
            Vec::new(),
        ),
        Injection::Staircase { rates, step } => (
            LoadModel::Open {
                max_rate_per_sec: rates.iter().cloned().fold(0.0, f64::max) / 60.0,
                max_in_flight: u32::MAX,
            },
            rates
                .iter()
                .enumerate()
                .map(|(k, rate)| Stage {
                    name: format!("step{}", k + 1),
                    start_offset_ms: (step.as_millis() as u64) * k as u64,
                    duration_ms: step.as_millis() as u64,
                    users: None,
                    rate_per_sec: Some(rate / 60.0),
                    ramp: false,
                })
                .collect(),
        ),
    };
    Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: run_id.clone(),
        scenario: "scenario2".into(),
        profile: cell.mode.as_str().into(),
        load_model,
        target: Target {
            url: url.to_string(),
            stack: match local {
                Some(t) => StackKind::Local {
                    data_dir: Some(t.data_dir.display().to_string()),
                },
                None => StackKind::External,
            },
        },
        started_at: started,
        ended_at: None,
        time_scale: 1.0,
        stages,
        thresholds: Vec::new(),
        tool: ToolVersions {
            aforo: env!("CARGO_PKG_VERSION").to_string(),
            goose: "-".to_string(),
            hdrhistogram: "7".to_string(),
        },
        host: HostInfo::current(),
        workload: rundir::Workload {
            upload_bytes: Some(cell.size_bytes),
            think_time_s: None,
            ..Default::default()
        },
        command_line: plan.command_line.clone(),
        shard: None,
    }
}

/// One second of the queue, as sampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSample {
    /// Seconds since the clock started.
    pub t: f64,
    pub at: OffsetDateTime,
    pub visible: u64,
    pub in_flight: u64,
    /// Tasks queued so far.
    pub enqueued: u64,
    /// The staircase step (0 otherwise).
    pub step: usize,
    /// Still injecting (false while draining).
    pub injecting: bool,
}

#[derive(Debug, Default)]
pub struct DriveLog {
    pub queued: Vec<QueuedTask>,
    pub samples: Vec<QueueSample>,
    pub interruption: Option<String>,
    pub drained: bool,
}

/// Queues what the injection says, samples the queue once a second, and waits for the
/// queue to drain (up to `drain_timeout` after the last task) or Ctrl-C.
async fn drive(
    inject: &mut InjectClient,
    injection: &Injection,
    drain_timeout: Duration,
    clock: Instant,
) -> anyhow::Result<DriveLog> {
    let mut log = DriveLog::default();
    let mut done_at: Option<Duration> = None;
    let mut next_sample = Duration::ZERO;
    let mut last_progress = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let elapsed = clock.elapsed();
        let counts = inject.depth().await?;
        let in_system = counts.visible + counts.in_flight;
        let due = injection.due(elapsed, log.queued.len() as u64, in_system);
        if due > 0 {
            log.queued.extend(inject.enqueue(due).await?);
        }
        let injecting = !injection.is_done(elapsed, log.queued.len() as u64);
        if elapsed >= next_sample {
            log.samples.push(QueueSample {
                t: elapsed.as_secs_f64(),
                at: OffsetDateTime::now_utc(),
                // What was just queued is in the queue too.
                visible: counts.visible + due,
                in_flight: counts.in_flight,
                enqueued: log.queued.len() as u64,
                step: injection.step_at(elapsed),
                injecting,
            });
            next_sample += Duration::from_secs(1);
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "  {:>5.0}s queued {} · visible {} · in flight {}{}",
                elapsed.as_secs_f64(),
                log.queued.len(),
                counts.visible,
                counts.in_flight,
                if injecting { "" } else { " · draining" }
            );
        }
        if !injecting {
            let since = *done_at.get_or_insert(elapsed);
            if in_system == 0 && due == 0 {
                log.drained = true;
                break;
            }
            if elapsed.saturating_sub(since) > drain_timeout {
                break;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = &mut ctrl_c => {
                log.interruption = Some("interrupted (Ctrl-C)".into());
                break;
            }
        }
    }
    Ok(log)
}

/// Keeps `slots` tasks in the system until `2 × slots` finished: a first X (videos per
/// minute) for a saturation staircase with nothing better to start from.
async fn calibrate(
    inject: &mut InjectClient,
    slots: u64,
    drain_timeout: Duration,
) -> anyhow::Result<f64> {
    let total = (2 * slots).max(2);
    eprintln!("calibrating: {total} tasks, {slots} at a time…");
    let clock = Instant::now();
    let log = drive(
        inject,
        &Injection::KeepInSystem {
            backlog: slots,
            total,
        },
        drain_timeout,
        clock,
    )
    .await?;
    anyhow::ensure!(
        log.drained,
        "calibration did not finish within {drain_timeout:?}: are the workers running? Give --rate to skip it"
    );
    let minutes = clock.elapsed().as_secs_f64() / 60.0;
    Ok(total as f64 / minutes)
}

fn to_micros(d: time::Duration) -> u64 {
    d.whole_microseconds().max(1) as u64
}

fn histogram_of(values: impl Iterator<Item = time::Duration>) -> Histogram<u64> {
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
fn tasks_total(rows: &[TasksRow], duration: time::Duration) -> EndpointSummary {
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

/// `queue.csv`: `timestamp,visible,in_flight,enqueued,finished` once a second.
fn write_queue_csv(path: &Path, samples: &[QueueSample], rows: &[TasksRow]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut finishes: Vec<OffsetDateTime> = rows.iter().filter_map(|r| r.finished_at).collect();
    finishes.sort();
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "timestamp,visible,in_flight,enqueued,finished")?;
    for s in samples {
        let finished = finishes.partition_point(|f| *f <= s.at);
        let at =
            s.at.replace_nanosecond(s.at.millisecond() as u32 * 1_000_000)
                .unwrap_or(s.at);
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        writeln!(
            out,
            "{at},{},{},{},{finished}",
            s.visible, s.in_flight, s.enqueued
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Queue wait and service time per task, in `latency.hlog` under the tags `task_wait` and
/// `task_service`, one interval per second of the tasks' finish times.
fn write_task_histograms(dir: &RunDir, start: SystemTime, rows: &[TasksRow]) -> anyhow::Result<()> {
    let mut writer =
        LatencyLogWriter::new(BufWriter::new(File::create(dir.latency_log_path())?), start)?;
    let start_at = OffsetDateTime::from(start);
    let mut seconds: BTreeMap<i64, (Histogram<u64>, Histogram<u64>)> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.status == TaskStatus::Processed) {
        let (Some(finish), Some(wait), Some(service)) =
            (row.finished_at, row.wait(), row.service())
        else {
            continue;
        };
        let second = (finish - start_at).whole_seconds().max(0);
        let entry = seconds.entry(second).or_insert_with(|| {
            (
                histogram_of(std::iter::empty()),
                histogram_of(std::iter::empty()),
            )
        });
        entry.0.saturating_record(to_micros(wait));
        entry.1.saturating_record(to_micros(service));
    }
    for (second, (wait, service)) in &seconds {
        let at = start + Duration::from_secs(*second as u64);
        writer.write_interval("task_wait", at, Duration::from_secs(1), wait)?;
        writer.write_interval("task_service", at, Duration::from_secs(1), service)?;
    }
    writer.flush()?;
    Ok(())
}

/// Mean `CPUUtilization` of the worker group in the run's metrics.csv.
fn mean_worker_cpu(dir: &RunDir) -> Option<f64> {
    let file = File::open(dir.metrics_path()).ok()?;
    let rows = rundir::read_metrics(std::io::BufReader::new(file)).ok()?;
    let values: Vec<f64> = rows
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

fn print_cell(r: &CellResult) {
    let s = &r.summary;
    eprintln!(
        "{}: {} queued, {} processed, {} failed, {} unfinished · X {:.2} videos/min ({:.1} MB/min) · S mean {:.1} s p50 {:.1} s · wait p50 {:.1} s · queue {} ({}) · Little: L {:.2} vs X·(W+S) {:.2}{}",
        r.cell.label(),
        s.enqueued,
        s.processed,
        s.failed,
        s.unfinished,
        s.videos_per_minute,
        s.megabytes_per_minute,
        s.service_us.mean / 1e6,
        s.service_us.p50 as f64 / 1e6,
        s.wait_us.p50 as f64 / 1e6,
        s.queue_verdict,
        slope_text(s.queue_slope_per_minute, s.queue_slope_error_per_minute),
        s.mean_in_system,
        s.little_in_system,
        s.worker_cpu_percent
            .map_or(String::new(), |c| format!(" · worker CPU {c:.0}%")),
    );
    for (k, step) in s.steps.iter().enumerate() {
        eprintln!(
            "    step {}: {:.2} arrivals/min → {:.2} done/min, queue {} ({})",
            k + 1,
            step.rate_per_minute,
            step.completed_per_minute,
            step.queue_verdict,
            slope_text(
                step.queue_slope_per_minute,
                step.queue_slope_error_per_minute
            )
        );
    }
}

/// "+1.20 ± 0.35/min" (the 95 % interval), or "no slope" without enough samples.
fn slope_text(slope: Option<f64>, error: Option<f64>) -> String {
    match (slope, error) {
        (Some(slope), Some(error)) => format!(
            "{slope:+.2} ± {:.2}/min",
            capacity_model::confidence::Z_95 * error
        ),
        (Some(slope), None) => format!("{slope:+.2}/min"),
        _ => "no slope: too few samples".to_owned(),
    }
}

fn print_matrix(results: &[CellResult]) {
    println!(
        "\n{:<28} {:>6} {:>9} {:>11} {:>9} {:>9} {:>10} {:>6} {:<28}",
        "cell", "tasks", "processed", "videos/min", "MB/min", "S mean", "S p50", "CPU%", "queue"
    );
    for r in results {
        let s = &r.summary;
        println!(
            "{:<28} {:>6} {:>9} {:>11.2} {:>9.1} {:>8.1}s {:>9.1}s {:>6} {:<28}",
            r.cell.label(),
            s.enqueued,
            format!("{}/{}", s.processed, s.enqueued),
            s.videos_per_minute,
            s.megabytes_per_minute,
            s.service_us.mean / 1e6,
            s.service_us.p50 as f64 / 1e6,
            s.worker_cpu_percent
                .map_or("-".to_string(), |c| format!("{c:.0}")),
            s.queue_verdict,
        );
    }
}

/// `scenario2-matrix-<time>.json` in the output directory: every cell with its run id.
fn write_index(out: &Path, results: &[CellResult]) -> anyhow::Result<PathBuf> {
    let cells: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "cell": r.cell.label(),
                "run_id": r.run_id.to_string(),
                "size_bytes": r.cell.size_bytes,
                "concurrency": r.cell.concurrency,
                "mode": r.cell.mode.as_str(),
                "passed": r.passed,
                "summary": r.summary,
            })
        })
        .collect();
    let now = OffsetDateTime::now_utc();
    let path = out.join(format!(
        "scenario2-matrix-{:04}{:02}{:02}T{:02}{:02}{:02}Z.json",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    ));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&serde_json::json!({ "cells": cells }))?,
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use rundir::{QueuedTask, TaskOutcome, TaskRun};
    use time::macros::datetime;

    use super::*;

    /// Regression (issue 15, defect 5): 60 s steps at 1.65 arrivals/min saw 1–2 arrivals.
    /// By default a step is long enough for 10 at the first rate; one asked for is kept.
    #[test]
    fn a_default_step_gives_enough_arrivals_at_the_first_rate() {
        // 11 / 1.65 per minute = 400 s: ten arrivals inside the step (measured: a 240 s
        // step at 2.5/min held 9).
        assert_eq!(step_for(None, 1.65), Duration::from_secs(400));
        assert_eq!(
            step_for(None, 60.0),
            MIN_STEP,
            "never shorter than a minute"
        );
        assert_eq!(
            step_for(Some(Duration::from_secs(30)), 1.65),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn a_users_stack_keeps_its_worker_group_and_takes_the_cells_concurrency() {
        let user = "[instance]\nworker_concurrency = 4\n\n[worker]\nname = \"worker\"\n\
                    min = 1\nmax = 2\nwarmup_secs = 1.0\n";
        let config: toml::Table = toml::from_str(&stack_config(1, Some(user)).unwrap()).unwrap();
        assert_eq!(
            config["instance"]["worker_concurrency"].as_integer(),
            Some(1)
        );
        assert_eq!(config["instance"]["cpus"].as_float(), Some(1.0));
        assert_eq!(config["worker"]["max"].as_integer(), Some(2));
        // Without one, the cell measures one fixed worker instance.
        let fixed: toml::Table = toml::from_str(&stack_config(2, None).unwrap()).unwrap();
        assert_eq!(fixed["worker"]["max"].as_integer(), Some(1));
        assert_eq!(
            fixed["instance"]["worker_concurrency"].as_integer(),
            Some(2)
        );
        let e = stack_config(1, Some("[instance\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--stack-config"), "{e}");
    }

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
