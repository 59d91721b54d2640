//! Recommendations: what the figures of an [`Analysis`] call for, decided here by rule so
//! the analyzer stores them in `analysis.json` (their types are in [`crate::analysis`]) and
//! a report only words them. Each names the figures it rests on and the runs they came
//! from, so a reader can check every one.

use crate::analysis::{
    Advice, Analysis, Bound, ConcurrencyPoint, ConcurrencyVerdict, LittleCheck, Recommendation,
    Section, WorkerCell,
};
use crate::confidence::MIN_EVENTS_FOR_RATE;

/// A scale-out slower than this, from breach (or alarm) to in service, is worth shortening.
pub const SLOW_REACTION_S: f64 = 120.0;

/// σ above this, with contention the USL's limit, is worth naming as the bottleneck.
const CONTENTION_WORTH_NAMING: f64 = 0.05;

/// Below this gain in throughput, more worker concurrency is not worth it.
pub const CONCURRENCY_GAIN: f64 = 0.10;

/// The recommendations of `a`: the ones the analyzer stored, or for an analysis written
/// before they were stored, these rules applied to its figures.
pub fn of(a: &Analysis) -> Vec<Recommendation> {
    a.recommendations.clone().unwrap_or_else(|| recommend(a))
}

fn rec(advice: Advice, runs: Vec<String>) -> Recommendation {
    Recommendation { advice, runs }
}

/// Every recommendation `a`'s figures call for, in the report's order: capacity, USL,
/// scaling, Little's law, workers.
pub fn recommend(a: &Analysis) -> Vec<Recommendation> {
    let mut out = Vec::new();
    // The knee's stages name their run in their label; the runs behind the capacity are
    // the scenario-1 runs.
    let scenario1: Vec<String> = a
        .runs
        .iter()
        .filter(|r| r.scenario != "scenario2")
        .map(|r| r.run_id.clone())
        .collect();
    if let Section::Available(c) = &a.capacity {
        let k = &c.knee;
        if let (true, Some(last)) = (k.capacity_is_lower_bound, k.last_within_slo()) {
            let advice = Advice::TestHigher {
                load: last.load,
                load_kind: c.load_kind,
                rps: last.rps,
            };
            out.push(rec(advice, scenario1.clone()));
        }
        if let Some(b) = k.first_breach()
            && k.last_within_slo().is_none()
        {
            let advice = Advice::FixFirstStage {
                stage: b.stage.label.clone(),
                load: b.stage.load,
            };
            out.push(rec(advice, scenario1.clone()));
        }
        let mut said: Vec<Bound> = Vec::new();
        for d in &k.leading_kpis {
            // Several KPIs of one kind (queue depth and queue age) make one recommendation.
            let Some(bound) = Bound::of_kpi(&d.kpi).filter(|b| !said.contains(b)) else {
                continue;
            };
            said.push(bound);
            let advice = Advice::ResourceBound {
                bound,
                kpi: d.kpi.clone(),
                value: d.value,
                limit: d.limit.value(),
                stage: d.stage.label.clone(),
            };
            out.push(rec(advice, scenario1.clone()));
        }
    }
    if let Section::Available(u) = &a.usl
        && !u.fits_poorly()
    {
        let (sigma, kappa, peak) = (u.fit.sigma, u.fit.kappa, u.fit.peak_concurrency);
        if sigma > CONTENTION_WORTH_NAMING && u.fit.contention_constrained {
            out.push(rec(
                Advice::Contention { sigma, kappa, peak },
                scenario1.clone(),
            ));
        } else if u.fit.coherency_constrained {
            out.push(rec(
                Advice::Coherency { sigma, kappa, peak },
                scenario1.clone(),
            ));
        }
    }
    for s in &a.scale_outs {
        if let Some(total_s) = s.total_s.filter(|total| *total > SLOW_REACTION_S) {
            let advice = Advice::SlowScaleOut {
                group: s.group.clone(),
                total_s,
                in_service_s: s.activity_to_in_service_s,
            };
            out.push(rec(advice, vec![s.run_id.clone()]));
        }
    }
    let closed: Vec<(bool, &String)> = a
        .little
        .iter()
        .filter_map(|l| match l {
            LittleCheck::Closed { holds, run_id, .. } => Some((*holds, run_id)),
            _ => None,
        })
        .collect();
    let failing = closed.iter().filter(|(holds, _)| !holds).count();
    if !closed.is_empty() && failing * 2 > closed.len() {
        let mut runs: Vec<String> = closed.iter().map(|(_, r)| (*r).clone()).collect();
        runs.dedup();
        let advice = Advice::LittleMismatch {
            failing,
            points: closed.len(),
        };
        out.push(rec(advice, runs));
    }
    for w in &a.workers {
        let runs = || vec![w.run_id.clone()];
        // Sizing at the X a closed test measured is circular (arrivals equal capacity there,
        // so M/M/c always asks for one more slot); it is a recommendation only for a target
        // rate the user gave (`analyze --arrival-rate`).
        if let Some(e) = w.erlang.available()
            && a.settings.arrival_per_minute.is_some()
        {
            let slots = w.workers * w.concurrency;
            if e.servers > slots {
                let advice = Advice::WorkerPool {
                    servers: e.servers,
                    slots,
                    arrival_per_minute: e.arrival_per_minute,
                    target_wait_s: e.target_wait_s,
                    service_mean_s: w.service_mean_s,
                };
                out.push(rec(advice, runs()));
            }
        }
        if let Some(needed_s) = w.step_needed_s {
            let advice = Advice::WorkerStepsTooShort {
                needed_s,
                min_arrivals: MIN_EVENTS_FOR_RATE,
            };
            out.push(rec(advice, runs()));
        }
        if let Some(saturated_per_minute) = w.saturated_at_per_minute {
            let advice = Advice::WorkerSaturation {
                saturated_per_minute,
                max_stable_per_minute: w.max_stable_per_minute,
                workers: w.workers,
                concurrency: w.concurrency,
                size_bytes: w.size_bytes,
            };
            out.push(rec(advice, runs()));
        }
    }
    out.extend(worker_concurrency(&a.workers));
    out
}

