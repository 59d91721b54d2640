//! What the templates see: the analysis arranged the way the report reads, every row with
//! the run it came from. Numbers stay numbers; the templates format them.

use capacity_model::analysis::{
    Analysis, EndpointStats, LittleCheck, LoadKind, LoadPoint, RunInfo, ScaleOut, Section, Tier,
    WorkerCell,
};
use capacity_model::{KneeOutcome, KpiLimit, StagePoint};
use serde::Serialize;

use crate::charts::Charts;
use crate::rules::{Recommendation, recommendations};

#[derive(Debug, Serialize)]
pub struct Context {
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
    pub scale_outs: Vec<ScaleOut>,
    /// Every Little's-law check with a verdict, failures included.
    pub little: Vec<LittleRow>,
    pub little_failures: usize,
    pub little_tolerance_pct: f64,
    pub workers: Vec<WorkerRow>,
    /// CPU and queue charts of the scenario-2 runs.
    pub worker_charts: Vec<crate::charts::RunChart>,
    pub comparison: Option<Comparison>,
    pub recommendations: Vec<Recommendation>,
    pub charts: Charts,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Environment {
    /// Each distinct local-stack configuration and the runs (short ids) that ran on it.
    pub stack_configs: Vec<StackConfigView>,
    pub hosts: Vec<String>,
    pub targets: Vec<String>,
    pub stacks: Vec<String>,
    pub runs: Vec<RunInfo>,
}

#[derive(Debug, Serialize)]
pub struct StackConfigView {
    pub runs: Vec<String>,
    pub lines: Vec<String>,
}

/// One scenario-1 run: its configuration and its table.
#[derive(Debug, Serialize)]
pub struct RunSection {
    pub run: RunInfo,
    pub short_id: String,
    /// Hold stages and ramp slices, in time order.
    pub points: Vec<PointRow>,
    /// The whole run per endpoint (the course's table).
    pub endpoints: Vec<EndpointStats>,
}

#[derive(Debug, Serialize)]
pub struct PointRow {
    pub label: String,
    pub load: f64,
    pub unit: &'static str,
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

/// The capacity claims. Each quotes one load point whole (`StagePoint`: its load, rate,
/// p95, errors and sample), so that no sentence mixes figures of two points.
#[derive(Debug, Serialize)]
pub struct CapacityView {
    pub unit: &'static str,
    pub lower_bound: bool,
    pub breached_at_first: bool,
    /// The last point within the SLO: the highest load it held.
    pub last: Option<StagePoint>,
    /// The point within the SLO with the highest throughput.
    pub best: Option<StagePoint>,
    pub best_is_last: bool,
    pub breach: Option<StagePoint>,
    /// "p95 1205.3 ms > 1000 ms" and the like, for the breach.
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
    pub size_mb: f64,
    pub stable: bool,
    pub erlang_servers: Option<u32>,
    pub erlang_missing: Option<String>,
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

fn short(id: &str) -> String {
    id.split('-').nth(2).unwrap_or(id).to_owned()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `users` or `rate`; the templates word it in their language.
fn unit(kind: LoadKind) -> &'static str {
    match kind {
        LoadKind::Users => "users",
        LoadKind::Rate => "rate",
    }
}

pub fn build(a: &Analysis, baseline: Option<&Analysis>, charts: &Charts) -> Context {
    let slo = &a.settings.slo;
    // None: no p95 could judge the point and its errors are within the SLO (no data).
    let within = |p: &LoadPoint| {
        let errors_within = p.total.error_ratio <= slo.max_error_ratio;
        match p.worst_p95_ms {
            Some(p95) => Some(p95 <= slo.p95_ms && errors_within),
            None => (!errors_within).then_some(false),
        }
    };
    let dedup = |items: Vec<String>| {
        let mut items = items;
        items.sort();
        items.dedup();
        items
    };
    let mut stack_configs: Vec<StackConfigView> = Vec::new();
    for r in a.runs.iter().filter(|r| !r.stack_config.is_empty()) {
        match stack_configs.iter_mut().find(|c| c.lines == r.stack_config) {
            Some(c) => c.runs.push(short(&r.run_id)),
            None => stack_configs.push(StackConfigView {
                runs: vec![short(&r.run_id)],
                lines: r.stack_config.clone(),
            }),
        }
    }
    let environment = Environment {
        stack_configs,
        hosts: dedup(
            a.runs
                .iter()
                .map(|r| format!("{}, {} cores", r.host, r.host_cores))
                .collect(),
        ),
        targets: dedup(a.runs.iter().map(|r| r.target.clone()).collect()),
        stacks: dedup(a.runs.iter().map(|r| r.stack.clone()).collect()),
        runs: a.runs.clone(),
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
                    label: p.label.clone(),
                    load: p.load,
                    unit: unit(p.load_kind),
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
                run: run.clone(),
                short_id: short(&run.run_id),
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

    let (capacity, capacity_missing) = match &a.capacity {
        Section::Available(c) => {
            let k = &c.knee;
            let violations = k.first_breach().map_or_else(Vec::new, |b| {
                b.violations
                    .iter()
                    .map(|v| match v.bound {
                        capacity_model::SloBound::P95Latency => {
                            format!("p95 {:.1} ms > {:.0} ms", v.measured, v.limit)
                        }
                        capacity_model::SloBound::ErrorRatio => format!(
                            "error {:.2} % > {:.2} %",
                            v.measured * 100.0,
                            v.limit * 100.0
                        ),
                    })
                    .collect()
            });
            let last = k.last_within_slo().cloned();
            (
                Some(CapacityView {
                    unit: unit(c.load_kind),
                    lower_bound: k.capacity_is_lower_bound,
                    breached_at_first: matches!(
                        k.outcome,
                        KneeOutcome::BreachedAtFirstStage { .. }
                    ),
                    best_is_last: k.best_within_slo.as_ref().map(|b| b.index)
                        == last.as_ref().map(|l| l.index),
                    best: k.best_within_slo.clone(),
                    last,
                    breach: k.first_breach().map(|b| b.stage.clone()),
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
                                    Some(baseline_stage.clone()),
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
                                at: d.stage.label.clone(),
                            }
                        })
                        .collect(),
                    rps_per_instance: c.rps_per_instance,
                    instances: c.instances_at_best,
                }),
                None,
            )
        }
        Section::Unavailable { unavailable } => (None, Some(unavailable.clone())),
    };

