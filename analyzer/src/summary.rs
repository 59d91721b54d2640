//! The analysis as text for a terminal: the conclusions first, then the tables they rest on.

use std::fmt::Write;

use capacity_model::KneeOutcome;

use crate::analysis::LoadKind;
use crate::analysis::{Analysis, LittleCheck, Section};

fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |s| format!("{s:.0}s"))
}

/// A latency in ms, or "no data" where none was recorded (never 0).
fn ms(v: Option<f64>) -> String {
    v.map_or("no data".into(), |ms| format!("{ms:.1}"))
}

/// One load point's own figures, so that a claim never mixes two points.
fn point(p: &capacity_model::StagePoint, unit: &str) -> String {
    // A ramp slice's load is a time average: 65.5 users is not 66.
    let load = if p.load.fract() == 0.0 {
        format!("{:.0}", p.load)
    } else {
        format!("{:.1}", p.load)
    };
    format!(
        "{load} {unit} at {}: {:.1} req/s, p95 {} ms, {:.2}% errors, {} requests",
        p.label,
        p.rps,
        ms(p.p95_ms),
        p.error_ratio * 100.0,
        p.samples
    )
}

fn limit_rule(limit: &capacity_model::KpiLimit) -> String {
    match limit {
        capacity_model::KpiLimit::Threshold { limit } => format!("limit {limit:.1}"),
        capacity_model::KpiLimit::RiseOverBaseline {
            baseline,
            baseline_stage,
            rise,
            limit,
        } => format!(
            "limit {limit:.1}: {:.0}% over its {baseline:.1} at {baseline_stage}",
            rise * 100.0
        ),
    }
}

