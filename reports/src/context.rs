//! What the templates see: the analysis arranged the way the report reads, every row with
//! the run it came from. Numbers stay numbers (the templates format them with the
//! language's separator); every phrase built from data (stage names, load descriptions,
//! notes, verdicts) is worded here in the report's language, so that a template never shows
//! the analysis's English.

use capacity_model::analysis::{
    Analysis, EndpointStats, LittleCheck, LoadKind, LoadPoint, RunInfo, ScaleIn, ScaleOut, Tier,
    WorkerCell,
};
use capacity_model::{KneeOutcome, KpiLimit, StagePoint};
use serde::Serialize;

use crate::Lang;
use crate::charts::Charts;
use crate::narrative::{self, Narrative};
use crate::rules::{WordedRecommendation, recommendations};
use crate::wording::{self, point_claim, point_label};

#[derive(Debug, Serialize)]
pub struct Context {
    /// `es` or `en`.
    pub lang: Lang,
    /// `analyze report --title`; the template's own title when None.
    pub title: Option<String>,
    pub generated_at: String,
    pub aforo: String,
    pub slo_p95_ms: f64,
    pub slo_errors: f64,
    pub target_wait_s: f64,
    pub environment: Environment,
    pub scenario1: Vec<RunSection>,
    pub latency: Vec<SloRow>,
    pub capacity: Option<CapacityView>,
    pub capacity_missing: Option<String>,
    pub usl: Option<UslView>,
    pub usl_missing: Option<String>,
    pub scale_outs: Vec<ScaleOutRow>,
    pub scale_ins: Vec<ScaleInRow>,
    pub flap_window_s: f64,
    /// Every Little's-law check with a verdict, failures included.
    pub little: Vec<LittleRow>,
    pub little_failures: usize,
    pub little_tolerance_pct: f64,
    pub workers: Vec<WorkerRow>,
    pub comparison: Option<Comparison>,
    pub recommendations: Vec<WordedRecommendation>,
    pub narrative: Narrative,
    pub charts: Charts,
    pub notes: Vec<String>,
    /// Cost and energy estimates; None in analyses written before they existed.
    pub cost: Option<CostView>,
}

/// The cost and energy section: the estimates' inputs (the template words them in its
/// language) and one row per priced run, with the figures the analysis holds.
#[derive(Debug, Serialize)]
pub struct CostView {
    #[serde(flatten)]
    pub basis: capacity_model::cost::CostBasis,
    pub rows: Vec<CostRow>,
}

#[derive(Debug, Serialize)]
pub struct CostRow {
    pub short_id: String,
    pub seconds: f64,
    pub cpu_percent: Option<f64>,
    #[serde(flatten)]
    pub estimate: capacity_model::cost::CostEstimate,
}

#[derive(Debug, Serialize)]
pub struct Environment {
    /// Each distinct local-stack configuration and the runs (short ids) that ran on it.
    pub stack_configs: Vec<StackConfigView>,
    pub hosts: Vec<String>,
    /// One line per distinct target.
    pub targets: Vec<String>,
    pub runs: Vec<RunRow>,
}

#[derive(Debug, Serialize)]
pub struct StackConfigView {
    pub runs: Vec<String>,
    pub lines: Vec<String>,
}

/// A run as the report lists it, worded.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub short_id: String,
    pub scenario: String,
    pub profile: String,
    pub load: String,
    /// "rampa hasta 60 (36 s), meseta 60 (60 s)".
    pub stages: String,
    pub time_scale: f64,
    pub started_at: String,
}

/// One scenario-1 run: its configuration and its table.
#[derive(Debug, Serialize)]
pub struct RunSection {
    pub run: RunRow,
    /// Hold stages and ramp slices, in time order.
    pub points: Vec<PointRow>,
    /// The whole run per endpoint (the course's table).
    pub endpoints: Vec<EndpointStats>,
}

