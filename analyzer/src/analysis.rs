//! The capacity model of a set of runs: what goes into `analysis.json` (its schema is
//! documented in `docs/analysis.md`) and its readable summary.
//!
//! Every section is computed from measurements; a section that cannot be computed holds
//! the reason instead (`{"unavailable": "..."}`), so a reader sees why rather than nothing.

use std::collections::BTreeMap;

use capacity_model::confidence::{MIN_EVENTS_FOR_RATE, rate_interval};
use capacity_model::{
    KpiRules, MmcQueue, UslError, UslFit, closed_model_check, find_knee, open_model_check,
    servers_for_wait,
};
use time::OffsetDateTime;

pub use capacity_model::analysis::{
    ANALYSIS_FORMAT_VERSION, Analysis, Capacity, EndpointStats, ErlangSizing, LITTLE_TOLERANCE,
    LittleCheck, LoadKind, LoadPoint, Missing, Note, RunInfo, RunTimeline, SPECTRUM_PERCENTILES,
    ScaleOut, Second, Section, Settings, Spectrum, StageInfo, StepJudgement, Tier, USL_POOR_FIT,
    UslSection, WorkerCell, WorkerStep,
};

use crate::reactions::{scale_ins, scale_outs};
use crate::runs::RunData;
use crate::stages::{endpoint_stats, judges_the_web_tier, kpi_tier, load_points, stats_of};
use crate::timeline::{Kpi, Timeline, Window};

/// CPU above this is a degraded KPI (the course's and AWS's usual scale-out target is 70).
pub const CPU_LIMIT_PERCENT: f64 = 80.0;

/// Builds the analysis of `runs` (loaded by `runs::load`).
pub fn analyze(runs: &[RunData], settings: &Settings, now: OffsetDateTime) -> Analysis {
    let mut notes = Vec::new();
    let mut stages = Vec::new();
    let mut little = Vec::new();
    let mut scale = Vec::new();
    let mut scale_in = Vec::new();
    let mut workers = Vec::new();
    let mut timelines = Vec::new();
    let mut merged: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut merged_counts: BTreeMap<String, rundir::RequestCounts> = BTreeMap::new();
    let mut merged_seconds = 0i64;

    for run in runs {
        let timeline = Timeline::new(&run.intervals, &run.requests, &run.metrics);
        let id = run.manifest.run_id.as_str();
        timelines.push(run_timeline(run, &timeline));
        let warmup = |group: &str| {
            let stack = run.stack.as_ref()?;
            Some(stack.groups.iter().find(|g| g.name == group)?.warmup_secs)
        };
        scale.extend(scale_outs(
            id,
            &timeline,
            &run.activities,
            settings.slo.p95_ms,
            warmup,
        ));
        scale_in.extend(scale_ins(id, &timeline, &run.activities));
        // A fleet's merged run drops its generators' summaries on purpose (runs::merge_fleets).
        if run.summary.is_none() && run.manifest.shard.is_none() {
            notes.push(Note::NoSummary {
                run_id: id.to_string(),
                worker: run.manifest.scenario == "scenario2",
            });
            if run.manifest.scenario == "scenario2" {
                continue;
            }
        }
        if let Some(recorded) = run.summary.as_ref().and_then(|s| s.worker.as_ref()) {
            let worker = worker_figures(run).unwrap_or_else(|| recorded.clone());
            let cell = worker_cell(run, &worker, settings);
            if let Some(check) = worker_little(run, &worker) {
                little.push(check);
            }
            workers.push(cell);
            continue;
        }
        let whole = Window::new(i64::MIN / 2, i64::MAX / 2);
        for endpoint in timeline.endpoints() {
            merged
                .entry(endpoint.clone())
                .or_insert_with(|| rundir::merge(std::iter::empty()))
                .add(timeline.latency(Some(&endpoint), whole))
                .expect("an auto-resizing histogram takes any histogram");
            *merged_counts.entry(endpoint.clone()).or_default() +=
                &timeline.counts(Some(&endpoint), whole);
        }
        merged_seconds += run_seconds(run);
        let points = load_points(&run.manifest, &timeline, settings.slo.p95_ms);
        if points.is_empty() && !run.intervals.is_empty() {
            notes.push(Note::NoLoadPoint {
                run_id: id.to_string(),
            });
        }
        let think = think_per_request(&run.manifest.workload);
        little.extend(points.iter().filter_map(|p| point_little(p, think)));
        stages.extend(points);
    }
    stages.sort_by_key(|p| p.from);

    let latency = merged
        .iter()
        .map(|(name, h)| {
            let counts = merged_counts.get(name).cloned().unwrap_or_default();
            // A log without requests.csv (another tool's) still counts its samples.
            let samples = counts.requests.max(h.len());
            stats_of(name, h, &counts, samples, merged_seconds)
        })
        .collect();

    let (capacity, usl) = capacity_and_usl(&stages, settings, &mut notes);
    let mut analysis = Analysis {
        format_version: ANALYSIS_FORMAT_VERSION,
        generated_at: now,
        aforo: env!("CARGO_PKG_VERSION").to_owned(),
        settings: settings.clone(),
        runs: runs.iter().map(run_info).collect(),
        latency,
        stages,
        capacity,
        usl,
        little,
        scale_outs: scale,
        scale_ins: scale_in,
        workers,
        timelines,
        spectra: merged
            .iter()
            .map(|(endpoint, h)| Spectrum {
                endpoint: endpoint.clone(),
                points: SPECTRUM_PERCENTILES
                    .iter()
                    .map(|p| (*p, h.value_at_quantile(p / 100.0) as f64 / 1000.0))
                    .collect(),
            })
            .collect(),
        notes,
        // Priced afterwards, from the analysis itself (`crate::cost::section`).
        cost: None,
        recommendations: None,
    };
    analysis.recommendations = Some(capacity_model::advice::recommend(&analysis));
    analysis
}

