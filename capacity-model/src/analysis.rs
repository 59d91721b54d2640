//! What an analysis concludes: the types of `analysis.json` (documented in
//! `docs/analysis.md`). The analyzer computes them from run directories; the reports render
//! them. Pure data, no computation beyond small accessors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    ClosedModelCheck, KneeReport, MmcSummary, OpenModelCheck, Slo, StagePoint, UslSummary,
};

/// The KPI name of the healthy hosts behind the load balancer (AWS/ApplicationELB
/// HealthyHostCount).
pub const HEALTHY_HOSTS_KPI: &str = "healthy_hosts";

/// The version of `analysis.json` this writes; the gate refuses newer ones.
///
/// 2: latency figures are `null` where no latency was recorded (never 0); the knee quotes
/// one stage (`best_within_slo`) instead of a load and a rate from different stages; a
/// worker step says whether it was stable and why.
/// 3: `notes` are typed (`{"note": "poor_usl_fit", …}`) so a report words them in its own
/// language; throughput counts responses by arrival second where the run recorded them.
pub const ANALYSIS_FORMAT_VERSION: u32 = 3;

/// Below this R² the USL fit is reported as poor, and no projection should be read from it.
pub const USL_POOR_FIT: f64 = 0.8;
/// Little's law holds when users and X·(R+Z) agree within this.
pub const LITTLE_TOLERANCE: f64 = 0.10;

/// A section, or why it is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Section<T> {
    Available(T),
    Unavailable {
        /// Why, in English (for the terminal and the gate).
        unavailable: String,
        /// Why, as a value a report words in its language; None in analyses written before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Missing>,
    },
}

impl<T> Section<T> {
    pub fn missing(reason: Missing) -> Self {
        Section::Unavailable {
            unavailable: reason.to_string(),
            reason: Some(reason),
        }
    }

    pub fn available(&self) -> Option<&T> {
        match self {
            Section::Available(t) => Some(t),
            Section::Unavailable { .. } => None,
        }
    }
}

/// Why a section of the analysis is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Missing {
    /// No scenario-1 run gave a load point.
    NoScenario1Points,
    /// The USL needs more distinct concurrency levels than were measured.
    TooFewLevels { levels: usize, needed: usize },
    /// The USL fit did not converge: the points do not follow a USL curve.
    DidNotConverge { iterations: usize },
    /// The USL fit converged on coefficients no system has (σ outside 0..1, κ below 0).
    UnphysicalFit {
        sigma: f64,
        kappa: f64,
        r_squared: f64,
    },
    /// No task finished, so there is no service time.
    NoTaskFinished,
    /// A model refused its input (an invalid SLO, a non-finite figure); `message` is its
    /// English text.
    Refused { model: String, message: String },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::NoScenario1Points => f.write_str(
                "no scenario-1 load point: run `loadgen run scenario1` (a ramp or a search \
                 gives the curve)",
            ),
            Missing::TooFewLevels { levels, needed } => write!(
                f,
                "no scalability fit: the USL fit needs at least {needed} distinct concurrency \
                 levels, got {levels}; its three coefficients would fit any few points and \
                 mean nothing (measure more levels, e.g. a ramp with more stages)"
            ),
            Missing::DidNotConverge { iterations } => write!(
                f,
                "no scalability fit: the USL fit did not converge after {iterations} \
                 iterations; the points do not follow a USL curve (look for outliers, or \
                 stages from different runs or configurations)"
            ),
            Missing::UnphysicalFit {
                sigma,
                kappa,
                r_squared,
            } => write!(
                f,
                "no scalability fit: least squares landed on σ = {sigma:.3e}, κ = {kappa:.3e} \
                 (R² {r_squared:.2}), coefficients no system has (σ must lie in 0..1, κ must \
                 not be negative); throughput fell from the lowest load, which the USL does not \
                 describe"
            ),
            Missing::NoTaskFinished => {
                f.write_str("no task finished, so there is no service time to size with")
            }
            Missing::Refused { model, message } => write!(f, "{model}: {message}"),
        }
    }
}