#[derive(Debug, Serialize)]
pub struct PointRow {
    pub label: String,
    pub load: f64,
    /// The load's unit, worded.
    pub unit: String,
    pub total: EndpointStats,
    pub worst_endpoint: String,
    /// None: no latency recorded at this point ("no data", never 0).
    pub worst_p95_ms: Option<f64>,
    /// None: not enough data to judge.
    pub within_slo: Option<bool>,
    /// Endpoints with too few latencies to judge at this point.
    pub thin_endpoints: Vec<String>,
    pub instances: Option<f64>,
    pub cpu_web: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SloRow {
    #[serde(flatten)]
    pub stats: EndpointStats,
    /// None: too few latencies to judge the p95 either way (fewer than 110 and no certain
    /// breach).
    pub p95_ok: Option<bool>,
    pub errors_ok: bool,
}

/// The capacity claims. Each quotes one load point whole (its load, rate, p95, errors and
/// sample), worded once by [`point_claim`], so that no sentence mixes figures of two points.
#[derive(Debug, Serialize)]
pub struct CapacityView {
    pub lower_bound: bool,
    pub breached_at_first: bool,
    /// The last point within the SLO: the highest load it held.
    pub last: Option<String>,
    /// The point within the SLO with the highest throughput.
    pub best: Option<String>,
    pub best_is_last: bool,
    pub breach: Option<String>,
    /// "p95 1205,3 ms > 1000 ms" and the like, for the breach.
    pub violations: Vec<String>,
    pub leading: Vec<Leading>,
    /// At the best point: its rate over its healthy hosts.
    pub rps_per_instance: Option<f64>,
    pub instances: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Leading {
    pub kpi: String,
    /// `web`, `worker`, `database` or `load_balancer`.
    pub tier: Option<Tier>,
    pub value: f64,
    pub limit: f64,
    /// For a limit set as a rise over the KPI's first value: that value, where it was
    /// measured, and the rise in percent.
    pub baseline: Option<f64>,
    pub baseline_at: Option<String>,
    pub rise_pct: Option<f64>,
    pub at: String,
}

/// One Little's-law check as the analyzer judged it.
#[derive(Debug, Serialize)]
pub struct LittleRow {
    pub short_id: String,
    pub label: String,
    pub measured: f64,
    pub implied: f64,
    pub discrepancy: f64,
    pub holds: bool,
}

#[derive(Debug, Serialize)]
pub struct UslView {
    pub sigma: f64,
    pub kappa: f64,
    pub lambda: f64,
    pub r_squared: f64,
    pub threshold: f64,
    pub points: usize,
    pub poor_fit: bool,
    pub peak_concurrency: Option<u64>,
    pub max_throughput: Option<f64>,
    pub concurrency_from: String,
}

#[derive(Debug, Serialize)]
pub struct WorkerRow {
    #[serde(flatten)]
    pub cell: WorkerCell,
    pub short_id: String,
    pub mode_text: String,
    pub size_mb: f64,
    pub stable: bool,
    pub erlang: Option<ErlangRow>,
    pub erlang_missing: Option<String>,
}

/// Erlang C's sizing of one cell: a calculation, not a measurement.
#[derive(Debug, Serialize)]
pub struct ErlangRow {
    pub arrival_per_minute: f64,
    pub service_s: f64,
    /// Slots measured: instances × concurrency.
    pub slots: u32,
    /// Slots M/M/c prescribes for a mean wait within the target.
    pub servers: u32,
    pub utilisation: f64,
    pub probability_of_waiting: f64,
    pub mean_wait_s: f64,
}

#[derive(Debug, Serialize)]
pub struct ScaleOutRow {
    #[serde(flatten)]
    pub event: ScaleOut,
    pub short_id: String,
}

#[derive(Debug, Serialize)]
pub struct ScaleInRow {
    #[serde(flatten)]
    pub event: ScaleIn,
    pub short_id: String,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub baseline_generated_at: String,
    pub rows: Vec<ComparisonRow>,
    pub max_rps_before: Option<f64>,
    pub max_rps_now: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ComparisonRow {
    pub endpoint: String,
    pub p95_before: f64,
    pub p95_now: f64,
    pub change_pct: f64,
}

/// A run's load as a reader says it: scenario 2's are tasks, not users.
fn load_text(lang: Lang, run: &RunInfo) -> String {
    match (run.scenario.as_str(), run.load_kind, run.max_load) {
        ("scenario2", Some(LoadKind::Users), Some(max)) => match (lang, max == 1.0) {
            (Lang::Es, true) => "1 tarea en el sistema".to_owned(),
            (Lang::En, true) => "1 task in the system".to_owned(),
            (Lang::Es, false) => format!("{} tareas en el sistema", lang.decimal(max, 0)),
            (Lang::En, false) => format!("{} tasks in the system", lang.decimal(max, 0)),
        },
        ("scenario2", Some(LoadKind::Rate), Some(max)) => match lang {
            Lang::Es => format!("llegadas hasta {} por min", lang.decimal(max * 60.0, 2)),
            Lang::En => format!("arrivals up to {} a minute", lang.decimal(max * 60.0, 2)),
        },
        (_, Some(kind), Some(max)) => wording::load_model(lang, kind, max),
        // An analysis written before the load was recorded as values.
        _ => format!("«{}»", run.load),
    }
}

fn run_row(lang: Lang, run: &RunInfo) -> RunRow {
    RunRow {
        run_id: run.run_id.clone(),
        short_id: rundir::short_run_id(&run.run_id).to_owned(),
        scenario: wording::scenario(lang, &run.scenario),
        profile: wording::profile(lang, &run.profile),
        load: load_text(lang, run),
        stages: run
            .stages
            .iter()
            .map(|s| wording::stage(lang, s))
            .collect::<Vec<_>>()
            .join(", "),
        time_scale: run.time_scale,
        started_at: wording::time(run.started_at),
    }
}

fn sorted_unique(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

pub fn build(a: &Analysis, baseline: Option<&Analysis>, charts: &Charts, lang: Lang) -> Context {
    let slo = &a.settings.slo;
    // None: no p95 could judge the point and its errors are within the SLO (no data).
    let within = |p: &LoadPoint| {
        let errors_within = p.total.error_ratio <= slo.max_error_ratio;
        match p.worst_p95_ms {
            Some(p95) => Some(p95 <= slo.p95_ms && errors_within),
            None => (!errors_within).then_some(false),
        }
    };
    let mut stack_configs: Vec<StackConfigView> = Vec::new();
    for r in &a.runs {
        let Some(description) = &r.stack_config else {
            continue;
        };
        let lines = wording::stack_lines(lang, description);
        match stack_configs.iter_mut().find(|c| c.lines == lines) {
            Some(c) => c.runs.push(rundir::short_run_id(&r.run_id).to_owned()),
            None => stack_configs.push(StackConfigView {
                runs: vec![rundir::short_run_id(&r.run_id).to_owned()],
                lines,
            }),
        }
    }
    let environment = Environment {
        stack_configs,
        hosts: sorted_unique(a.runs.iter().map(|r| wording::host(lang, r)).collect()),
        targets: wording::targets(lang, &a.runs),
        runs: a.runs.iter().map(|r| run_row(lang, r)).collect(),
    };

    let scenario1 = a
        .runs
        .iter()
        .filter(|r| r.scenario != "scenario2")
        .map(|run| {
            let points: Vec<PointRow> = a
                .stages
                .iter()
                .filter(|p| p.run_id == run.run_id)
                .map(|p| PointRow {
                    label: point_label(lang, &p.label),
                    load: p.load,
                    unit: wording::load_unit(lang, p.load_kind).to_owned(),
                    total: p.total.clone(),
                    worst_endpoint: p.worst_endpoint.clone(),
                    worst_p95_ms: p.worst_p95_ms,
                    within_slo: within(p),
                    thin_endpoints: p.thin_endpoints.clone(),
                    instances: p.healthy_hosts(),
                    cpu_web: p
                        .kpis
                        .iter()
                        .find(|(k, _)| k.starts_with("cpu_percent:web"))
                        .map(|(_, v)| *v),
                })
                .collect();
            let endpoints = a
                .timelines
                .iter()
                .find(|t| t.run_id == run.run_id)
                .map(|t| t.endpoints.clone())
                .unwrap_or_default();
            RunSection {
                run: run_row(lang, run),
                points,
                endpoints,
            }
        })
        .collect();

    let latency = a
        .latency
        .iter()
        .map(|e| SloRow {
            stats: e.clone(),
            p95_ok: e
                .p95_ms
                .filter(|_| e.p95_judges(slo.p95_ms))
                .map(|p95| p95 <= slo.p95_ms),
            errors_ok: e.error_ratio <= slo.max_error_ratio,
        })
        .collect();

    let capacity = a.capacity.available().map(|c| capacity_view(c, lang));
    let capacity_missing = wording::why_missing(lang, &a.capacity);

    let usl = a.usl.available().map(|u| UslView {
        sigma: u.fit.sigma,
        kappa: u.fit.kappa,
        lambda: u.fit.lambda,
        r_squared: u.fit.r_squared,
        threshold: capacity_model::analysis::USL_POOR_FIT,
        points: u.fit.points,
        poor_fit: u.fits_poorly(),
        peak_concurrency: u.fit.peak_concurrency,
        max_throughput: u.fit.max_throughput,
        concurrency_from: u.concurrency_from.clone(),
    });
    let usl_missing = wording::why_missing(lang, &a.usl);

    let workers = a
        .workers
        .iter()
        .map(|w| WorkerRow {
            short_id: rundir::short_run_id(&w.run_id).to_owned(),
            mode_text: wording::worker_mode(lang, &w.mode),
            size_mb: w.size_bytes as f64 / 1e6,
            stable: !w.queue_verdict.is_growing()
                && !w.steps.iter().any(|s| s.judgement.is_unstable()),
            erlang: w.erlang.available().map(|e| ErlangRow {
                arrival_per_minute: e.arrival_per_minute,
                service_s: e.queue.service_time,
                slots: w.workers.max(1) * w.concurrency.max(1),
                servers: e.servers,
                utilisation: e.queue.utilisation,
                probability_of_waiting: e.queue.probability_of_waiting,
                mean_wait_s: e.queue.mean_wait,
            }),
            erlang_missing: wording::why_missing(lang, &w.erlang),
            cell: w.clone(),
        })
        .collect();

    let comparison = baseline.map(|b| comparison(a, b));

    let little: Vec<LittleRow> = a
        .little
        .iter()
        .filter_map(|l| match l {
            LittleCheck::Closed {
                label,
                run_id,
                check,
                holds,
            } => Some(LittleRow {
                short_id: rundir::short_run_id(run_id).to_owned(),
                label: point_label(lang, label),
                measured: check.measured_users,
                implied: check.implied_users,
                discrepancy: check.relative_discrepancy,
                holds: *holds,
            }),
            LittleCheck::Workers {
                run_id,
                check,
                holds,
            } => Some(LittleRow {
                short_id: rundir::short_run_id(run_id).to_owned(),
                label: lang
                    .tr(
                        "workers (tareas en el sistema)",
                        "workers (tasks in the system)",
                    )
                    .into(),
                measured: check.measured_in_system,
                implied: check.implied_in_system,
                discrepancy: check.relative_discrepancy,
                holds: *holds,
            }),
            LittleCheck::Open { .. } => None,
        })
        .collect();

    Context {
        lang,
        title: None,
        little_failures: little.iter().filter(|l| !l.holds).count(),
        little,
        little_tolerance_pct: capacity_model::analysis::LITTLE_TOLERANCE * 100.0,
        generated_at: wording::time(a.generated_at),
        aforo: a.aforo.clone(),
        slo_p95_ms: slo.p95_ms,
        slo_errors: slo.max_error_ratio,
        target_wait_s: a.settings.target_wait_s,
        environment,
        scenario1,
        latency,
        capacity,
        capacity_missing,
        usl,
        usl_missing,
        scale_outs: a
            .scale_outs
            .iter()
            .map(|s| ScaleOutRow {
                event: s.clone(),
                short_id: rundir::short_run_id(&s.run_id).to_owned(),
            })
            .collect(),
        scale_ins: a
            .scale_ins
            .iter()
            .map(|s| ScaleInRow {
                event: s.clone(),
                short_id: rundir::short_run_id(&s.run_id).to_owned(),
            })
            .collect(),
        flap_window_s: capacity_model::analysis::FLAP_WINDOW_S,
        workers,
        comparison,
        recommendations: recommendations(a, lang),
        narrative: narrative::build(a, lang),
        charts: charts.clone(),
        notes: a.notes.iter().map(|n| wording::note(lang, n)).collect(),
        cost: a.cost.as_ref().map(cost_view),
    }
}

fn cost_view(cost: &capacity_model::analysis::CostSection) -> CostView {
    CostView {
        basis: cost.basis.clone(),
        rows: cost
            .runs
            .iter()
            .map(|r| CostRow {
                short_id: rundir::short_run_id(&r.run_id).to_owned(),
                seconds: r.hours * 3600.0,
                cpu_percent: r.cpu_utilisation.map(|u| u * 100.0),
                estimate: r.clone(),
            })
            .collect(),
    }
}

fn capacity_view(c: &capacity_model::analysis::Capacity, lang: Lang) -> CapacityView {
    let k = &c.knee;
    let claim = |p: &StagePoint| point_claim(lang, c.load_kind, p);
    let violations = k.first_breach().map_or_else(Vec::new, |b| {
        b.violations
            .iter()
            .map(|v| match v.bound {
                capacity_model::SloBound::P95Latency => format!(
                    "p95 {} ms > {} ms",
                    lang.decimal(v.measured, 1),
                    lang.decimal(v.limit, 0)
                ),
                capacity_model::SloBound::ErrorRatio => format!(
                    "{} {} % > {} %",
                    lang.tr("errores", "errors"),
                    lang.decimal(v.measured * 100.0, 2),
                    lang.decimal(v.limit * 100.0, 2)
                ),
            })
            .collect()
    });
    let last = k.last_within_slo();
    CapacityView {
        lower_bound: k.capacity_is_lower_bound,
        breached_at_first: matches!(k.outcome, KneeOutcome::BreachedAtFirstStage { .. }),
        best_is_last: k.best_within_slo.as_ref().map(|b| b.index) == last.map(|l| l.index),
        best: k.best_within_slo.as_ref().map(claim),
        last: last.map(claim),
        breach: k.first_breach().map(|b| claim(&b.stage)),
        violations,
        leading: k
            .leading_kpis
            .iter()
            .map(|d| {
                let (baseline, baseline_at, rise_pct) = match &d.limit {
                    KpiLimit::RiseOverBaseline {
                        baseline,
                        baseline_stage,
                        rise,
                        ..
                    } => (
                        Some(*baseline),
                        Some(point_label(lang, baseline_stage)),
                        Some(rise * 100.0),
                    ),
                    KpiLimit::Threshold { .. } => (None, None, None),
                };
                Leading {
                    kpi: d.kpi.clone(),
                    tier: c.kpi_tiers.get(&d.kpi).copied(),
                    value: d.value,
                    limit: d.limit.value(),
                    baseline,
                    baseline_at,
                    rise_pct,
                    at: point_label(lang, &d.stage.label),
                }
            })
            .collect(),
        rps_per_instance: c.rps_per_instance,
        instances: c.instances_at_best,
    }
}

fn comparison(a: &Analysis, b: &Analysis) -> Comparison {
    let compared = a.compare_with(b);
    let rows = compared
        .endpoints
        .iter()
        .filter_map(|change| {
            let ((p95_now, p95_before), rise) = (change.p95_ms?, change.p95_rise()?);
            Some(ComparisonRow {
                endpoint: change.endpoint.clone(),
                p95_before,
                p95_now,
                change_pct: rise * 100.0,
            })
        })
        .collect();
    Comparison {
        baseline_generated_at: wording::time(b.generated_at),
        rows,
        max_rps_before: compared.max_rps_before,
        max_rps_now: compared.max_rps_now,
    }
}