/// The run's seconds, from its start (or first sample) to its end (or last sample).
fn run_timeline(run: &RunData, timeline: &Timeline) -> RunTimeline {
    let start = run.manifest.started_at.unix_timestamp();
    let end = run
        .manifest
        .ended_at
        .map_or(start + run_seconds(run), |e| e.unix_timestamp() + 1);
    let ms = |us: u64| us as f64 / 1000.0;
    let tasks = TasksPerSecond::of(run, start, end);
    let seconds = (start..end)
        .map(|t| {
            let window = Window::new(t, t + 1);
            let h = timeline.latency(None, window);
            let counts = timeline.counts(None, window);
            let mut second = Second {
                requests: counts.requests,
                errors: counts.errors(),
                queue_visible: timeline.kpi_mean(&Kpi::QueueVisible, window),
                tasks_enqueued: tasks.as_ref().map(|c| c.enqueued[(t - start) as usize]),
                tasks_finished: tasks.as_ref().map(|c| c.finished[(t - start) as usize]),
                ..Second::default()
            };
            if !h.is_empty() {
                second.p50_ms = Some(ms(h.value_at_quantile(0.50)));
                second.p95_ms = Some(ms(h.value_at_quantile(0.95)));
                second.p99_ms = Some(ms(h.value_at_quantile(0.99)));
            }
            for kpi in timeline.kpis() {
                match kpi {
                    Kpi::InService(g) => {
                        if let Some(v) = timeline.kpi_mean(kpi, window) {
                            second.in_service.insert(g.clone(), v);
                        }
                    }
                    Kpi::Cpu(g) => {
                        if let Some(v) = timeline.kpi_mean(kpi, window) {
                            second.cpu_percent.insert(g.clone(), v);
                        }
                    }
                    _ => {}
                }
            }
            second
        })
        .collect();
    let whole = Window::new(start, end);
    RunTimeline {
        run_id: run.manifest.run_id.as_str().to_owned(),
        start,
        seconds,
        endpoints: timeline
            .endpoints()
            .iter()
            .map(|e| endpoint_stats(timeline, Some(e), whole))
            .collect(),
    }
}

/// A scenario-2 run's task arrivals and completions on its grid of seconds (tasks outside
/// the run's span are left out); `None` for a run without tasks.
struct TasksPerSecond {
    enqueued: Vec<u64>,
    finished: Vec<u64>,
}

impl TasksPerSecond {
    fn of(run: &RunData, start: i64, end: i64) -> Option<Self> {
        if run.tasks.is_empty() {
            return None;
        }
        let len = usize::try_from(end - start).unwrap_or(0);
        let mut counts = TasksPerSecond {
            enqueued: vec![0; len],
            finished: vec![0; len],
        };
        let index = |at: OffsetDateTime| {
            usize::try_from(at.unix_timestamp() - start)
                .ok()
                .filter(|&i| i < len)
        };
        for task in &run.tasks {
            if let Some(i) = index(task.enqueued_at) {
                counts.enqueued[i] += 1;
            }
            if task.status == rundir::TaskStatus::Processed
                && let Some(i) = task.finished_at.and_then(index)
            {
                counts.finished[i] += 1;
            }
        }
        Some(counts)
    }
}

fn run_seconds(run: &RunData) -> i64 {
    match run.manifest.ended_at {
        Some(end) => (end - run.manifest.started_at).whole_seconds().max(1),
        None => run.intervals.len().max(1) as i64,
    }
}

fn run_info(run: &RunData) -> RunInfo {
    RunInfo {
        run_id: run.manifest.run_id.as_str().to_owned(),
        scenario: run.manifest.scenario.clone(),
        profile: run.manifest.profile.clone(),
        target: run.manifest.target.url.clone(),
        stack: match run.manifest.target.stack {
            rundir::StackKind::Local { .. } => "local",
            rundir::StackKind::External => "external",
            rundir::StackKind::Aws { .. } => "aws",
        }
        .to_owned(),
        started_at: run.manifest.started_at,
        ended_at: run.manifest.ended_at,
        requests: run.requests.iter().map(|r| r.counts.requests).sum(),
        metric_rows: run.metrics.len(),
        activities: run.activities.len(),
        tasks: run.tasks.len(),
        load: match run.manifest.load_model {
            rundir::LoadModel::Closed { max_users } => format!("closed, up to {max_users} users"),
            rundir::LoadModel::Open {
                max_rate_per_sec, ..
            } => format!("open, up to {max_rate_per_sec}/s"),
        },
        stages: run
            .manifest
            .stages
            .iter()
            .map(|s| StageInfo {
                name: s.name.clone(),
                seconds: s.duration_ms as f64 / 1000.0,
                level: s.users.map(f64::from).or(s.rate_per_sec).unwrap_or(0.0),
                ramp: s.ramp,
            })
            .collect(),
        time_scale: run.manifest.time_scale,
        host_cores: run.manifest.host.cores,
        host: format!("{} ({})", run.manifest.host.hostname, run.manifest.host.os),
        command_line: run.manifest.command_line.clone(),
        stack_config: run.stack.clone(),
        load_kind: Some(match run.manifest.load_model {
            rundir::LoadModel::Closed { .. } => LoadKind::Users,
            rundir::LoadModel::Open { .. } => LoadKind::Rate,
        }),
        max_load: Some(match run.manifest.load_model {
            rundir::LoadModel::Closed { max_users } => f64::from(max_users),
            rundir::LoadModel::Open {
                max_rate_per_sec, ..
            } => max_rate_per_sec,
        }),
        workload: run.manifest.workload.clone(),
    }
}