/// Per video size with a sustained run that processed something: the lowest and the highest
/// concurrency measured (the first run of each), compared.
fn worker_concurrency(workers: &[WorkerCell]) -> Vec<Recommendation> {
    let mut sizes: Vec<u64> = workers.iter().map(|w| w.size_bytes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let point = |w: &WorkerCell| ConcurrencyPoint {
        concurrency: w.concurrency,
        videos_per_minute: w.videos_per_minute,
        worker_cpu_percent: w.worker_cpu_percent,
        run_id: w.run_id.clone(),
    };
    let mut out = Vec::new();
    for size_bytes in sizes {
        let mut cells: Vec<&WorkerCell> = workers
            .iter()
            .filter(|w| w.size_bytes == size_bytes && w.mode == "sustained" && w.processed > 0)
            .collect();
        cells.sort_by_key(|w| w.concurrency);
        cells.dedup_by_key(|w| w.concurrency);
        let (Some(low), Some(high)) = (cells.first(), cells.last()) else {
            continue;
        };
        let (gain, verdict, runs) = if low.concurrency == high.concurrency {
            (
                0.0,
                ConcurrencyVerdict::MeasureMore,
                vec![low.run_id.clone()],
            )
        } else {
            let gain = high.videos_per_minute / low.videos_per_minute - 1.0;
            let verdict = if gain < CONCURRENCY_GAIN {
                ConcurrencyVerdict::Keep
            } else {
                ConcurrencyVerdict::Raise
            };
            (gain, verdict, vec![low.run_id.clone(), high.run_id.clone()])
        };
        let advice = Advice::WorkerConcurrency {
            size_bytes,
            low: point(low),
            high: point(high),
            gain,
            verdict,
        };
        out.push(rec(advice, runs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kpi_names_the_resource_it_measures() {
        let cases = [
            ("cpu_percent:web", Some(Bound::Cpu)),
            ("db_cpu_percent:aforo-db", Some(Bound::Db)),
            ("queue_age_s", Some(Bound::Queue)),
            ("queue_visible", Some(Bound::Queue)),
            ("target_5xx", Some(Bound::Errors)),
            ("unhealthy_hosts", Some(Bound::Errors)),
            ("target_p95_ms", None),
        ];
        for (kpi, bound) in cases {
            assert_eq!(Bound::of_kpi(kpi), bound, "{kpi}");
        }
    }

    /// The stored shape: the rule's name beside its figures, as the templates read it.
    #[test]
    fn a_recommendation_serializes_with_its_rule_beside_its_figures() {
        let r = Recommendation {
            advice: Advice::LittleMismatch {
                failing: 3,
                points: 4,
            },
            runs: vec!["r1".into()],
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rule": "little_mismatch", "failing": 3, "points": 4, "runs": ["r1"]})
        );
        assert_eq!(serde_json::from_value::<Recommendation>(json).unwrap(), r);
    }

    fn sustained(run_id: &str, concurrency: u32, videos_per_minute: f64) -> WorkerCell {
        use crate::analysis::{ErlangSizing, Missing};
        let erlang = Section::<ErlangSizing>::missing(Missing::NoTaskFinished);
        serde_json::from_value(serde_json::json!({
            "run_id": run_id, "mode": "sustained", "size_bytes": 50_000_000,
            "concurrency": concurrency, "workers": 1, "enqueued": 10, "processed": 10,
            "failed": 0, "unfinished": 0, "duration_s": 60.0,
            "videos_per_minute": videos_per_minute, "megabytes_per_minute": 0.0,
            "service_mean_s": 1.0, "service_p50_s": 1.0, "service_p95_s": 1.0,
            "wait_mean_s": 0.0, "queue_verdict": "steady", "worker_cpu_percent": 90.0,
            "erlang": erlang,
        }))
        .expect("a worker cell")
    }

    fn verdicts(workers: &[WorkerCell]) -> Vec<(u32, u32, ConcurrencyVerdict)> {
        worker_concurrency(workers)
            .into_iter()
            .map(|r| match r.advice {
                Advice::WorkerConcurrency {
                    low, high, verdict, ..
                } => (low.concurrency, high.concurrency, verdict),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// The lowest and highest concurrency measured are compared; 10 % more throughput is
    /// worth the concurrency, less is not; one concurrency alone asks for more.
    #[test]
    fn a_workers_concurrency_is_raised_only_for_a_gain_worth_it() {
        let one = [sustained("a", 1, 10.0)];
        assert_eq!(verdicts(&one), [(1, 1, ConcurrencyVerdict::MeasureMore)]);
        let flat = [
            sustained("c4", 4, 10.9),
            sustained("c1", 1, 10.0),
            sustained("c2", 2, 12.0),
        ];
        assert_eq!(verdicts(&flat), [(1, 4, ConcurrencyVerdict::Keep)]);
        let gaining = [sustained("c1", 1, 10.0), sustained("c4", 4, 11.0)];
        assert_eq!(verdicts(&gaining), [(1, 4, ConcurrencyVerdict::Raise)]);
        let mut idle = sustained("c2", 2, 30.0);
        idle.processed = 0;
        assert_eq!(
            verdicts(&[sustained("c1", 1, 10.0), idle]),
            [(1, 1, ConcurrencyVerdict::MeasureMore)],
            "a run that processed nothing measured nothing"
        );
    }
}
