//! Recommendations derived by rules from the figures. Each names its rule (the templates
//! word it in their language), the values it rests on and the run they came from, so a
//! reader can check every one.

use std::collections::BTreeMap;

use capacity_model::analysis::{Analysis, LittleCheck, Section};
use serde::Serialize;

use crate::Lang;
use crate::wording::{load_unit, point_label};

/// A scale-out slower than this, from breach (or alarm) to in service, is worth shortening.
pub const SLOW_REACTION_S: f64 = 120.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// `test_higher`, `fix_first_stage`, `cpu_bound`, `db_bound`, `queue_bound`, `errors_bound`,
    /// `contention`, `coherency`, `slow_scale_out`, `little_mismatch`, `worker_pool`,
    /// `worker_saturation`, `worker_steps_too_short`.
    pub rule: &'static str,
    /// The figures the rule read, formatted in the report's language, by name.
    pub values: BTreeMap<&'static str, String>,
    /// The run(s) the figures came from.
    pub runs: Vec<String>,
}

fn rec(rule: &'static str, values: &[(&'static str, String)], runs: Vec<String>) -> Recommendation {
    Recommendation {
        rule,
        values: values.iter().cloned().collect(),
        runs,
    }
}

/// The run id a stage label carries ("hold 8 (bc84)") is not needed: the knee's stage
/// points name their run in the label already; the runs behind the capacity are the
/// scenario-1 runs.
fn scenario1_runs(a: &Analysis) -> Vec<String> {
    a.runs
        .iter()
        .filter(|r| r.scenario != "scenario2")
        .map(|r| r.run_id.clone())
        .collect()
}

pub fn recommendations(a: &Analysis, lang: Lang) -> Vec<Recommendation> {
    let f1 = |v: f64| lang.decimal(v, 1);
    let f2 = |v: f64| lang.decimal(v, 2);
    let label = |l: &str| point_label(lang, l);
    let mut out = Vec::new();
    let s1 = scenario1_runs(a);
    if let Section::Available(c) = &a.capacity {
        let k = &c.knee;
        if let (true, Some(last)) = (k.capacity_is_lower_bound, k.last_within_slo()) {
            // The highest load tested and that point's own rate.
            out.push(rec(
                "test_higher",
                &[
                    ("load", f1(last.load)),
                    ("unit", load_unit(lang, c.load_kind).into()),
                    ("rps", f1(last.rps)),
                ],
                s1.clone(),
            ));
        }
        if let Some(b) = k.first_breach()
            && k.last_within_slo().is_none()
        {
            out.push(rec(
                "fix_first_stage",
                &[("stage", label(&b.stage.label)), ("load", f1(b.stage.load))],
                s1.clone(),
            ));
        }
        let mut said: Vec<&str> = Vec::new();
        for d in &k.leading_kpis {
            let rule = if d.kpi.starts_with("cpu_percent:") {
                "cpu_bound"
            } else if d.kpi.starts_with("db_cpu_percent:") {
                "db_bound"
            } else if d.kpi.starts_with("queue_") {
                "queue_bound"
            } else if d.kpi.contains("5xx") || d.kpi == "unhealthy_hosts" {
                "errors_bound"
            } else {
                continue;
            };
            // Several KPIs of one kind (queue depth and queue age) make one recommendation.
            if said.contains(&rule) {
                continue;
            }
            said.push(rule);
            out.push(rec(
                rule,
                &[
                    ("kpi", d.kpi.clone()),
                    ("value", f1(d.value)),
                    ("limit", f1(d.limit.value())),
                    ("stage", label(&d.stage.label)),
                ],
                s1.clone(),
            ));
        }
    }
    if let Section::Available(u) = &a.usl
        && u.fit.r_squared >= capacity_model::analysis::USL_POOR_FIT
    {
        let values = [
            ("sigma", lang.decimal(u.fit.sigma, 4)),
            ("kappa", lang.scientific(u.fit.kappa)),
            (
                "peak",
                u.fit.peak_concurrency.map_or("–".into(), |n| n.to_string()),
            ),
        ];
        if u.fit.sigma > 0.05 && u.fit.contention_constrained {
            out.push(rec("contention", &values, s1.clone()));
        } else if u.fit.coherency_constrained {
            out.push(rec("coherency", &values, s1.clone()));
        }
    }
    for s in &a.scale_outs {
        if let Some(total) = s.total_s
            && total > SLOW_REACTION_S
        {
            out.push(rec(
                "slow_scale_out",
                &[
                    ("group", s.group.clone()),
                    ("total", f1(total)),
                    (
                        "in_service",
                        s.activity_to_in_service_s.map_or("–".into(), f1),
                    ),
                ],
                vec![s.run_id.clone()],
            ));
        }
    }
    let closed: Vec<_> = a
        .little
        .iter()
        .filter_map(|l| match l {
            LittleCheck::Closed { holds, run_id, .. } => Some((holds, run_id)),
            _ => None,
        })
        .collect();
    // The analyzer judged each point; the report only counts its verdicts.
    let failing = closed.iter().filter(|(holds, _)| !**holds).count();
    if !closed.is_empty() && failing * 2 > closed.len() {
        let mut runs: Vec<String> = closed.iter().map(|(_, r)| (*r).clone()).collect();
        runs.dedup();
        out.push(rec(
            "little_mismatch",
            &[
                ("failing", failing.to_string()),
                ("points", closed.len().to_string()),
            ],
            runs,
        ));
    }
    for w in &a.workers {
        // Sizing at the X a closed test measured is circular (arrivals equal capacity there,
        // so M/M/c always asks for one more slot); it is a recommendation only for a target
        // rate the user gave (`analyze --arrival-rate`).
        if let Some(e) = w.erlang.available()
            && a.settings.arrival_per_minute.is_some()
        {
            let slots = w.workers * w.concurrency;
            if e.servers > slots {
                out.push(rec(
                    "worker_pool",
                    &[
                        ("servers", e.servers.to_string()),
                        ("slots", slots.to_string()),
                        ("rate", f2(e.arrival_per_minute)),
                        ("wait", f1(e.target_wait_s)),
                        ("service", f1(w.service_mean_s)),
                    ],
                    vec![w.run_id.clone()],
                ));
            }
        }
        if let Some(needed) = w.step_needed_s {
            out.push(rec(
                "worker_steps_too_short",
                &[
                    ("needed", format!("{needed:.0}")),
                    ("needed_text", lang.decimal(needed, 0)),
                    (
                        "min_arrivals",
                        capacity_model::confidence::MIN_EVENTS_FOR_RATE.to_string(),
                    ),
                ],
                vec![w.run_id.clone()],
            ));
        }
        if let Some(rate) = w.saturated_at_per_minute {
            out.push(rec(
                "worker_saturation",
                &[
                    ("rate", f2(rate)),
                    ("stable", w.max_stable_per_minute.map_or("–".into(), f2)),
                    ("concurrency", w.concurrency.to_string()),
                    ("workers", w.workers.to_string()),
                    ("size_mb", lang.decimal(w.size_bytes as f64 / 1e6, 0)),
                ],
                vec![w.run_id.clone()],
            ));
        }
    }
    out
}