/// How an analysis is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub slo: Slo,
    /// Scenario 2: the mean queue wait Erlang C sizes the worker pool for, seconds.
    pub target_wait_s: f64,
    /// Scenario 2: the arrival rate to size for, videos per minute; None uses each cell's X.
    pub arrival_per_minute: Option<f64>,
}

impl Default for Settings {
    /// The course's SLO: p95 ≤ 1 s on every endpoint, errors ≤ 5 %; a 60 s queue wait.
    fn default() -> Self {
        Settings {
            slo: Slo::COURSE,
            target_wait_s: 60.0,
            arrival_per_minute: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub format_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub aforo: String,
    pub settings: Settings,
    pub runs: Vec<RunInfo>,
    /// Each endpoint's latency over every scenario-1 run, histograms added exactly.
    pub latency: Vec<EndpointStats>,
    /// Load points of every scenario-1 run (see `stages`), in time order.
    pub stages: Vec<LoadPoint>,
    pub capacity: Section<Capacity>,
    pub usl: Section<UslSection>,
    pub little: Vec<LittleCheck>,
    pub scale_outs: Vec<ScaleOut>,
    #[serde(default)]
    pub scale_ins: Vec<ScaleIn>,
    pub workers: Vec<WorkerCell>,
    /// Each run second by second, for charts.
    #[serde(default)]
    pub timelines: Vec<RunTimeline>,
    /// Each endpoint's latency by percentile over every scenario-1 run (the HDR spectrum).
    #[serde(default)]
    pub spectra: Vec<Spectrum>,
    /// Things a reader should know about the data (skipped runs, mixed load kinds, …).
    pub notes: Vec<Note>,
    /// Estimated cost and energy per run (absent in analyses written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSection>,
    /// What the figures above call for ([`crate::advice::recommend`]); absent in analyses
    /// written before, whose readers derive them with the same rules ([`crate::advice::of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<Recommendation>>,
}

impl Analysis {
    /// The best throughput within the SLO, when the knee was found.
    pub fn max_rps_within_slo(&self) -> Option<f64> {
        self.capacity.available()?.knee.max_rps_within_slo()
    }

    /// What changed from `baseline` to this analysis: one comparison, which the gate judges
    /// against its limits and the report describes.
    pub fn compare_with(&self, baseline: &Analysis) -> BaselineComparison {
        BaselineComparison {
            endpoints: self
                .latency
                .iter()
                .filter_map(|now| {
                    let before = baseline
                        .latency
                        .iter()
                        .find(|b| b.endpoint == now.endpoint)?;
                    Some(EndpointChange {
                        endpoint: now.endpoint.clone(),
                        p95_ms: now.p95_ms.zip(before.p95_ms.filter(|p| *p > 0.0)),
                    })
                })
                .collect(),
            max_rps_before: baseline.max_rps_within_slo(),
            max_rps_now: self.max_rps_within_slo(),
        }
    }
}

/// An analysis against its baseline ([`Analysis::compare_with`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineComparison {
    /// Each endpoint both analyses measured.
    pub endpoints: Vec<EndpointChange>,
    pub max_rps_before: Option<f64>,
    pub max_rps_now: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointChange {
    pub endpoint: String,
    /// (now, before) in ms; None when either analysis lacks it, or the baseline's is 0.
    pub p95_ms: Option<(f64, f64)>,
}

impl EndpointChange {
    /// The p95's relative rise (0.1 for +10 %), when both are known.
    pub fn p95_rise(&self) -> Option<f64> {
        self.p95_ms.map(|(now, before)| now / before - 1.0)
    }
}

/// Each run's estimated cost and energy, and what the estimates come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSection {
    pub basis: crate::cost::CostBasis,
    pub runs: Vec<crate::cost::CostEstimate>,
}

/// Something a reader should know about the data. Typed, not prose, so that each report
/// words it in its language; [`Note`]'s `Display` is the English for the terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// A run without `summary.json`; a scenario-2 run then gives no worker cell.
    NoSummary { run_id: String, worker: bool },
    /// A run whose stages hold no whole second of traffic.
    NoLoadPoint { run_id: String },
    /// The capacity curve uses the points of one load kind only.
    OtherLoadKindLeftOut {
        used: usize,
        kind: LoadKind,
        left_out: usize,
    },
    /// Points too thin to judge (no bounded p95, errors within the SLO), "label (run)".
    UnjudgedPoints {
        points: Vec<String>,
        min_samples: u64,
    },
    /// The USL fit is rejected: R² under [`USL_POOR_FIT`].
    PoorUslFit { r_squared: f64, threshold: f64 },
    /// A run directory that could not be read; `error` is the reader's message, quoted.
    SkippedRun { path: String, error: String },
    /// CloudWatch and Auto Scaling telemetry fetched for an AWS run and saved beside it.
    Fetched {
        run_id: String,
        datapoints: usize,
        period_s: u32,
        activities: usize,
    },
    /// A fleet's generator runs were merged into one.
    FleetMerged { fleet: String, generators: u32 },
    /// A fleet is missing some generators ("2/4", …).
    FleetIncomplete {
        fleet: String,
        missing: Vec<String>,
        present: usize,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::NoSummary {
                run_id,
                worker: true,
            } => write!(
                f,
                "{run_id}: no summary.json (the run was killed, or is still going), and \
                 scenario 2's figures come from it: this run gives no worker cell"
            ),
            Note::NoSummary { run_id, .. } => write!(
                f,
                "{run_id}: no summary.json (the run was killed, or is still going); its \
                 figures come from its per-second files, latency.hlog and requests.csv"
            ),
            Note::NoLoadPoint { run_id } => write!(
                f,
                "{run_id}: its manifest has no stage with whole seconds of traffic; it adds to \
                 the latency but gives no load point"
            ),
            Note::OtherLoadKindLeftOut {
                used,
                kind,
                left_out,
            } => write!(
                f,
                "the capacity curve uses the {used} points measured in {}; {left_out} other \
                 points are left out",
                match kind {
                    LoadKind::Users => "users",
                    LoadKind::Rate => "arrivals per second",
                }
            ),
            Note::UnjudgedPoints {
                points,
                min_samples,
            } => write!(
                f,
                "{} load points are left out of the capacity curve, not enough data: no \
                 endpoint recorded the {min_samples} latencies that bound a p95 (nor a certain \
                 breach), and their errors are within the SLO; hold each load longer (a longer \
                 stage or a larger --time-scale): {}",
                points.len(),
                points.join(", ")
            ),
            Note::PoorUslFit {
                r_squared,
                threshold,
            } => write!(
                f,
                "the scalability fit is poor (R² {r_squared:.2} < {threshold}): throughput does \
                 not follow the USL over these points (flat from the lowest load means the \
                 system, or the machine running everything, was saturated from the start); \
                 read no projection from it"
            ),
            Note::SkippedRun { path, error } => write!(f, "skipped {path}: {error}"),
            Note::Fetched {
                run_id,
                datapoints,
                period_s,
                activities,
            } => write!(
                f,
                "{run_id}: fetched {datapoints} CloudWatch datapoints ({period_s} s period) and \
                 {activities} scaling activities, saved beside the run"
            ),
            Note::FleetMerged { fleet, generators } => {
                write!(f, "{fleet}: merged the runs of its {generators} generators")
            }
            Note::FleetIncomplete {
                fleet,
                missing,
                present,
            } => write!(
                f,
                "{fleet}: generators {} are missing; its figures are those of the {present} \
                 present",
                missing.join(", ")
            ),
        }
    }
}