/// The Z of N = X·(R + Z): the users' mean pause per request, in seconds. Manifests from
/// before think time was recorded had none; with pacing it depends on R and is unknown.
fn think_per_request(workload: &rundir::Workload) -> Option<f64> {
    match workload.pacing_s {
        Some(_) => None,
        None => Some(workload.think_time_s.unwrap_or(0.0)),
    }
}

fn point_little(p: &LoadPoint, think_s: Option<f64>) -> Option<LittleCheck> {
    let rps = p.total.rps;
    let response_s = p.total.mean_ms? / 1000.0;
    Some(little_of(p, rps, response_s, think_s))
}

fn little_of(p: &LoadPoint, rps: f64, response_s: f64, think_s: Option<f64>) -> LittleCheck {
    // Pacing: the users' pause is unknown, so only λ·R is reported.
    let Some(think_s) = think_s else {
        return open_little(p, rps, response_s);
    };
    match p.load_kind {
        LoadKind::Users => match closed_model_check(p.load, rps, response_s, think_s) {
            Ok(check) => LittleCheck::Closed {
                label: p.label.clone(),
                run_id: p.run_id.clone(),
                holds: check.holds_within(LITTLE_TOLERANCE),
                check,
            },
            // Zero users (the very start of a ramp): nothing to check, so report λ·R only.
            Err(_) => open_little(p, rps, response_s),
        },
        LoadKind::Rate => open_little(p, rps, response_s),
    }
}

fn open_little(p: &LoadPoint, rps: f64, response_s: f64) -> LittleCheck {
    LittleCheck::Open {
        label: p.label.clone(),
        run_id: p.run_id.clone(),
        rate: rps,
        in_flight_implied: rps * response_s,
    }
}

fn capacity_and_usl(
    stages: &[LoadPoint],
    settings: &Settings,
    notes: &mut Vec<Note>,
) -> (Section<Capacity>, Section<UslSection>) {
    if stages.is_empty() {
        return (
            Section::missing(Missing::NoScenario1Points),
            Section::missing(Missing::NoScenario1Points),
        );
    }
    // One kind of load per curve: the kind most points have.
    let users = stages
        .iter()
        .filter(|p| p.load_kind == LoadKind::Users)
        .count();
    let kind = if users * 2 >= stages.len() {
        LoadKind::Users
    } else {
        LoadKind::Rate
    };
    let mut points: Vec<(usize, &LoadPoint)> = stages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.load_kind == kind && p.load > 0.0)
        .collect();
    if points.len() < stages.len() {
        notes.push(Note::OtherLoadKindLeftOut {
            used: points.len(),
            kind,
            left_out: stages.len() - points.len(),
        });
    }
    points.sort_by(|(_, a), (_, b)| a.load.total_cmp(&b.load));
    // A point without latency (every request refused at connect) is judged by its errors
    // alone; one whose errors are within the SLO cannot be judged either way.
    let (judged, unjudged): (Vec<_>, Vec<_>) = points.into_iter().partition(|(_, p)| {
        p.worst_p95_ms.is_some() || p.total.error_ratio > settings.slo.max_error_ratio
    });
    if !unjudged.is_empty() {
        notes.push(Note::UnjudgedPoints {
            points: unjudged.iter().map(|(_, p)| p.knee_label()).collect(),
            min_samples: capacity_model::confidence::min_samples_for_quantile(0.95),
        });
    }
    // The knee's stages are these points in this order; their places in `stages` say which
    // load point each knee stage is.
    let (judged_points, points): (Vec<usize>, Vec<&LoadPoint>) = judged.into_iter().unzip();

    let knee_stages: Vec<capacity_model::Stage> = points
        .iter()
        .map(|p| capacity_model::Stage {
            label: p.knee_label(),
            load: p.load,
            rps: p.total.rps,
            p95_ms: p.worst_p95_ms,
            error_ratio: p.total.error_ratio,
            samples: p.total.samples,
            kpis: p
                .kpis
                .iter()
                .filter(|(name, _)| judges_the_web_tier(name))
                .map(|(name, value)| (name.clone(), *value))
                .collect(),
        })
        .collect();
    let mut rules = KpiRules::default();
    // The load balancer's view of the targets' p95 degrades where it passes the SLO's: it
    // rises with load by design, so a rise over its baseline would only measure the ramp.
    rules
        .thresholds
        .insert(Kpi::TargetP95Ms.name(), settings.slo.p95_ms);
    for p in &points {
        for name in p
            .kpis
            .keys()
            .filter(|n| n.starts_with("cpu_percent:") || n.starts_with("db_cpu_percent:"))
        {
            rules.thresholds.insert(name.clone(), CPU_LIMIT_PERCENT);
        }
    }
    let capacity = match find_knee(&knee_stages, &settings.slo, &rules) {
        Ok(knee) => {
            // Instances and the rate per instance come from the best point itself.
            let instances = knee
                .best_within_slo
                .as_ref()
                .and_then(|best| points[best.index].healthy_hosts())
                .filter(|h| *h > 0.0);
            let kpi_tiers = knee
                .kpi_degradations
                .iter()
                .map(|d| (d.kpi.clone(), kpi_tier(&d.kpi)))
                .collect();
            Section::Available(Capacity {
                load_kind: kind,
                points: knee_stages.len(),
                rps_per_instance: knee
                    .best_within_slo
                    .as_ref()
                    .zip(instances)
                    .map(|(best, h)| best.rps / h),
                instances_at_best: instances,
                kpi_tiers,
                knee,
                judged_points,
            })
        }
        Err(e) => Section::missing(Missing::Refused {
            model: "knee".into(),
            message: e.to_string(),
        }),
    };

    let usl_points: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.total.rps > 0.0)
        .filter_map(|p| match kind {
            LoadKind::Users => Some((p.load, p.total.rps)),
            LoadKind::Rate => Some((p.total.rps * p.total.mean_ms? / 1000.0, p.total.rps)),
        })
        .filter(|(n, _)| *n > 0.0)
        .collect();
    let usl = match UslFit::fit(&usl_points) {
        Ok(fit) if !fit.model().is_physical() => Section::missing(Missing::UnphysicalFit {
            sigma: fit.sigma(),
            kappa: fit.kappa(),
            r_squared: fit.r_squared(),
        }),
        Ok(fit) => Section::Available(UslSection {
            concurrency_from: usl_source(kind),
            points: usl_points,
            fit: fit.summary(),
        }),
        Err(UslError::TooFewLevels { levels }) => Section::missing(Missing::TooFewLevels {
            levels,
            needed: capacity_model::usl::MIN_CONCURRENCY_LEVELS,
        }),
        Err(UslError::DidNotConverge { iterations }) => {
            Section::missing(Missing::DidNotConverge { iterations })
        }
        Err(e) => Section::missing(Missing::Refused {
            model: "USL".into(),
            message: e.to_string(),
        }),
    };
    if let Some(section) = usl.available().filter(|u| u.fits_poorly()) {
        notes.push(Note::PoorUslFit {
            r_squared: section.fit.r_squared,
            threshold: USL_POOR_FIT,
        });
    }
    (capacity, usl)
}