pub fn render(a: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} run(s); SLO: {} on every endpoint",
        a.runs.len(),
        a.settings.slo
    );
    for run in &a.runs {
        let _ = writeln!(
            out,
            "  {}  {} {} on {} ({}), {} requests, {} metric rows, {} activities, {} tasks",
            run.run_id,
            run.scenario,
            run.profile,
            run.target,
            run.stack,
            run.requests,
            run.metric_rows,
            run.activities,
            run.tasks
        );
    }

    out.push_str("\nCapacity\n");
    match &a.capacity {
        Section::Available(c) => {
            let unit = match c.load_kind {
                LoadKind::Users => "users",
                LoadKind::Rate => "arrivals/s",
            };
            let k = &c.knee;
            match &k.outcome {
                KneeOutcome::WithinSloThroughout { last_stage } => {
                    let _ = writeln!(
                        out,
                        "  within SLO at every tested load, up to {}; the capacity is at least \
                         this: test higher to find the knee",
                        point(last_stage, unit)
                    );
                }
                KneeOutcome::Knee {
                    last_within_slo,
                    first_breach,
                } => {
                    let _ = writeln!(
                        out,
                        "  holds {}\n  breaks at {}",
                        point(last_within_slo, unit),
                        point(&first_breach.stage, unit)
                    );
                    for v in &first_breach.violations {
                        let _ = writeln!(
                            out,
                            "    {:?}: {:.3} against {:.3}",
                            v.bound, v.measured, v.limit
                        );
                    }
                }
                KneeOutcome::BreachedAtFirstStage { first_breach } => {
                    let _ = writeln!(
                        out,
                        "  the SLO broke already at the lowest load, {}: start lower or look \
                         for a fault",
                        point(&first_breach.stage, unit)
                    );
                }
            }
            if let Some(best) = &k.best_within_slo
                && Some(best.index) != k.last_within_slo().map(|l| l.index)
            {
                let _ = writeln!(
                    out,
                    "  highest throughput within SLO: {}",
                    point(best, unit)
                );
            }
            match &k.leading_kpis[..] {
                [] => out.push_str("  no server KPI of the web tier degraded before the breach\n"),
                kpis => {
                    for d in kpis {
                        let _ = writeln!(
                            out,
                            "  first to degrade: {} ({:?} tier) = {:.1} at {} ({})",
                            d.kpi,
                            c.kpi_tiers
                                .get(&d.kpi)
                                .copied()
                                .unwrap_or(crate::analysis::Tier::Web),
                            d.value,
                            d.stage.label,
                            limit_rule(&d.limit)
                        );
                    }
                }
            }
            if let (Some(per), Some(n), Some(best)) =
                (c.rps_per_instance, c.instances_at_best, &k.best_within_slo)
            {
                let _ = writeln!(
                    out,
                    "  {per:.1} req/s per in-service instance ({n:.1} healthy hosts at {})",
                    best.label
                );
            }
        }
        Section::Unavailable { unavailable, .. } => {
            let _ = writeln!(out, "  {unavailable}");
        }
    }

    out.push_str("\nScalability (USL)\n");
    match &a.usl {
        Section::Available(u) => {
            let f = &u.fit;
            let _ = writeln!(
                out,
                "  σ {:.4}, κ {:.2e}, λ {:.2} req/s, R² {:.3} on {} points (N from {})",
                f.sigma, f.kappa, f.lambda, f.r_squared, f.points, u.concurrency_from
            );
            if u.fits_poorly() {
                out.push_str("  poor fit: these points do not follow the USL; no projection\n");
            } else if let (Some(n), Some(x)) = (f.peak_concurrency, f.max_throughput) {
                let _ = writeln!(
                    out,
                    "  projection: throughput peaks near N = {n} at {x:.1} req/s"
                );
            }
        }
        Section::Unavailable { unavailable, .. } => {
            let _ = writeln!(out, "  {unavailable}");
        }
    }

    if !a.stages.is_empty() {
        let _ = writeln!(
            out,
            "\nLoad points\n  {:<34} {:>7} {:>8} {:>8} {:>7} {:>9}  worst endpoint",
            "stage", "load", "req/s", "p95 ms", "err %", "instances"
        );
        for p in &a.stages {
            let _ = writeln!(
                out,
                "  {:<34} {:>7.1} {:>8.1} {:>8} {:>7.2} {:>9}  {}",
                truncate(&p.label, 34),
                p.load,
                p.total.rps,
                ms(p.worst_p95_ms),
                p.total.error_ratio * 100.0,
                p.healthy_hosts().map_or("–".into(), |h| format!("{h:.1}")),
                if p.thin_endpoints.is_empty() {
                    p.worst_endpoint.clone()
                } else {
                    format!(
                        "{} (too few to judge: {})",
                        p.worst_endpoint,
                        p.thin_endpoints.join(", ")
                    )
                }
            );
        }
    }

    if !a.latency.is_empty() {
        let _ = writeln!(
            out,
            "\nLatency over all scenario-1 runs (ms)\n  {:<16} {:>8} {:>7} {:>8} {:>8} {:>8} {:>17} {:>8} {:>8}",
            "endpoint", "samples", "err %", "p50", "p90", "p95", "p95 95% interval", "p99", "max"
        );
        for e in &a.latency {
            let interval = match (e.p95_low_ms, e.p95_high_ms) {
                (Some(low), Some(high)) => format!("{low:.1}–{high:.1}"),
                (Some(low), None) => format!("≥ {low:.1} (few)"),
                _ => "no data".into(),
            };
            let _ = writeln!(
                out,
                "  {:<16} {:>8} {:>7.2} {:>8} {:>8} {:>8} {:>17} {:>8} {:>8}",
                e.endpoint,
                e.samples,
                e.error_ratio * 100.0,
                ms(e.p50_ms),
                ms(e.p90_ms),
                ms(e.p95_ms),
                interval,
                ms(e.p99_ms),
                ms(e.max_ms)
            );
        }
    }

    let closed: Vec<_> = a
        .little
        .iter()
        .filter_map(|l| match l {
            LittleCheck::Closed {
                check,
                holds,
                label,
                ..
            } => Some((check, holds, label)),
            _ => None,
        })
        .collect();
    if !closed.is_empty() {
        let holding = closed.iter().filter(|(_, h, _)| **h).count();
        let worst = closed
            .iter()
            .map(|(c, _, _)| c.relative_discrepancy)
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        let _ = writeln!(
            out,
            "\nLittle's law: users ≈ X·(R + Z) holds within 10% at {holding} of {} points (largest \
             discrepancy {:+.1}%)",
            closed.len(),
            worst * 100.0
        );
        for (check, _, label) in closed.iter().filter(|(_, h, _)| !**h) {
            let _ = writeln!(
                out,
                "  fails at {label}: {:.1} users against X·(R + Z) = {:.1} ({:+.1}%): the load the \
                 generator applied is not the one configured (a generator short of CPU, or \
                 users waiting outside the target)",
                check.measured_users,
                check.implied_users,
                check.relative_discrepancy * 100.0
            );
        }
    }
    for l in &a.little {
        if let LittleCheck::Workers {
            run_id,
            check,
            holds: false,
        } = l
        {
            let _ = writeln!(
                out,
                "  fails for the workers of {run_id}: {:.2} tasks in the system measured against \
                 {:.2} implied ({:+.1}%)",
                check.measured_in_system,
                check.implied_in_system,
                check.relative_discrepancy * 100.0
            );
        }
    }

    if !a.scale_outs.is_empty() {
        let _ = writeln!(
            out,
            "\nScale-outs\n  {:<10} {:<9} {:>16} {:>18} {:>20} {:>20} {:>8}",
            "group",
            "capacity",
            "breach→activity",
            "activity→in service",
            "in service→warmed up",
            "in service→recovered",
            "total"
        );
        for s in &a.scale_outs {
            let _ = writeln!(
                out,
                "  {:<10} {:<9} {:>16} {:>18} {:>20} {:>20} {:>8}{}",
                s.group,
                format!("{}→{}", s.from_capacity, s.to_capacity),
                secs(s.breach_to_activity_s),
                secs(s.activity_to_in_service_s),
                secs(s.in_service_to_warmed_up_s),
                secs(s.in_service_to_recovered_s),
                secs(s.total_s),
                if s.breach_at.is_none() {
                    "  (before any SLO breach)"
                } else {
                    ""
                }
            );
        }
    }

    if !a.workers.is_empty() {
        let _ = writeln!(
            out,
            "\nWorkers (scenario 2)\n  {:<10} {:>4} {:>8} {:>9} {:>10} {:>9} {:>8}  {:<9} Erlang C",
            "mode", "c", "size MB", "tasks", "videos/min", "S mean s", "S p95 s", "queue",
        );
        for w in &a.workers {
            let erlang = match &w.erlang {
                Section::Available(e) => format!(
                    "{} slots for Wq ≤ {:.0}s at {:.2}/min",
                    e.servers, e.target_wait_s, e.arrival_per_minute
                ),
                Section::Unavailable { unavailable, .. } => unavailable.clone(),
            };
            let _ = writeln!(
                out,
                "  {:<10} {:>4} {:>8.1} {:>9} {:>10.2} {:>9.1} {:>8.1}  {:<9} {}",
                w.mode,
                w.concurrency,
                w.size_bytes as f64 / 1e6,
                format!("{}/{}", w.processed, w.enqueued),
                w.videos_per_minute,
                w.service_mean_s,
                w.service_p95_s,
                w.queue_verdict,
                erlang
            );
            for step in &w.steps {
                let _ = writeln!(
                    out,
                    "    step {:.2}/min: {} arrived, {} finished in {:.0} s ({:.2}/min), queue {}: {:?}",
                    step.rate_per_minute,
                    step.arrivals,
                    step.completions,
                    step.seconds,
                    step.completed_per_minute,
                    step.queue_verdict,
                    step.judgement
                );
            }
            if let Some(needed) = w.step_needed_s {
                let _ = writeln!(
                    out,
                    "    not enough data: steps saw fewer than {} arrivals; run steps of at least \
                     {needed:.0} s (loadgen run scenario2 --step {needed:.0}s)",
                    capacity_model::confidence::MIN_EVENTS_FOR_RATE
                );
            }
            if let (Some(rate), Some(capacity)) = (w.max_stable_per_minute, w.capacity_per_minute) {
                let _ = writeln!(
                    out,
                    "    stable up to {rate:.2} arrivals/min (queue not growing, at least 10 \
                     arrivals, within the {capacity:.2}/min the slots finish at the measured S)"
                );
            }
        }
    }

    if let Some(cost) = &a.cost {
        cost_block(&mut out, cost);
    }

    for note in &a.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