/// One run on a grid of whole seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTimeline {
    pub run_id: String,
    /// The first second, Unix time; `seconds[i]` is `start + i`.
    pub start: i64,
    pub seconds: Vec<Second>,
    /// Each endpoint over the whole run (exact: its interval histograms added).
    #[serde(default)]
    pub endpoints: Vec<EndpointStats>,
}

/// One second of a run: the client's view over every endpoint, and the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    pub requests: u64,
    pub errors: u64,
    /// Latency over every endpoint in this second; absent without requests.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Per Auto Scaling group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub in_service: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_percent: BTreeMap<String, f64>,
    pub queue_visible: Option<f64>,
    /// Scenario 2: tasks queued in this second (`tasks.csv`'s enqueue times); absent for a
    /// run without tasks, where it is no data rather than 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_enqueued: Option<u64>,
    /// Scenario 2: tasks that finished processing in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_finished: Option<u64>,
}

/// Latency at standard percentiles, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    pub endpoint: String,
    /// (percentile 0–100, latency ms), ascending.
    pub points: Vec<(f64, f64)>,
}

/// The percentiles of a [`Spectrum`]: the nines, as HdrHistogram's percentile plots show.
pub const SPECTRUM_PERCENTILES: [f64; 10] = [
    0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 99.999, 100.0,
];