    let (usl, usl_missing) = match &a.usl {
        Section::Available(u) => (
            Some(UslView {
                sigma: u.fit.sigma,
                kappa: u.fit.kappa,
                lambda: u.fit.lambda,
                r_squared: u.fit.r_squared,
                points: u.fit.points,
                poor_fit: u.fit.r_squared < capacity_model::analysis::USL_POOR_FIT,
                peak_concurrency: u.fit.peak_concurrency,
                max_throughput: u.fit.max_throughput,
                concurrency_from: u.concurrency_from.clone(),
            }),
            None,
        ),
        Section::Unavailable { unavailable } => (None, Some(unavailable.clone())),
    };

    let workers = a
        .workers
        .iter()
        .map(|w| WorkerRow {
            short_id: short(&w.run_id),
            size_mb: w.size_bytes as f64 / 1e6,
            stable: w.queue_verdict != "growing"
                && !w.steps.iter().any(|s| s.judgement.is_unstable()),
            erlang_servers: w.erlang.available().map(|e| e.servers),
            erlang_missing: match &w.erlang {
                Section::Unavailable { unavailable } => Some(unavailable.clone()),
                Section::Available(_) => None,
            },
            cell: w.clone(),
        })
        .collect();

    let comparison = baseline.map(|b| {
        let rows = a
            .latency
            .iter()
            .filter_map(|now| {
                let before = b.latency.iter().find(|e| e.endpoint == now.endpoint)?;
                let (p95_before, p95_now) = (before.p95_ms.filter(|p| *p > 0.0)?, now.p95_ms?);
                Some(ComparisonRow {
                    endpoint: now.endpoint.clone(),
                    p95_before,
                    p95_now,
                    change_pct: (p95_now / p95_before - 1.0) * 100.0,
                })
            })
            .collect();
        Comparison {
            baseline_generated_at: rfc3339(b.generated_at),
            rows,
            max_rps_before: b
                .capacity
                .available()
                .and_then(|c| c.knee.max_rps_within_slo()),
            max_rps_now: a
                .capacity
                .available()
                .and_then(|c| c.knee.max_rps_within_slo()),
        }
    });

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
                short_id: short(run_id),
                label: label.clone(),
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
                short_id: short(run_id),
                label: "workers".into(),
                measured: check.measured_in_system,
                implied: check.implied_in_system,
                discrepancy: check.relative_discrepancy,
                holds: *holds,
            }),
            LittleCheck::Open { .. } => None,
        })
        .collect();

    Context {
        little_failures: little.iter().filter(|l| !l.holds).count(),
        little,
        little_tolerance_pct: capacity_model::analysis::LITTLE_TOLERANCE * 100.0,
        generated_at: rfc3339(a.generated_at),
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
        scale_outs: a.scale_outs.clone(),
        workers,
        worker_charts: charts
            .resources
            .iter()
            .filter(|c| a.workers.iter().any(|w| w.run_id == c.run_id))
            .cloned()
            .collect(),
        comparison,
        recommendations: recommendations(a),
        charts: charts.clone(),
        notes: a.notes.clone(),
    }
}