/// The cost and energy estimates, each with what it is per and the sources once.
pub fn cost_block(out: &mut String, cost: &capacity_model::analysis::CostSection) {
    let b = &cost.basis;
    let _ = writeln!(
        out,
        "\nCost and energy (estimates: {} on demand in {}, prices of {}; energy by {})",
        b.instance_type, b.region, b.prices_date, b.energy_source
    );
    if cost.runs.is_empty() {
        let _ = writeln!(
            out,
            "  no data: no run measured its group's in-service instances"
        );
    }
    let no_data = || "no data".to_string();
    for run in &cost.runs {
        let per = match (run.usd_per_million_requests, run.usd_per_video) {
            (Some(m), _) => format!("${m:.4} per million requests"),
            (_, Some(v)) => format!("${v:.5} per video"),
            _ => "nothing served to price per unit".to_string(),
        };
        let unit = if run.usd_per_video.is_some() {
            "video"
        } else {
            "request"
        };
        let _ = writeln!(
            out,
            "  {}  {:.4} instance-hours over {:.0} s: ${:.5} ({} at this load), {per}; \
             energy {} ({} per {unit}), {}",
            run.run_id,
            run.instance_hours,
            run.hours * 3600.0,
            run.usd,
            run.usd_per_hour
                .map_or_else(no_data, |h| format!("${h:.4}/h")),
            run.energy_kwh
                .map_or_else(no_data, |k| format!("{:.2} Wh", k * 1000.0)),
            run.wh_per_unit
                .map_or_else(no_data, |w| format!("{w:.3e} Wh")),
            run.co2e_kg
                .map_or_else(no_data, |c| format!("{:.2} g CO2e", c * 1000.0)),
        );
    }
    let _ = writeln!(out, "  {}", b.assumptions);
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}