/// One stage of a run's load timeline, as its manifest gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub name: String,
    pub seconds: f64,
    /// Users or arrivals per second at the end of the stage.
    pub level: f64,
    pub ramp: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub scenario: String,
    pub profile: String,
    pub target: String,
    /// `local`, `external` or `aws`.
    pub stack: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub requests: u64,
    pub metric_rows: usize,
    pub activities: usize,
    pub tasks: usize,
    /// "closed, up to 8 users" or "open, up to 50/s".
    #[serde(default)]
    pub load: String,
    #[serde(default)]
    pub stages: Vec<StageInfo>,
    #[serde(default)]
    pub time_scale: f64,
    #[serde(default)]
    pub host_cores: usize,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub command_line: Vec<String>,
    /// The local stack's configuration as it ran (its `stack.json`); None when the run did
    /// not record it (an external target, AWS).
    #[serde(default)]
    pub stack_config: Option<rundir::StackDescription>,
    /// Closed (users) or open (arrivals per second), and the highest level applied: `load`
    /// as values.
    #[serde(default)]
    pub load_kind: Option<LoadKind>,
    #[serde(default)]
    pub max_load: Option<f64>,
    /// What each request or task carried (upload size, think time), from the manifest.
    #[serde(default)]
    pub workload: rundir::Workload,
}

/// The knee and what it means in users, RPS and instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub load_kind: LoadKind,
    /// Points judged, by load.
    pub points: usize,
    pub knee: KneeReport,
    /// Healthy hosts behind the load balancer during the knee's best point
    /// (`knee.best_within_slo`); absent without load-balancer metrics.
    pub instances_at_best: Option<f64>,
    /// The best point's throughput divided by its healthy hosts: both from that one point.
    pub rps_per_instance: Option<f64>,
    /// The tier each degraded KPI measures.
    #[serde(default)]
    pub kpi_tiers: BTreeMap<String, Tier>,
    /// Where in the analysis's `stages` each knee stage's load point is, by the knee stage's
    /// index (see [`Capacity::load_point`]); empty in analyses written before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judged_points: Vec<usize>,
}

impl Capacity {
    /// The load point of `stages` (the analysis's) a knee stage was made from; None in an
    /// analysis written before `judged_points` was.
    pub fn load_point<'a>(
        &self,
        stages: &'a [LoadPoint],
        stage: &StagePoint,
    ) -> Option<&'a LoadPoint> {
        stages.get(*self.judged_points.get(stage.index)?)
    }
}

/// The part of the system a KPI measures, so a bottleneck is named where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The load balancer itself (its own 5xx).
    LoadBalancer,
    /// The web (API) instances: their CPU, count, health, 5xx and response time.
    Web,
    /// The queue and the worker instances.
    Worker,
    /// The database.
    Database,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslSection {
    /// `users` for the closed model; for the open model, N = X·R (Little's law).
    pub concurrency_from: String,
    pub points: Vec<(f64, f64)>,
    pub fit: UslSummary,
}