fn usl_source(kind: LoadKind) -> String {
    match kind {
        LoadKind::Users => "users",
        LoadKind::Rate => "little",
    }
    .into()
}

/// Scenario 2's figures from the run's files (tasks.csv, queue.csv, the manifest), as loadgen
/// computed them for its printout; None for a run written before those files held all the
/// figures need, whose summary.json keeps loadgen's.
fn worker_figures(run: &RunData) -> Option<rundir::WorkerSummary> {
    capacity_model::worker::worker_summary(&capacity_model::worker::WorkerRun {
        manifest: &run.manifest,
        tasks: &run.tasks,
        queue: run.queue.as_deref()?,
        metrics: &run.metrics,
    })
    .ok()
}

fn worker_little(run: &RunData, w: &rundir::WorkerSummary) -> Option<LittleCheck> {
    let x_per_s = w.videos_per_minute / 60.0;
    let in_system = w.wait_us.mean / 1e6 + w.service_us.mean / 1e6;
    let check = open_model_check(w.mean_in_system, x_per_s, in_system).ok()?;
    Some(LittleCheck::Workers {
        run_id: run.manifest.run_id.as_str().to_owned(),
        holds: check.holds_within(LITTLE_TOLERANCE),
        check,
    })
}

/// A queue slope's 95 % interval, when loadgen recorded its standard error.
fn slope_interval_of(
    slope: Option<f64>,
    error: Option<f64>,
) -> Option<capacity_model::confidence::Interval> {
    Some(capacity_model::confidence::slope_interval(slope?, error?))
}

