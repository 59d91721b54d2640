//! The recommendations of an analysis, worded: the analyzer decided them
//! (`capacity_model::advice`); here each becomes its template rule's name and its figures
//! formatted in the report's language, with the runs they came from.

use std::collections::BTreeMap;

use capacity_model::analysis::{Advice, Analysis, Bound};
use serde::Serialize;

use crate::Lang;
use crate::wording::{load_unit, point_label};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WordedRecommendation {
    /// `test_higher`, `fix_first_stage`, `cpu_bound`, `db_bound`, `queue_bound`, `errors_bound`,
    /// `contention`, `coherency`, `slow_scale_out`, `little_mismatch`, `worker_pool`,
    /// `worker_saturation`, `worker_steps_too_short`: the template's branch.
    pub rule: &'static str,
    /// The figures the rule read, formatted in the report's language, by name.
    pub values: BTreeMap<&'static str, String>,
    /// The run(s) the figures came from.
    pub runs: Vec<String>,
}

/// The analysis's recommendations (`capacity_model::advice::of`), worded in `lang`; the worker's
/// concurrency is worded with the resource changes (`narrative`), not here.
pub fn recommendations(a: &Analysis, lang: Lang) -> Vec<WordedRecommendation> {
    capacity_model::advice::of(a)
        .into_iter()
        .filter_map(|r| {
            let (rule, values) = worded(&r.advice, lang)?;
            Some(WordedRecommendation {
                rule,
                values: values.into_iter().collect(),
                runs: r.runs,
            })
        })
        .collect()
}

fn worded(advice: &Advice, lang: Lang) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let f1 = |v: f64| lang.decimal(v, 1);
    let f2 = |v: f64| lang.decimal(v, 2);
    let dash = || "–".to_owned();
    Some(match advice {
        Advice::TestHigher {
            load,
            load_kind,
            rps,
        } => (
            "test_higher",
            vec![
                ("load", f1(*load)),
                ("unit", load_unit(lang, *load_kind).into()),
                ("rps", f1(*rps)),
            ],
        ),
        Advice::FixFirstStage { stage, load } => (
            "fix_first_stage",
            vec![("stage", point_label(lang, stage)), ("load", f1(*load))],
        ),
        Advice::ResourceBound {
            bound,
            kpi,
            value,
            limit,
            stage,
        } => (
            match bound {
                Bound::Cpu => "cpu_bound",
                Bound::Db => "db_bound",
                Bound::Queue => "queue_bound",
                Bound::Errors => "errors_bound",
            },
            vec![
                ("kpi", kpi.clone()),
                ("value", f1(*value)),
                ("limit", f1(*limit)),
                ("stage", point_label(lang, stage)),
            ],
        ),
        Advice::Contention { sigma, kappa, peak } => {
            ("contention", usl_figures(lang, *sigma, *kappa, *peak))
        }
        Advice::Coherency { sigma, kappa, peak } => {
            ("coherency", usl_figures(lang, *sigma, *kappa, *peak))
        }
        Advice::SlowScaleOut {
            group,
            total_s,
            in_service_s,
        } => (
            "slow_scale_out",
            vec![
                ("group", group.clone()),
                ("total", f1(*total_s)),
                ("in_service", in_service_s.map_or_else(dash, f1)),
            ],
        ),
        Advice::LittleMismatch { failing, points } => (
            "little_mismatch",
            vec![
                ("failing", failing.to_string()),
                ("points", points.to_string()),
            ],
        ),
        Advice::WorkerPool {
            servers,
            slots,
            arrival_per_minute,
            target_wait_s,
            service_mean_s,
        } => (
            "worker_pool",
            vec![
                ("servers", servers.to_string()),
                ("slots", slots.to_string()),
                ("rate", f2(*arrival_per_minute)),
                ("wait", f1(*target_wait_s)),
                ("service", f1(*service_mean_s)),
            ],
        ),
        Advice::WorkerStepsTooShort {
            needed_s,
            min_arrivals,
        } => (
            "worker_steps_too_short",
            vec![
                ("needed", format!("{needed_s:.0}")),
                ("needed_text", lang.decimal(*needed_s, 0)),
                ("min_arrivals", min_arrivals.to_string()),
            ],
        ),
        Advice::WorkerSaturation {
            saturated_per_minute,
            max_stable_per_minute,
            workers,
            concurrency,
            size_bytes,
        } => (
            "worker_saturation",
            vec![
                ("rate", f2(*saturated_per_minute)),
                ("stable", max_stable_per_minute.map_or_else(dash, f2)),
                ("concurrency", concurrency.to_string()),
                ("workers", workers.to_string()),
                ("size_mb", lang.decimal(*size_bytes as f64 / 1e6, 0)),
            ],
        ),
        Advice::WorkerConcurrency { .. } => return None,
    })
}

/// The USL's coefficients and its peak, as the contention and coherency rules quote them.
fn usl_figures(
    lang: Lang,
    sigma: f64,
    kappa: f64,
    peak: Option<u64>,
) -> Vec<(&'static str, String)> {
    vec![
        ("sigma", lang.decimal(sigma, 4)),
        ("kappa", lang.scientific(kappa)),
        ("peak", peak.map_or("–".into(), |n| n.to_string())),
    ]
}