impl UslSection {
    /// The fit explains too little of the points (R² under [`USL_POOR_FIT`]) for its σ and κ
    /// to name a bottleneck.
    pub fn fits_poorly(&self) -> bool {
        self.fit.r_squared < USL_POOR_FIT
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LittleCheck {
    /// users ≈ X·(R + Z), Z = 0 (scenario 1 has no think time).
    Closed {
        label: String,
        run_id: String,
        check: ClosedModelCheck,
        holds: bool,
    },
    /// For the open model: in flight ≈ λ·R, the concurrency the generator needed.
    Open {
        label: String,
        run_id: String,
        rate: f64,
        in_flight_implied: f64,
    },
    /// Scenario 2: tasks in the system ≈ X·(W + S).
    Workers {
        run_id: String,
        check: OpenModelCheck,
        holds: bool,
    },
}

/// One scenario-2 run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerCell {
    pub run_id: String,
    pub mode: String,
    pub size_bytes: u64,
    pub concurrency: u32,
    pub workers: u32,
    pub enqueued: u64,
    pub processed: u64,
    pub failed: u64,
    pub unfinished: u64,
    pub duration_s: f64,
    pub videos_per_minute: f64,
    pub megabytes_per_minute: f64,
    pub service_mean_s: f64,
    pub service_p50_s: f64,
    pub service_p95_s: f64,
    pub wait_mean_s: f64,
    /// The visible queue's least-squares slope, tasks per minute; None with too few depth
    /// samples (`queue_verdict` is then `unknown`).
    pub queue_slope_per_minute: Option<f64>,
    /// Its 95 % interval.
    #[serde(default)]
    pub queue_slope_interval_per_minute: Option<crate::confidence::Interval>,
    pub queue_verdict: crate::QueueVerdict,
    pub worker_cpu_percent: Option<f64>,
    /// Videos finished in each minute of the run.
    #[serde(default)]
    pub per_minute: Vec<u64>,
    /// Saturation: each step of the arrival-rate staircase and whether it was stable.
    #[serde(default)]
    pub steps: Vec<WorkerStep>,
    /// Saturation: the arrivals per minute of the first unstable step.
    pub saturated_at_per_minute: Option<f64>,
    /// Saturation: the highest arrival rate (per minute) of a stable step. Never above
    /// `capacity_per_minute`, what the measured service time lets the workers finish.
    pub max_stable_per_minute: Option<f64>,
    /// The most videos per minute the cell's slots finish at the measured mean service
    /// time: slots × 60 / S. None when no task finished.
    #[serde(default)]
    pub capacity_per_minute: Option<f64>,
    /// Saturation: when steps saw too few arrivals to be judged, the step length that gives
    /// enough at the lowest rate, seconds (`loadgen run scenario2 --step`).
    #[serde(default)]
    pub step_needed_s: Option<f64>,
    /// X's 95 % interval (Poisson on the videos processed), videos per minute.
    #[serde(default)]
    pub videos_per_minute_interval: Option<crate::confidence::Interval>,
    pub erlang: Section<ErlangSizing>,
}

/// One step of a saturation staircase, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStep {
    pub rate_per_minute: f64,
    /// Videos finished per minute during the step: the throughput X it measured.
    pub completed_per_minute: f64,
    /// The step's length and its sample: tasks enqueued and finished in it (0: unknown,
    /// from a run that did not record them).
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub arrivals: u64,
    #[serde(default)]
    pub completions: u64,
    /// 95 % interval of the completions per minute (Poisson).
    #[serde(default)]
    pub completed_interval_per_minute: Option<crate::confidence::Interval>,
    /// The queue's trend during the step (`steady`, `growing` or `draining`), its slope in
    /// tasks per minute and the slope's 95 % interval.
    pub queue_verdict: crate::QueueVerdict,
    #[serde(default)]
    pub queue_slope_per_minute: Option<f64>,
    #[serde(default)]
    pub queue_slope_interval_per_minute: Option<crate::confidence::Interval>,
    pub judgement: StepJudgement,
}