fn worker_cell(run: &RunData, w: &rundir::WorkerSummary, settings: &Settings) -> WorkerCell {
    let service_s = w.service_us.mean / 1e6;
    let arrival_per_minute = settings.arrival_per_minute.unwrap_or(w.videos_per_minute);
    let erlang = if service_s <= 0.0 || arrival_per_minute <= 0.0 {
        Section::missing(Missing::NoTaskFinished)
    } else {
        let lambda = arrival_per_minute / 60.0;
        match servers_for_wait(lambda, service_s, settings.target_wait_s)
            .and_then(|c| MmcQueue::new(lambda, service_s, c).map(|q| (c, q.summary())))
        {
            Ok((servers, queue)) => Section::Available(ErlangSizing {
                arrival_per_minute,
                target_wait_s: settings.target_wait_s,
                servers,
                queue,
                assumption: format!(
                    "M/M/c with S = {service_s:.1} s as measured at concurrency {} × {} \
                     worker(s); where workers share CPUs, S grows with concurrency and the \
                     pool must be re-measured at the prescribed size",
                    w.concurrency, w.workers
                ),
            }),
            Err(e) => Section::missing(Missing::Refused {
                model: "Erlang C".into(),
                message: e.to_string(),
            }),
        }
    };
    let slots = f64::from(w.workers.max(1) * w.concurrency.max(1));
    let capacity_per_minute = (service_s > 0.0).then(|| slots * 60.0 / service_s);
    let steps: Vec<WorkerStep> = w
        .steps
        .iter()
        .map(|s| {
            let known = s.seconds > 0.0;
            WorkerStep {
                rate_per_minute: s.rate_per_minute,
                completed_per_minute: s.completed_per_minute,
                seconds: s.seconds,
                arrivals: s.arrivals,
                completions: s.completions,
                completed_interval_per_minute: known
                    .then(|| rate_interval(s.completions, s.seconds / 60.0))
                    .flatten(),
                queue_verdict: s.queue_verdict,
                queue_slope_per_minute: s.queue_slope_per_minute,
                queue_slope_interval_per_minute: slope_interval_of(
                    s.queue_slope_per_minute,
                    s.queue_slope_error_per_minute,
                ),
                judgement: StepJudgement::of(
                    s.rate_per_minute,
                    // Without a service time nothing finished: no capacity was seen.
                    capacity_per_minute.unwrap_or(0.0),
                    known.then_some(s.arrivals),
                    s.queue_verdict.is_growing(),
                ),
            }
        })
        .collect();
    // Steps too short to judge: the length that gives enough arrivals at the lowest rate.
    let step_needed_s = steps
        .iter()
        .any(|s| s.judgement == StepJudgement::NotEnoughData)
        .then(|| {
            let lowest = steps
                .iter()
                .map(|s| s.rate_per_minute)
                .fold(f64::MAX, f64::min);
            // Arrivals come at k / rate: n of them need n + 1 intervals' worth of step.
            ((MIN_EVENTS_FOR_RATE + 1) as f64 / lowest * 60.0).ceil()
        });
    // X is the processed videos over the span from the first enqueue to the last finish.
    let span_minutes =
        (w.videos_per_minute > 0.0).then(|| w.processed as f64 / w.videos_per_minute);
    WorkerCell {
        run_id: run.manifest.run_id.as_str().to_owned(),
        mode: w.mode.clone(),
        size_bytes: w.size_bytes,
        concurrency: w.concurrency,
        workers: w.workers,
        enqueued: w.enqueued,
        processed: w.processed,
        failed: w.failed,
        unfinished: w.unfinished,
        duration_s: run_seconds(run) as f64,
        videos_per_minute: w.videos_per_minute,
        megabytes_per_minute: w.megabytes_per_minute,
        service_mean_s: service_s,
        service_p50_s: w.service_us.p50 as f64 / 1e6,
        service_p95_s: w.service_us.p95 as f64 / 1e6,
        wait_mean_s: w.wait_us.mean / 1e6,
        queue_slope_per_minute: w.queue_slope_per_minute,
        queue_slope_interval_per_minute: slope_interval_of(
            w.queue_slope_per_minute,
            w.queue_slope_error_per_minute,
        ),
        queue_verdict: w.queue_verdict,
        worker_cpu_percent: w.worker_cpu_percent,
        per_minute: w.per_minute.clone(),
        saturated_at_per_minute: steps
            .iter()
            .find(|s| s.judgement.is_unstable())
            .map(|s| s.rate_per_minute),
        step_needed_s,
        capacity_per_minute,
        videos_per_minute_interval: span_minutes.and_then(|m| rate_interval(w.processed, m)),
        // Only steps below the first unstable one: a system that failed at a lower rate is
        // not trusted at a higher one.
        max_stable_per_minute: steps
            .iter()
            .take_while(|s| s.judgement == StepJudgement::Stable)
            .map(|s| s.rate_per_minute)
            .reduce(f64::max),
        steps,
        erlang,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capacity_model::analysis::{Advice, Bound};
    use rundir::{Activity, Interval, LoadModel, Manifest, MetricRow, RequestsRow, RunDir, RunId};
    use std::time::Duration;

    const START: i64 = 1_800_000_000;

    /// A closed-model ramp 0 → 100 users over 100 s and a 20 s hold, on a system whose
    /// throughput follows the USL (λ 10/s, σ 0.05, κ 0.001) and whose latency follows
    /// Little's law, with CPU at 1.5 % per user and one scale-out at 70 s.
    fn synthetic_run(root: &std::path::Path) -> RunData {
        let usl = |u: f64| 10.0 * u / (1.0 + 0.05 * (u - 1.0) + 0.001 * u * (u - 1.0));
        let text = include_str!("../../rundir/tests/data/manifest.example.json");
        let mut manifest: Manifest = serde_json::from_str(text).unwrap();
        manifest.run_id = RunId::generate(crate::stages::at(START), "scenario1");
        manifest.started_at = crate::stages::at(START);
        manifest.ended_at = Some(crate::stages::at(START + 120));
        manifest.load_model = LoadModel::Closed { max_users: 100 };
        manifest.stages = vec![
            rundir::Stage {
                name: "ramp to 100".into(),
                start_offset_ms: 0,
                duration_ms: 100_000,
                users: Some(100),
                rate_per_sec: None,
                ramp: true,
            },
            rundir::Stage {
                name: "hold 100".into(),
                start_offset_ms: 100_000,
                duration_ms: 20_000,
                users: Some(100),
                rate_per_sec: None,
                ramp: false,
            },
        ];
        let mut intervals = Vec::new();
        let mut requests = Vec::new();
        let mut metrics = Vec::new();
        let metric = |s: i64, ns: &str, name: &str, dims: Vec<(&str, &str)>, v: f64| MetricRow {
            timestamp: crate::stages::at(s),
            namespace: ns.into(),
            metric: name.into(),
            dimensions: dims
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect(),
            statistic: "Average".into(),
            value: v,
            unit: String::new(),
        };
        for s in 0..120i64 {
            let users = (s as f64 + 0.5).min(100.0);
            let x = usl(users);
            let n = x.round() as u64;
            let latency_us = (users / x * 1e6) as u64;
            let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            h.record_n(latency_us, n).unwrap();
            intervals.push(crate::timeline::RecordedInterval::from(&Interval {
                tag: Some("get".into()),
                start: Duration::from_secs((START + s) as u64),
                duration: Duration::from_secs(1),
                histogram: h,
            }));
            requests.push(RequestsRow::new(
                crate::stages::at(START + s),
                "get".into(),
                rundir::RequestCounts {
                    requests: n,
                    successes: n,
                    responses: Some(n),
                    ..Default::default()
                },
            ));
            let web = vec![("AutoScalingGroupName", "web")];
            metrics.push(metric(
                START + s,
                "AWS/EC2",
                "CPUUtilization",
                web.clone(),
                (1.5 * users).min(100.0),
            ));
            metrics.push(metric(
                START + s,
                "AWS/AutoScaling",
                "GroupInServiceInstances",
                web,
                if s < 75 { 1.0 } else { 2.0 },
            ));
            metrics.push(metric(
                START + s,
                "AWS/ApplicationELB",
                "HealthyHostCount",
                vec![("TargetGroup", "tg"), ("LoadBalancer", "lb")],
                if s < 75 { 1.0 } else { 2.0 },
            ));
        }
        let alarm = crate::stages::at(START + 69)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let activities = vec![Activity {
            activity_id: "a-1".into(),
            auto_scaling_group_name: "web".into(),
            description: "Launching a new EC2 instance: i-2".into(),
            cause: format!(
                "At {alarm} a monitor alarm web-cpu-AlarmHigh in state ALARM triggered policy \
                 web-cpu-70 changing the desired capacity from 1 to 2."
            ),
            start_time: crate::stages::at(START + 70),
            end_time: Some(crate::stages::at(START + 71)),
            status_code: "Successful".into(),
            status_message: None,
            progress: 100,
            details: "{}".into(),
        }];
        RunData {
            stack: None,
            dir: RunDir::create(root, &manifest.run_id).unwrap(),
            manifest,
            summary: None,
            intervals,
            requests,
            metrics,
            activities,
            tasks: Vec::new(),
            queue: None,
        }
    }

    #[test]
    fn a_usl_shaped_ramp_gives_its_knee_its_fit_and_its_scale_out() {
        let root = tempfile::tempdir().unwrap();
        let run = synthetic_run(root.path());
        let a = analyze(&[run], &Settings::default(), crate::stages::at(START + 200));
        assert_eq!(a.stages.len(), 11, "ten ramp slices and the hold");

        let capacity = a.capacity.available().expect("a knee");
        // R(u) = (1 + 0.05(u−1) + 0.001u(u−1)) / 10 s crosses 1 s near u = 73.7: the slice
        // of 60–70 s holds, the one of 70–80 s breaks (their loads are the mean of the users
        // Goose starts one at a time: 65.5 and 75.5).
        let last = capacity.knee.last_within_slo().unwrap();
        let breach = capacity.knee.first_breach().unwrap();
        assert!((last.load - 65.5).abs() < 1e-6, "{last:?}");
        assert!((breach.stage.load - 75.5).abs() < 1e-6, "{breach:?}");
        // CPU passes 80 % at 53 users, in the slice before the knee's.
        let lead = &capacity.knee.leading_kpis[0];
        assert_eq!(lead.kpi, "cpu_percent:web");
        assert!((lead.stage.load - 55.5).abs() < 1e-6, "{lead:?}");
        // The USL peaks near √(0.95/0.001) ≈ 31 users: the best point within SLO is a
        // slice there, not the last one (65 users), and it is quoted whole.
        let best = capacity.knee.best_within_slo.as_ref().unwrap();
        assert!((25.0..=36.0).contains(&best.load), "{best:?}");
        assert!(best.rps > last.rps, "{best:?} {last:?}");
        let measured = capacity
            .load_point(&a.stages, best)
            .expect("the best point is one of the load points");
        assert_eq!(measured.knee_label(), best.label);
        assert_eq!(
            (best.rps, best.p95_ms, best.samples),
            (
                measured.total.rps,
                measured.worst_p95_ms,
                measured.total.samples
            )
        );
        assert_eq!(capacity.instances_at_best, Some(1.0));
        assert_eq!(capacity.rps_per_instance, Some(best.rps));
        assert_eq!(capacity.kpi_tiers["cpu_percent:web"], Tier::Web);

        let usl = a.usl.available().expect("a fit");
        assert!((0.03..0.07).contains(&usl.fit.sigma), "{:?}", usl.fit);
        assert!(usl.fit.r_squared > 0.98, "{:?}", usl.fit);

        let out = &a.scale_outs[0];
        assert_eq!(out.activity_to_in_service_s, Some(5.0));
        assert_eq!(out.alarm_at, Some(crate::stages::at(START + 69)));
        // The latency broke at 74 s, after the alarm: the group scaled before the breach.
        assert_eq!(out.breach_at, None);

        let closed = a
            .little
            .iter()
            .filter(|l| matches!(l, LittleCheck::Closed { holds: true, .. }))
            .count();
        assert!(
            closed >= 9,
            "Little's law holds on data made by it: {:?}",
            a.little
        );
        assert_eq!(a.latency[0].endpoint, "get");

        // The CPU that degraded first is the recommendation, at the stage it degraded in;
        // a knee that was found asks neither for more load nor for a fix at the first stage.
        let advice: Vec<&Advice> = a
            .recommendations
            .as_deref()
            .expect("stored in the analysis")
            .iter()
            .map(|r| &r.advice)
            .collect();
        assert!(
            advice.contains(&&Advice::ResourceBound {
                bound: Bound::Cpu,
                kpi: "cpu_percent:web".into(),
                value: lead.value,
                limit: CPU_LIMIT_PERCENT,
                stage: lead.stage.label.clone(),
            }),
            "{advice:?}"
        );
        assert!(
            !advice
                .iter()
                .any(|a| matches!(a, Advice::TestHigher { .. } | Advice::FixFirstStage { .. })),
            "{advice:?}"
        );
        let text = crate::summary::render(&a);
        assert!(text.contains("holds 65.5 users"), "{text}");
        assert!(text.contains("first to degrade: cpu_percent:web"), "{text}");
    }

    /// Little's law for users who think: N = X·(R + Z), Z from the manifest. The synthetic
    /// run's users do not think, so a manifest that says they think 0.5 s per request must
    /// break the check (the implied users grow by X·Z), and pacing, whose pause is
    /// unknown, leaves only λ·R.
    #[test]
    fn littles_law_counts_the_think_time_the_manifest_records() {
        let root = tempfile::tempdir().unwrap();
        let closed = |a: &Analysis| {
            a.little
                .iter()
                .filter_map(|l| match l {
                    LittleCheck::Closed { holds, check, .. } => Some((*holds, check.clone())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let mut run = synthetic_run(root.path());
        run.manifest.workload.think_time_s = Some(0.5);
        let a = analyze(&[run], &Settings::default(), crate::stages::at(START + 200));
        let checks = closed(&a);
        assert!(!checks.is_empty());
        for (holds, check) in &checks {
            assert!(!holds, "{check:?}");
            assert!(check.implied_users > check.measured_users, "{check:?}");
        }

        let mut run = synthetic_run(root.path());
        run.manifest.workload.pacing_s = Some(5.0);
        let a = analyze(&[run], &Settings::default(), crate::stages::at(START + 200));
        assert!(closed(&a).is_empty(), "{:?}", a.little);
        assert!(
            a.little
                .iter()
                .any(|l| matches!(l, LittleCheck::Open { .. }))
        );
    }

    /// A saturation run's worker summary with these (arrivals/min, completions/min, queue
    /// verdict) steps.
    fn saturation_summary(steps: &[(f64, f64, &str)]) -> rundir::WorkerSummary {
        let latency = serde_json::json!({"min": 17_000_000, "mean": 18e6, "p50": 18_000_000,
            "p90": 19_000_000, "p95": 19_000_000, "p99": 19_000_000, "p999": 19_000_000,
            "max": 19_000_000});
        serde_json::from_value(serde_json::json!({
            "mode": "saturation", "size_bytes": 50_000_000, "concurrency": 1, "workers": 1,
            "enqueued": 20, "processed": 16, "failed": 0, "unfinished": 4,
            "videos_per_minute": 3.2, "megabytes_per_minute": 160.0, "per_minute": [3, 3, 4],
            "service_us": latency, "wait_us": latency, "mean_in_system": 2.0,
            "little_in_system": 2.0, "queue_slope_per_minute": 0.1, "queue_verdict": "steady",
            "worker_cpu_percent": null,
            "steps": steps.iter().map(|(rate, done, verdict)| serde_json::json!({
                "rate_per_minute": rate, "completed_per_minute": done,
                "queue_slope_per_minute": 0.0, "queue_verdict": verdict})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// A scenario-2 run whose files say one task every 10 s on one slot (X = 6/min) and
    /// whose summary.json says otherwise: the analysis takes the files' figures, and the
    /// summary's only for a run written before queue.csv recorded the injection's phases.
    #[test]
    fn a_worker_runs_figures_come_from_its_files() {
        let root = tempfile::tempdir().unwrap();
        let mut run = synthetic_run(root.path());
        let t0 = crate::stages::at(START);
        run.manifest.scenario = "scenario2".into();
        run.manifest.profile = "sustained".into();
        run.manifest.load_model = LoadModel::Closed { max_users: 1 };
        run.manifest.stages = Vec::new();
        run.manifest.workload.upload_bytes = Some(1_000_000);
        run.manifest.workload.worker_pool = Some(rundir::WorkerPool {
            instances: 1,
            concurrency: 1,
        });
        run.intervals.clear();
        run.requests.clear();
        let second = |s: i64| t0 + time::Duration::seconds(s);
        run.tasks = (0..12)
            .map(|k| rundir::TasksRow {
                task_id: format!("t{k}"),
                size_bytes: 1_000_000,
                enqueued_at: second(10 * k),
                started_at: Some(second(10 * k)),
                finished_at: Some(second(10 * k + 10)),
                status: rundir::TaskStatus::Processed,
                worker: "i-1".into(),
                attempts: 1,
            })
            .collect();
        run.queue = Some(
            (0..=120)
                .map(|s| rundir::QueueRow {
                    at: second(s),
                    visible: 0,
                    in_flight: 1,
                    enqueued: (s as u64 / 10 + 1).min(12),
                    finished: s as u64 / 10,
                    step: Some(0),
                    injecting: Some(s < 110),
                })
                .collect(),
        );
        let recorded = saturation_summary(&[]);
        run.summary = Some(rundir::Summary {
            format_version: rundir::FORMAT_VERSION,
            run_id: run.manifest.run_id.clone(),
            duration_ms: 120_000,
            interrupted: false,
            interruption: None,
            model_note: None,
            endpoints: Vec::new(),
            total: capacity_model::worker::tasks_total(&run.tasks, time::Duration::minutes(2)),
            skipped: Vec::new(),
            thresholds: Vec::new(),
            passed: true,
            worker: Some(recorded.clone()),
        });
        let at = crate::stages::at(START + 200);
        let a = analyze(std::slice::from_ref(&run), &Settings::default(), at);
        let cell = &a.workers[0];
        assert_eq!((cell.mode.as_str(), cell.processed), ("sustained", 12));
        assert!((cell.videos_per_minute - 6.0).abs() < 1e-9, "{cell:?}");
        assert!((cell.service_mean_s - 10.0).abs() < 0.01, "{cell:?}");

        run.queue.as_mut().unwrap()[5].injecting = None;
        let a = analyze(&[run], &Settings::default(), at);
        let cell = &a.workers[0];
        assert_eq!(
            (cell.mode.as_str(), cell.videos_per_minute),
            ("saturation", recorded.videos_per_minute)
        );
    }

    /// Regression (issue 15, defect 4): "stable up to 4.95 arrivals/min" beside a measured
    /// throughput of 3.1–3.2 videos/min. A flat queue over a short step is not stability:
    /// arrivals must not exceed what the workers finish at the measured service time (here
    /// S = 18 s on one slot: 3.33/min).
    #[test]
    fn a_step_whose_arrivals_exceed_its_throughput_is_not_stable() {
        let root = tempfile::tempdir().unwrap();
        let mut run = synthetic_run(root.path());
        let worker = saturation_summary(&[
            (1.65, 1.7, "steady"),
            (3.3, 3.2, "steady"),
            (4.95, 3.1, "steady"),
            (6.6, 3.2, "growing"),
        ]);
        let cell = worker_cell(&run, &worker, &Settings::default());
        assert_eq!(cell.capacity_per_minute, Some(60.0 / 18.0));
        let judged: Vec<StepJudgement> = cell.steps.iter().map(|s| s.judgement).collect();
        assert_eq!(
            judged,
            [
                StepJudgement::Stable,
                // 3.3/min with completions trailing (3.2) is within 3.33/min: stable.
                StepJudgement::Stable,
                StepJudgement::ArrivalsAboveThroughput,
                StepJudgement::QueueGrowing
            ]
        );
        assert_eq!(cell.max_stable_per_minute, Some(3.3));
        assert_eq!(cell.saturated_at_per_minute, Some(4.95));
        assert!(cell.max_stable_per_minute <= cell.capacity_per_minute);

        // A stable step after an unstable one is not trusted.
        let worker = saturation_summary(&[(4.0, 3.0, "steady"), (1.0, 1.2, "steady")]);
        run.summary = None;
        let cell = worker_cell(&run, &worker, &Settings::default());
        assert_eq!(cell.max_stable_per_minute, None);
        assert_eq!(cell.saturated_at_per_minute, Some(4.0));
    }

    /// Regression (issue 15, defect 5): saturation steps of 60 s with 18 s tasks saw 3–5
    /// arrivals and were called stable. Fewer than 10 arrivals is not enough data, and the
    /// cell says the step length that would give 10 at the lowest rate.
    #[test]
    fn a_step_with_few_arrivals_is_not_enough_data() {
        let root = tempfile::tempdir().unwrap();
        let run = synthetic_run(root.path());
        let mut worker = saturation_summary(&[(1.65, 1.0, "steady"), (3.3, 2.0, "steady")]);
        for (step, arrivals) in worker.steps.iter_mut().zip([2, 3]) {
            step.seconds = 60.0;
            step.arrivals = arrivals;
            step.completions = arrivals - 1;
        }
        let cell = worker_cell(&run, &worker, &Settings::default());
        assert!(
            cell.steps
                .iter()
                .all(|s| s.judgement == StepJudgement::NotEnoughData)
        );
        assert_eq!(cell.max_stable_per_minute, None);
        assert_eq!(cell.saturated_at_per_minute, None);
        // 10 arrivals inside a step at 1.65/min take 11 intervals: 400 s.
        assert_eq!(cell.step_needed_s, Some(400.0));
        let interval = cell.steps[0].completed_interval_per_minute.unwrap();
        assert!(
            interval.low < 1.0 && interval.high.unwrap() > 1.0,
            "{interval:?}"
        );
    }

    #[test]
    fn without_scenario_1_points_the_sections_say_why() {
        let a = analyze(&[], &Settings::default(), crate::stages::at(START));
        assert!(
            matches!(&a.capacity, Section::Unavailable { unavailable, .. } if unavailable.contains("loadgen run scenario1"))
        );
        let json = serde_json::to_value(&a).unwrap();
        assert!(json["usl"]["unavailable"].is_string());
        // And it reads back.
        let back: Analysis = serde_json::from_value(json).unwrap();
        assert_eq!(back, a);
    }
}