/// Whether a step's arrival rate is one the workers sustain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepJudgement {
    /// The queue did not grow and the workers finished at least as many videos per minute
    /// as arrived (utilisation ≤ 1).
    Stable,
    /// The queue grew during the step.
    QueueGrowing,
    /// The queue looked flat, but videos arrived faster than the workers can finish them
    /// (utilisation λ·S/c above 1, S measured): a backlog a longer step would show growing.
    ArrivalsAboveThroughput,
    /// Fewer than `confidence::MIN_EVENTS_FOR_RATE` arrivals: too few to call the step
    /// stable (a growing queue is still judged).
    NotEnoughData,
}

impl StepJudgement {
    /// The step showed the workers falling behind (not merely too few arrivals to tell).
    pub fn is_unstable(self) -> bool {
        matches!(
            self,
            StepJudgement::QueueGrowing | StepJudgement::ArrivalsAboveThroughput
        )
    }

    /// Judges a step from its arrival rate, the most the workers can finish per minute
    /// (`capacity_per_minute`: slots × 60 / S, S the measured mean service time), its sample
    /// (arrivals; None when unknown) and its queue trend.
    ///
    /// The capacity comes from S, not from the completions counted in the step: in a step
    /// of finite length completions trail arrivals by the tasks still in the system, so a
    /// rising staircase would always look short of throughput.
    pub fn of(
        rate_per_minute: f64,
        capacity_per_minute: f64,
        arrivals: Option<u64>,
        queue_growing: bool,
    ) -> Self {
        if queue_growing {
            StepJudgement::QueueGrowing
        } else if arrivals.is_some_and(|n| n < crate::confidence::MIN_EVENTS_FOR_RATE) {
            StepJudgement::NotEnoughData
        } else if rate_per_minute > capacity_per_minute {
            StepJudgement::ArrivalsAboveThroughput
        } else {
            StepJudgement::Stable
        }
    }
}

fn one() -> u32 {
    1
}

/// The pool size M/M/c prescribes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErlangSizing {
    pub arrival_per_minute: f64,
    pub target_wait_s: f64,
    /// Worker slots (instances × concurrency) for a mean wait within the target.
    pub servers: u32,
    /// The queue at that size, in seconds and tasks per second.
    pub queue: MmcSummary,
    /// Erlang C takes S as fixed; on shared CPUs S grows with concurrency.
    pub assumption: String,
}

/// What the load of a point counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    /// Concurrent users (closed model).
    Users,
    /// Arrivals per second (open model).
    Rate,
}

/// Latency and counts of one endpoint (or all) in one window. Milliseconds.
///
/// The latency figures are None ("no data", `null` in JSON) when no latency was recorded:
/// an endpoint whose every request was refused at connect, or a log with no interval for
/// it. Never 0: a missing measurement must not pass for a fast one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub endpoint: String,
    /// Requests counted (answered or not).
    pub samples: u64,
    /// Requests with a recorded latency: the sample the percentiles come from.
    #[serde(default)]
    pub latency_samples: u64,
    pub errors: u64,
    pub error_ratio: f64,
    /// Throughput: the responses that arrived in the window, per second.
    pub rps: f64,
    /// Its 95 % interval (Poisson on the responses counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_interval: Option<crate::confidence::Interval>,
    pub kb_per_s: f64,
    pub mean_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// The p95's 95 % confidence interval (order statistics, see
    /// `capacity_model::confidence`); the upper bound is None below 110 samples, where the
    /// sample cannot bound a p95 from above.
    #[serde(default)]
    pub p95_low_ms: Option<f64>,
    #[serde(default)]
    pub p95_high_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl EndpointStats {
    /// Whether this p95 can judge an SLO of `slo_p95_ms`: enough latencies to bound it from
    /// above (110, see `confidence`), or a breach certain even from few (its lower bound
    /// above the SLO).
    pub fn p95_judges(&self, slo_p95_ms: f64) -> bool {
        self.latency_samples >= crate::confidence::min_samples_for_quantile(0.95)
            || self.p95_low_ms.is_some_and(|low| low > slo_p95_ms)
    }
}

/// One load point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    pub run_id: String,
    /// The manifest's stage name, with the slice for a ramp ("ramp to 100, 40–60 s").
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub from: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: time::OffsetDateTime,
    pub ramp: bool,
    pub load_kind: LoadKind,
    pub load: f64,
    /// Every endpoint together.
    pub total: EndpointStats,
    pub endpoints: Vec<EndpointStats>,
    /// The endpoint with the highest p95 (the SLO holds per endpoint), and that p95, among
    /// the endpoints whose p95 can be judged: enough samples to bound it (110), or a breach
    /// certain even from few (the p95's lower bound above the SLO). None when none can.
    pub worst_endpoint: String,
    pub worst_p95_ms: Option<f64>,
    /// Endpoints with latencies in the window too few to judge their p95, left out of the
    /// worst endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thin_endpoints: Vec<String>,
    /// Server KPIs over the window (see `Kpi::name`): means, a rate per second for counts,
    /// the maximum for unhealthy hosts and queue age.
    pub kpis: BTreeMap<String, f64>,
}

impl LoadPoint {
    /// How the knee and the notes name this point: its label and its run's short id
    /// ("hold 60 (65e3)").
    pub fn knee_label(&self) -> String {
        format!("{} ({})", self.label, rundir::short_run_id(&self.run_id))
    }

    /// Mean in-service instances of the web layer: the load balancer's healthy hosts.
    pub fn healthy_hosts(&self) -> Option<f64> {
        self.kpis.get(HEALTHY_HOSTS_KPI).copied()
    }
}

/// One scale-out and how long each step of the reaction took.
/// A group scaling in: one decision (AWS records one activity per instance terminated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleIn {
    pub run_id: String,
    pub group: String,
    /// The first of its activities.
    pub activity_id: String,
    pub terminations: u32,
    /// AWS's text (or the local stack's, in AWS's words), quoted as recorded.
    pub cause: String,
    pub from_capacity: u32,
    pub to_capacity: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub alarm_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub activity_at: OffsetDateTime,
    /// The first sample at or after the activity with the group's in-service instances
    /// down to `to_capacity`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub out_of_service_at: Option<OffsetDateTime>,
    pub alarm_to_activity_s: Option<f64>,
    pub activity_to_out_of_service_s: Option<f64>,
    /// Since the group's previous scale-out: how long the capacity it added was kept.
    pub since_scale_out_s: Option<f64>,
    /// The group scaled out again within [`FLAP_WINDOW_S`] of this scale-in: its capacity
    /// oscillated instead of settling.
    pub flapped: bool,
}

/// A scale-out this soon after a scale-in of the same group makes the pair a flap (twice
/// AWS's default cooldown of 300 s).
pub const FLAP_WINDOW_S: f64 = 600.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleOut {
    pub run_id: String,
    pub group: String,
    /// The first of its activities.
    pub activity_id: String,
    /// Instances launched: AWS records one activity each, with the same cause.
    #[serde(default = "one")]
    pub launches: u32,
    pub cause: String,
    pub from_capacity: u32,
    pub to_capacity: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub breach_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub alarm_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub activity_at: OffsetDateTime,
    /// The group's in-service count first reached the new capacity (AWS's InService: the
    /// instances booted; warming ones count).
    #[serde(with = "time::serde::rfc3339::option")]
    pub in_service_at: Option<OffsetDateTime>,
    /// In service plus the group's instance warm-up, when the run recorded it (the local
    /// stack's `stack.json`): from then on the new instances' metrics count for scaling.
    /// Analyses written before issue 21 lack it, and measured in service after the warm-up.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub warmed_up_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub recovered_at: Option<OffsetDateTime>,
    pub breach_to_activity_s: Option<f64>,
    pub activity_to_in_service_s: Option<f64>,
    #[serde(default)]
    pub in_service_to_warmed_up_s: Option<f64>,
    pub in_service_to_recovered_s: Option<f64>,
    /// breach (or, without one, the alarm) → recovered (or in service).
    pub total_s: Option<f64>,
}

/// One recommendation and the runs its figures came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    #[serde(flatten)]
    pub advice: Advice,
    pub runs: Vec<String>,
}

/// The resource a leading KPI measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The web instances' CPU.
    Cpu,
    /// The database's CPU.
    Db,
    /// The queue's depth or age.
    Queue,
    /// Server errors or unhealthy hosts.
    Errors,
}

impl Bound {
    /// The bound a KPI (see `Kpi::name`) measures; None for KPIs no rule reads.
    pub fn of_kpi(kpi: &str) -> Option<Bound> {
        if kpi.starts_with("cpu_percent:") {
            Some(Bound::Cpu)
        } else if kpi.starts_with("db_cpu_percent:") {
            Some(Bound::Db)
        } else if kpi.starts_with("queue_") {
            Some(Bound::Queue)
        } else if kpi.contains("5xx") || kpi == "unhealthy_hosts" {
            Some(Bound::Errors)
        } else {
            None
        }
    }
}

/// What to do, with the figures that call for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Advice {
    /// Nothing breached: the capacity is a lower bound; `load` is the highest tested, `rps`
    /// that point's own rate.
    TestHigher {
        load: f64,
        load_kind: LoadKind,
        rps: f64,
    },
    /// Already the first stage broke the SLO.
    FixFirstStage { stage: String, load: f64 },
    /// A leading KPI names the resource that gave out first.
    ResourceBound {
        bound: Bound,
        kpi: String,
        value: f64,
        limit: f64,
        stage: String,
    },
    /// The USL says contention (σ) limits throughput.
    Contention {
        sigma: f64,
        kappa: f64,
        peak: Option<u64>,
    },
    /// The USL says coherency (κ) limits throughput: more concurrency makes it worse.
    Coherency {
        sigma: f64,
        kappa: f64,
        peak: Option<u64>,
    },
    /// A scale-out took longer than [`crate::advice::SLOW_REACTION_S`] end to end.
    SlowScaleOut {
        group: String,
        total_s: f64,
        in_service_s: Option<f64>,
    },
    /// Little's law failed at most closed-model points.
    LittleMismatch { failing: usize, points: usize },
    /// Erlang C asks for more worker slots than were measured, at the user's target rate.
    WorkerPool {
        servers: u32,
        slots: u32,
        arrival_per_minute: f64,
        target_wait_s: f64,
        service_mean_s: f64,
    },
    /// Saturation steps too short to judge a rate: lengthen them to `needed_s`.
    WorkerStepsTooShort { needed_s: f64, min_arrivals: u64 },
    /// What the worker's concurrency should be for one video size, from its sustained runs
    /// at the lowest and highest concurrency measured.
    WorkerConcurrency {
        size_bytes: u64,
        low: ConcurrencyPoint,
        high: ConcurrencyPoint,
        /// High's throughput over low's, less one; 0 when only one concurrency was measured.
        gain: f64,
        verdict: ConcurrencyVerdict,
    },
    /// The worker pool's highest stable arrival rate, and the first unstable one.
    WorkerSaturation {
        saturated_per_minute: f64,
        max_stable_per_minute: Option<f64>,
        workers: u32,
        concurrency: u32,
        size_bytes: u64,
    },
}

/// One sustained scenario-2 run's concurrency and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencyPoint {
    pub concurrency: u32,
    pub videos_per_minute: f64,
    pub worker_cpu_percent: Option<f64>,
    pub run_id: String,
}

/// What to do with a worker's concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyVerdict {
    /// Only one concurrency was measured: measure others before changing it.
    MeasureMore,
    /// More concurrency gained less than [`crate::advice::CONCURRENCY_GAIN`]: keep the lower one and scale
    /// with instances.
    Keep,
    /// More concurrency gained at least [`crate::advice::CONCURRENCY_GAIN`]: configure the higher one.
    Raise,
}
