//! The knee: the highest load that still meets the SLO, the first that does not, and the
//! server metric that warned first.
//!
//! Input is the stages of one ramp in the order they ran, each summarised by its load
//! level, throughput, p95 latency, error ratio and any server KPIs (CPU, queue age, 5xx
//! from the load balancer, unhealthy hosts…). [`find_knee`] walks them:
//!
//! - The **first breach** is the first stage whose p95 or error ratio exceeds the [`Slo`]
//!   (a value equal to the bound meets it). Later stages are not consulted for capacity even
//!   if they happen to pass again: a system that failed at a lower load is not trusted at a
//!   higher one.
//! - The **capacity** is the last stage before the first breach. When no stage breaches, it
//!   is the last stage, and only a lower bound: the real limit lies further out. When the
//!   very first stage breaches, the capacity is zero.
//! - A **KPI degradation** is the first stage at which a KPI exceeds its limit (see
//!   [`KpiRules`]). The **leading KPIs** are those that degraded earliest, at or before the
//!   breach: the metrics to alarm on, because they moved first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why knee detection was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KneeError {
    #[error("knee detection needs at least one stage, got none")]
    NoStages,

    #[error("SLO {field} must be {requirement}, got {value}")]
    InvalidSlo {
        field: &'static str,
        requirement: &'static str,
        value: f64,
    },

    #[error(
        "KPI rule {name:?} must be a finite number {requirement}, got {value} (thresholds are \
         upper limits; the default rise is a fraction, 0.5 for 50 %)"
    )]
    InvalidKpiRule {
        name: String,
        requirement: &'static str,
        value: f64,
    },

    #[error("stage {index} ({label:?}) has {field} = {value}; it must be {requirement}")]
    InvalidStage {
        index: usize,
        label: String,
        field: String,
        requirement: &'static str,
        value: f64,
    },

    #[error(
        "stage {index} ({label:?}) has no latency and its error ratio {error_ratio} is within \
         the SLO, so it can be judged neither way; leave stages without latency out"
    )]
    Unjudgeable {
        index: usize,
        label: String,
        error_ratio: f64,
    },

    #[error(
        "stage {index} ({label:?}) has load {load}, below the previous stage's {previous}; \
         pass the stages of one ramp in the order they ran, without ramp-down stages"
    )]
    LoadDecreases {
        index: usize,
        label: String,
        load: f64,
        previous: f64,
    },
}

/// The service-level objective a stage must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Highest acceptable 95th-percentile latency, in milliseconds.
    pub p95_ms: f64,
    /// Highest acceptable share of failed requests, 0 to 1 (0.01 for 1 %).
    pub max_error_ratio: f64,
}

impl Slo {
    /// The course's SLO, every tool's default: p95 ≤ 1 s on every endpoint, errors ≤ 5 %.
    pub const COURSE: Slo = Slo {
        p95_ms: 1000.0,
        max_error_ratio: 0.05,
    };

    /// The bounds a load point with these figures breaks; a missing latency breaks none
    /// (the caller decides what a point without one means).
    pub fn violations(&self, p95_ms: Option<f64>, error_ratio: f64) -> Vec<SloViolation> {
        SloBounds::from(self).violations(p95_ms, Some(error_ratio))
    }

    /// Whether a load point holds the SLO: it has a latency, and breaks no bound.
    pub fn holds(&self, p95_ms: Option<f64>, error_ratio: f64) -> bool {
        p95_ms.is_some() && self.violations(p95_ms, error_ratio).is_empty()
    }
}

/// "p95 ≤ 1000 ms, errors ≤ 5%": how the terminal and the gate name an SLO.
impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p95 ≤ {} ms, errors ≤ {}",
            self.p95_ms,
            rundir::percent_text(self.max_error_ratio)
        )
    }
}

/// An SLO's bounds as a file gives them, each optional: an SLO file's, or one endpoint's
/// overrides. A bound left out is not judged, or comes from a fallback ([`SloBounds::or`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SloBounds {
    /// Highest acceptable 95th-percentile latency, in milliseconds.
    pub p95_ms: Option<f64>,
    /// Highest acceptable share of failed requests, 0 to 1.
    pub max_error_ratio: Option<f64>,
}

impl From<&Slo> for SloBounds {
    fn from(slo: &Slo) -> SloBounds {
        SloBounds {
            p95_ms: Some(slo.p95_ms),
            max_error_ratio: Some(slo.max_error_ratio),
        }
    }
}

impl SloBounds {
    /// These bounds, each one left out taken from `fallback`.
    pub fn or(self, fallback: SloBounds) -> SloBounds {
        SloBounds {
            p95_ms: self.p95_ms.or(fallback.p95_ms),
            max_error_ratio: self.max_error_ratio.or(fallback.max_error_ratio),
        }
    }

    /// These bounds over `slo`: a complete SLO.
    pub fn over(self, slo: &Slo) -> Slo {
        Slo {
            p95_ms: self.p95_ms.unwrap_or(slo.p95_ms),
            max_error_ratio: self.max_error_ratio.unwrap_or(slo.max_error_ratio),
        }
    }

    /// The bounds these figures break; a bound or a figure left out breaks none.
    pub fn violations(&self, p95_ms: Option<f64>, error_ratio: Option<f64>) -> Vec<SloViolation> {
        [
            (SloBound::P95Latency, self.p95_ms, p95_ms),
            (SloBound::ErrorRatio, self.max_error_ratio, error_ratio),
        ]
        .into_iter()
        .filter_map(|(bound, limit, measured)| Some((bound, limit?, measured?)))
        .filter(|&(_, limit, measured)| measured > limit)
        .map(|(bound, limit, measured)| SloViolation {
            bound,
            limit,
            measured,
            over_by: measured - limit,
            over_by_fraction: (limit > 0.0).then(|| (measured - limit) / limit),
        })
        .collect()
    }
}

/// One stage of a ramp, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// E.g. "hold 100".
    pub label: String,
    /// Users (closed model) or arrivals per second (open model); one kind per ramp.
    pub load: f64,
    /// Completed requests per second.
    pub rps: f64,
    /// None when no request of the stage recorded a latency (all refused at connect): such
    /// a stage can only be judged by its errors, and must break the error bound.
    pub p95_ms: Option<f64>,
    /// Failed requests / all requests, 0 to 1.
    pub error_ratio: f64,
    /// Requests the stage's figures come from.
    #[serde(default)]
    pub samples: u64,
    /// Server KPIs averaged (or maxed) over the stage, by name, e.g. `cpu_percent`,
    /// `queue_age_s`, `target_5xx`, `unhealthy_hosts`. Higher must mean worse. A KPI missing
    /// from a stage is simply not judged there.
    #[serde(default)]
    pub kpis: BTreeMap<String, f64>,
}

/// How to decide that a KPI has degraded. KPIs are taken to be higher-is-worse.
///
/// A KPI with an entry in `thresholds` degrades at the first stage where it exceeds that
/// value (an absolute limit such as 80 % CPU, or 0 for "any 5xx"). Any other KPI degrades at
/// the first stage where it exceeds its **baseline**, its value at the first stage that
/// reports it, by more than `default_rise` (a fraction: 0.5 means more than 50 % above). A
/// baseline of zero makes any positive value a degradation, which suits counts like
/// unhealthy hosts or 5xx responses.
///
/// The rise rule suits KPIs that should stay flat while the system keeps up (queue age,
/// 5xx, unhealthy hosts). Utilisation such as CPU rises with load by design and would
/// "degrade" at the second stage; give it a threshold (e.g. 80), as for any KPI that idles
/// at zero but may rise harmlessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRules {
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    pub default_rise: f64,
}

impl Default for KpiRules {
    /// No thresholds; a rise of more than 50 % over the first stage.
    fn default() -> Self {
        Self {
            thresholds: BTreeMap::new(),
            default_rise: 0.5,
        }
    }
}

/// Which stage, by position and by what was measured there: every figure of a claim about
/// a stage comes from this one record, so a load is never quoted with another stage's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePoint {
    /// Position in the input, from 0.
    pub index: usize,
    pub label: String,
    pub load: f64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub error_ratio: f64,
    /// Requests the figures come from.
    pub samples: u64,
}

/// The bound of the SLO a stage broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloBound {
    P95Latency,
    ErrorRatio,
}

/// One broken bound and by how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloViolation {
    pub bound: SloBound,
    /// The bound (milliseconds or a ratio).
    pub limit: f64,
    pub measured: f64,
    /// measured − limit, in the bound's unit.
    pub over_by: f64,
    /// over_by / limit; absent when the limit is 0 (e.g. no errors allowed).
    pub over_by_fraction: Option<f64>,
}

/// The first stage that broke the SLO and every bound it broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloBreach {
    pub stage: StagePoint,
    pub violations: Vec<SloViolation>,
}

/// Where the ramp stands against the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KneeOutcome {
    /// Every stage met the SLO; the knee lies beyond the last stage, so the capacity found
    /// is a lower bound.
    WithinSloThroughout { last_stage: StagePoint },
    /// The SLO held up to `last_within_slo` and broke at `first_breach`.
    Knee {
        last_within_slo: StagePoint,
        first_breach: SloBreach,
    },
    /// Even the first stage broke the SLO: no tested load is acceptable, capacity zero.
    /// Start the ramp lower, or look for a fault.
    BreachedAtFirstStage { first_breach: SloBreach },
}

/// How a KPI's limit was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KpiLimit {
    /// From [`KpiRules::thresholds`].
    Threshold { limit: f64 },
    /// From [`KpiRules::default_rise`]: baseline × (1 + rise), the baseline being the KPI's
    /// value at the first stage that reports it (`baseline_stage`).
    RiseOverBaseline {
        baseline: f64,
        baseline_stage: String,
        rise: f64,
        limit: f64,
    },
}

impl KpiLimit {
    pub fn value(&self) -> f64 {
        match *self {
            KpiLimit::Threshold { limit } | KpiLimit::RiseOverBaseline { limit, .. } => limit,
        }
    }
}

/// The first stage at which one KPI exceeded its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiDegradation {
    pub kpi: String,
    pub stage: StagePoint,
    pub value: f64,
    pub limit: KpiLimit,
}

/// What [`find_knee`] found; goes into `analysis.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KneeReport {
    pub outcome: KneeOutcome,
    /// The stage within SLO with the highest throughput (not always the last one: throughput
    /// can flatten or fall before latency breaks). None when the first stage breached.
    pub best_within_slo: Option<StagePoint>,
    /// True when no stage breached: the capacity is at least what was found.
    pub capacity_is_lower_bound: bool,
    /// Every KPI that degraded, at its first degraded stage, ordered by stage then name.
    pub kpi_degradations: Vec<KpiDegradation>,
    /// The KPIs that degraded earliest, at or before the first breach (at any stage when
    /// nothing breached: an early warning of where the knee will be). Several when they
    /// crossed in the same stage; empty when none degraded in time.
    pub leading_kpis: Vec<KpiDegradation>,
}

impl KneeReport {
    /// The first breach, if any.
    pub fn first_breach(&self) -> Option<&SloBreach> {
        match &self.outcome {
            KneeOutcome::WithinSloThroughout { .. } => None,
            KneeOutcome::Knee { first_breach, .. }
            | KneeOutcome::BreachedAtFirstStage { first_breach } => Some(first_breach),
        }
    }

    /// The highest load within SLO (the last stage before the breach); None when the first
    /// stage breached.
    pub fn max_load_within_slo(&self) -> Option<f64> {
        self.last_within_slo().map(|stage| stage.load)
    }

    /// The highest throughput within SLO, at [`KneeReport::best_within_slo`].
    pub fn max_rps_within_slo(&self) -> Option<f64> {
        self.best_within_slo.as_ref().map(|stage| stage.rps)
    }

    /// The last stage within SLO, if any.
    pub fn last_within_slo(&self) -> Option<&StagePoint> {
        match &self.outcome {
            KneeOutcome::WithinSloThroughout { last_stage } => Some(last_stage),
            KneeOutcome::Knee {
                last_within_slo, ..
            } => Some(last_within_slo),
            KneeOutcome::BreachedAtFirstStage { .. } => None,
        }
    }
}

/// Finds the knee of `stages` (one ramp, in order, load never decreasing) against `slo`,
/// judging KPIs by `rules`. See the module documentation for the rules.
pub fn find_knee(stages: &[Stage], slo: &Slo, rules: &KpiRules) -> Result<KneeReport, KneeError> {
    validate(stages, slo, rules)?;

    let breach_index = stages
        .iter()
        .position(|stage| !slo.violations(stage.p95_ms, stage.error_ratio).is_empty());
    let outcome = match breach_index {
        None => KneeOutcome::WithinSloThroughout {
            last_stage: point(stages, stages.len() - 1),
        },
        Some(0) => KneeOutcome::BreachedAtFirstStage {
            first_breach: breach(stages, 0, slo),
        },
        Some(index) => KneeOutcome::Knee {
            last_within_slo: point(stages, index - 1),
            first_breach: breach(stages, index, slo),
        },
    };
    let within = &stages[..breach_index.unwrap_or(stages.len())];
    // The highest rate; of equal rates, the lower load (the same work for less).
    let best_within_slo = within
        .iter()
        .enumerate()
        .rev()
        .max_by(|(_, a), (_, b)| a.rps.total_cmp(&b.rps))
        .map(|(index, _)| point(stages, index));

    let kpi_degradations = kpi_degradations(stages, rules);
    let horizon = breach_index.unwrap_or(usize::MAX);
    let earliest = kpi_degradations
        .iter()
        .map(|degradation| degradation.stage.index)
        .filter(|&index| index <= horizon)
        .min();
    let leading_kpis = kpi_degradations
        .iter()
        .filter(|degradation| Some(degradation.stage.index) == earliest)
        .cloned()
        .collect();

    Ok(KneeReport {
        outcome,
        best_within_slo,
        capacity_is_lower_bound: breach_index.is_none(),
        kpi_degradations,
        leading_kpis,
    })
}

fn point(stages: &[Stage], index: usize) -> StagePoint {
    let stage = &stages[index];
    StagePoint {
        index,
        label: stage.label.clone(),
        load: stage.load,
        rps: stage.rps,
        p95_ms: stage.p95_ms,
        error_ratio: stage.error_ratio,
        samples: stage.samples,
    }
}

fn breach(stages: &[Stage], index: usize, slo: &Slo) -> SloBreach {
    SloBreach {
        stage: point(stages, index),
        violations: slo.violations(stages[index].p95_ms, stages[index].error_ratio),
    }
}

/// Each KPI's first stage above its limit, ordered by stage index, then name.
fn kpi_degradations(stages: &[Stage], rules: &KpiRules) -> Vec<KpiDegradation> {
    let names: std::collections::BTreeSet<&String> =
        stages.iter().flat_map(|stage| stage.kpis.keys()).collect();
    let mut found: Vec<KpiDegradation> = names
        .into_iter()
        .filter_map(|name| {
            let mut series = stages
                .iter()
                .enumerate()
                .filter_map(|(index, stage)| stage.kpis.get(name).map(|&value| (index, value)))
                .peekable();
            let limit = match rules.thresholds.get(name) {
                Some(&limit) => KpiLimit::Threshold { limit },
                None => {
                    let &(at, baseline) = series.peek()?;
                    KpiLimit::RiseOverBaseline {
                        baseline,
                        baseline_stage: stages[at].label.clone(),
                        rise: rules.default_rise,
                        limit: baseline * (1.0 + rules.default_rise),
                    }
                }
            };
            series
                .find(|&(_, value)| value > limit.value())
                .map(|(index, value)| KpiDegradation {
                    kpi: name.clone(),
                    stage: point(stages, index),
                    value,
                    limit,
                })
        })
        .collect();
    found.sort_by(|a, b| (a.stage.index, &a.kpi).cmp(&(b.stage.index, &b.kpi)));
    found
}

fn validate(stages: &[Stage], slo: &Slo, rules: &KpiRules) -> Result<(), KneeError> {
    if stages.is_empty() {
        return Err(KneeError::NoStages);
    }
    if !(slo.p95_ms.is_finite() && slo.p95_ms > 0.0) {
        return Err(KneeError::InvalidSlo {
            field: "p95_ms",
            requirement: "a finite number of milliseconds > 0",
            value: slo.p95_ms,
        });
    }
    if !(0.0..=1.0).contains(&slo.max_error_ratio) {
        return Err(KneeError::InvalidSlo {
            field: "max_error_ratio",
            requirement: "between 0 and 1 (0.01 for 1 %)",
            value: slo.max_error_ratio,
        });
    }
    if !(rules.default_rise.is_finite() && rules.default_rise >= 0.0) {
        return Err(KneeError::InvalidKpiRule {
            name: "default_rise".to_owned(),
            requirement: "≥ 0",
            value: rules.default_rise,
        });
    }
    if let Some((name, &value)) = rules.thresholds.iter().find(|(_, v)| !v.is_finite()) {
        return Err(KneeError::InvalidKpiRule {
            name: name.clone(),
            requirement: "(any sign)",
            value,
        });
    }

    let mut previous: Option<f64> = None;
    for (index, stage) in stages.iter().enumerate() {
        let invalid = |field: &str, requirement, value| KneeError::InvalidStage {
            index,
            label: stage.label.clone(),
            field: field.to_owned(),
            requirement,
            value,
        };
        for (field, value) in [
            ("load", stage.load),
            ("rps", stage.rps),
            ("p95_ms", stage.p95_ms.unwrap_or(0.0)),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(field, "a finite number ≥ 0", value));
            }
        }
        if !(0.0..=1.0).contains(&stage.error_ratio) {
            return Err(invalid("error_ratio", "between 0 and 1", stage.error_ratio));
        }
        if let Some((name, &value)) = stage.kpis.iter().find(|(_, v)| !v.is_finite()) {
            return Err(invalid(&format!("KPI {name}"), "finite", value));
        }
        if stage.p95_ms.is_none() && stage.error_ratio <= slo.max_error_ratio {
            return Err(KneeError::Unjudgeable {
                index,
                label: stage.label.clone(),
                error_ratio: stage.error_ratio,
            });
        }
        if let Some(previous) = previous
            && stage.load < previous
        {
            return Err(KneeError::LoadDecreases {
                index,
                label: stage.label.clone(),
                load: stage.load,
                previous,
            });
        }
        previous = Some(stage.load);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLO: Slo = Slo {
        p95_ms: 500.0,
        max_error_ratio: 0.01,
    };

    fn stage(load: f64, rps: f64, p95_ms: f64, error_ratio: f64) -> Stage {
        Stage {
            label: format!("hold {load}"),
            load,
            rps,
            p95_ms: Some(p95_ms),
            error_ratio,
            samples: (rps * 60.0) as u64,
            kpis: BTreeMap::new(),
        }
    }

    fn with_kpis(mut stage: Stage, kpis: &[(&str, f64)]) -> Stage {
        stage.kpis = kpis.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        stage
    }

    #[test]
    fn a_point_holds_the_slo_at_its_bounds_and_not_past_them_or_without_a_latency() {
        let bound = SLO.p95_ms;
        assert!(SLO.holds(Some(bound), SLO.max_error_ratio));
        assert!(!SLO.holds(Some(bound + 0.1), 0.0));
        assert!(!SLO.holds(Some(1.0), SLO.max_error_ratio + 0.001));
        assert!(!SLO.holds(None, 0.0), "no latency, no claim");
        let both = SLO.violations(Some(bound * 2.0), 1.0);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].over_by_fraction, Some(1.0));
    }

    /// Flat latency up to 60 users, then a hockey stick; CPU climbs first, then queue age,
    /// 5xx only once it is too late.
    fn hockey_stick() -> Vec<Stage> {
        let rows = [
            // load, rps, p95, errors, cpu, queue age, 5xx
            (10.0, 100.0, 120.0, 0.0, 20.0, 1.0, 0.0),
            (20.0, 200.0, 125.0, 0.0, 35.0, 1.0, 0.0),
            (30.0, 300.0, 130.0, 0.0, 50.0, 1.2, 0.0),
            (40.0, 390.0, 150.0, 0.0, 70.0, 1.4, 0.0),
            (50.0, 470.0, 220.0, 0.002, 85.0, 2.5, 0.0),
            (60.0, 520.0, 420.0, 0.004, 95.0, 6.0, 0.0),
            (70.0, 515.0, 1400.0, 0.03, 99.0, 30.0, 12.0),
            (80.0, 505.0, 3900.0, 0.12, 99.0, 90.0, 60.0),
        ];
        rows.iter()
            .map(|&(load, rps, p95, errors, cpu, age, fivexx)| {
                with_kpis(
                    stage(load, rps, p95, errors),
                    &[
                        ("cpu_percent", cpu),
                        ("queue_age_s", age),
                        ("target_5xx", fivexx),
                    ],
                )
            })
            .collect()
    }

    #[test]
    fn finds_the_knee_of_a_hockey_stick() {
        let mut rules = KpiRules::default();
        rules.thresholds.insert("cpu_percent".to_owned(), 80.0);
        let report = find_knee(&hockey_stick(), &SLO, &rules).unwrap();

        let KneeOutcome::Knee {
            last_within_slo,
            first_breach,
        } = &report.outcome
        else {
            panic!("expected a knee, got {:?}", report.outcome);
        };
        assert_eq!(last_within_slo.index, 5);
        assert_eq!(last_within_slo.load, 60.0);
        assert_eq!(first_breach.stage.index, 6);
        assert_eq!(first_breach.stage.label, "hold 70");
        // Both bounds broke: p95 by 900 ms (180 %), errors by 0.02 (200 %).
        let bounds: Vec<_> = first_breach.violations.iter().map(|v| v.bound).collect();
        assert_eq!(bounds, [SloBound::P95Latency, SloBound::ErrorRatio]);
        let p95 = &first_breach.violations[0];
        assert_eq!(
            (p95.limit, p95.measured, p95.over_by),
            (500.0, 1400.0, 900.0)
        );
        assert!((p95.over_by_fraction.unwrap() - 1.8).abs() < 1e-12);
        assert!((first_breach.violations[1].over_by - 0.02).abs() < 1e-12);

        assert_eq!(report.max_load_within_slo(), Some(60.0));
        assert_eq!(report.max_rps_within_slo(), Some(520.0));
        assert!(!report.capacity_is_lower_bound);

        // CPU crosses its 80 % threshold at stage 4 (50 users); queue age rises over 50 %
        // above its 1 s baseline at stage 4 too (2.5 s); 5xx from zero at the breach.
        let degraded: Vec<_> = report
            .kpi_degradations
            .iter()
            .map(|d| (d.kpi.as_str(), d.stage.index))
            .collect();
        assert_eq!(
            degraded,
            [("cpu_percent", 4), ("queue_age_s", 4), ("target_5xx", 6)]
        );
        let leading: Vec<_> = report.leading_kpis.iter().map(|d| d.kpi.as_str()).collect();
        assert_eq!(leading, ["cpu_percent", "queue_age_s"]);
        assert_eq!(
            report.leading_kpis[0].limit,
            KpiLimit::Threshold { limit: 80.0 }
        );
        assert_eq!(
            report.leading_kpis[1].limit,
            KpiLimit::RiseOverBaseline {
                baseline: 1.0,
                baseline_stage: "hold 10".into(),
                rise: 0.5,
                limit: 1.5
            }
        );
    }

    #[test]
    fn without_thresholds_the_earliest_rise_leads() {
        // CPU goes from 20 % to 35 % at stage 1, more than the default 50 % rise: utilisation
        // rises with load by design, which is why it deserves a threshold.
        let report = find_knee(&hockey_stick(), &SLO, &KpiRules::default()).unwrap();
        let leading: Vec<_> = report.leading_kpis.iter().map(|d| d.kpi.as_str()).collect();
        assert_eq!(leading, ["cpu_percent"]);
        assert_eq!(report.leading_kpis[0].stage.index, 1);
    }

    #[test]
    fn all_within_slo_means_no_knee_and_capacity_at_least_the_last_stage() {
        let stages: Vec<_> = (1..=5)
            .map(|i| stage(f64::from(i) * 10.0, f64::from(i) * 100.0, 100.0, 0.0))
            .collect();
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        assert!(matches!(
            &report.outcome,
            KneeOutcome::WithinSloThroughout { last_stage } if last_stage.index == 4
        ));
        assert_eq!(report.first_breach(), None);
        assert_eq!(report.last_within_slo().map(|s| s.load), Some(50.0));
        assert_eq!(report.max_load_within_slo(), Some(50.0));
        assert_eq!(report.max_rps_within_slo(), Some(500.0));
        assert!(report.capacity_is_lower_bound);
        assert!(report.kpi_degradations.is_empty() && report.leading_kpis.is_empty());
    }

    #[test]
    fn first_stage_failure_reports_zero_capacity() {
        let stages = [
            stage(10.0, 50.0, 800.0, 0.0),
            stage(20.0, 60.0, 2000.0, 0.2),
        ];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        let KneeOutcome::BreachedAtFirstStage { first_breach } = &report.outcome else {
            panic!("expected a first-stage breach, got {:?}", report.outcome);
        };
        assert_eq!(first_breach.stage.index, 0);
        assert_eq!(first_breach.violations.len(), 1);
        assert_eq!(first_breach.violations[0].bound, SloBound::P95Latency);
        assert_eq!(report.last_within_slo(), None);
        assert_eq!(report.max_load_within_slo(), None);
        assert_eq!(report.max_rps_within_slo(), None);
        assert_eq!(report.best_within_slo, None);
        assert!(!report.capacity_is_lower_bound);
    }

    /// Regression (issue 15, defect 1): the example report claimed "60 users with 909.3
    /// req/s", the rate of a ramp slice at 48 users beside the load of the hold at 60, which
    /// did 687.6 req/s. A claim's figures must all come from one stage.
    #[test]
    fn the_best_stage_quotes_its_own_load_rate_and_latency() {
        let stages = [
            stage(24.0, 500.0, 80.0, 0.0),
            stage(48.0, 909.3, 300.0, 0.001),
            stage(60.0, 687.6, 450.0, 0.002),
            stage(70.0, 650.0, 1900.0, 0.03),
        ];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        let best = report.best_within_slo.as_ref().unwrap();
        assert_eq!(
            (best.index, best.load, best.rps, best.p95_ms, best.samples),
            (1, 48.0, 909.3, Some(300.0), 54_558)
        );
        assert_eq!(best.error_ratio, 0.001);
        let last = report.last_within_slo().unwrap();
        assert_eq!(
            (last.load, last.rps, last.p95_ms),
            (60.0, 687.6, Some(450.0))
        );
        assert_eq!(report.max_load_within_slo(), Some(60.0));
        assert_eq!(report.max_rps_within_slo(), Some(909.3));
    }

    #[test]
    fn a_stage_without_latency_breaks_by_its_errors_or_is_refused() {
        let mut refused = stage(20.0, 0.0, 0.0, 1.0);
        refused.p95_ms = None;
        let stages = [stage(10.0, 100.0, 80.0, 0.0), refused.clone()];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        let breach = report.first_breach().unwrap();
        assert_eq!(breach.stage.index, 1);
        assert_eq!(breach.violations.len(), 1);
        assert_eq!(breach.violations[0].bound, SloBound::ErrorRatio);

        refused.error_ratio = 0.0;
        let error = find_knee(&[refused], &SLO, &KpiRules::default()).unwrap_err();
        assert!(
            matches!(error, KneeError::Unjudgeable { index: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn of_equal_rates_the_lower_load_is_the_best() {
        let stages = [stage(10.0, 100.0, 80.0, 0.0), stage(20.0, 100.0, 90.0, 0.0)];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        assert_eq!(report.best_within_slo.unwrap().index, 0);
    }

    #[test]
    fn a_value_equal_to_the_bound_meets_the_slo() {
        let stages = [stage(10.0, 100.0, 500.0, 0.01)];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        assert!(report.capacity_is_lower_bound);
    }

    #[test]
    fn zero_error_budget_has_no_relative_excess() {
        let slo = Slo {
            p95_ms: 500.0,
            max_error_ratio: 0.0,
        };
        let stages = [
            stage(10.0, 100.0, 100.0, 0.0),
            stage(20.0, 200.0, 100.0, 0.001),
        ];
        let report = find_knee(&stages, &slo, &KpiRules::default()).unwrap();
        let violation = &report.first_breach().unwrap().violations[0];
        assert_eq!(violation.bound, SloBound::ErrorRatio);
        assert_eq!(violation.over_by_fraction, None);
    }

    #[test]
    fn kpis_degrading_only_after_the_breach_do_not_lead() {
        let stages = [
            with_kpis(stage(10.0, 100.0, 100.0, 0.0), &[("unhealthy_hosts", 0.0)]),
            with_kpis(stage(20.0, 150.0, 900.0, 0.0), &[("unhealthy_hosts", 0.0)]),
            with_kpis(stage(30.0, 140.0, 1900.0, 0.0), &[("unhealthy_hosts", 1.0)]),
        ];
        let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
        assert_eq!(report.kpi_degradations.len(), 1);
        assert_eq!(report.kpi_degradations[0].stage.index, 2);
        assert!(report.leading_kpis.is_empty());
    }

    #[test]
    fn refuses_bad_input_with_the_stage_named() {
        let rules = KpiRules::default();
        assert_eq!(find_knee(&[], &SLO, &rules), Err(KneeError::NoStages));

        let stages = [
            stage(20.0, 100.0, 100.0, 0.0),
            stage(10.0, 50.0, 100.0, 0.0),
        ];
        let error = find_knee(&stages, &SLO, &rules).unwrap_err();
        assert!(matches!(error, KneeError::LoadDecreases { index: 1, .. }));
        assert!(error.to_string().contains("without ramp-down stages"));

        let stages = [stage(10.0, 100.0, f64::NAN, 0.0)];
        let error = find_knee(&stages, &SLO, &rules).unwrap_err();
        assert!(matches!(error, KneeError::InvalidStage { .. }));
        assert_eq!(
            error.to_string(),
            "stage 0 (\"hold 10\") has p95_ms = NaN; it must be a finite number ≥ 0"
        );

        let slo = Slo {
            p95_ms: 500.0,
            max_error_ratio: 5.0,
        };
        let stages = [stage(10.0, 100.0, 100.0, 0.0)];
        assert!(matches!(
            find_knee(&stages, &slo, &rules),
            Err(KneeError::InvalidSlo {
                field: "max_error_ratio",
                ..
            })
        ));
    }

    #[test]
    fn report_serializes_with_a_tagged_outcome() {
        let report = find_knee(&hockey_stick(), &SLO, &KpiRules::default()).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"]["kind"], "knee");
        assert_eq!(
            json["outcome"]["first_breach"]["violations"][0]["bound"],
            "p95_latency"
        );
        assert_eq!(
            json["leading_kpis"][0]["limit"]["kind"],
            "rise_over_baseline"
        );
        let back: KneeReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn ramp() -> impl Strategy<Value = Vec<Stage>> {
            prop::collection::vec((1.0..1000.0f64, 1.0..2000.0f64, 0.0..0.05f64), 1..12).prop_map(
                |rows| {
                    rows.into_iter()
                        .enumerate()
                        .map(|(i, (rps, p95, errors))| {
                            stage((i + 1) as f64 * 10.0, rps, p95, errors)
                        })
                        .collect()
                },
            )
        }

        proptest! {
            /// The capacity claim is one measured stage, within the SLO, before any breach,
            /// and no earlier stage within the SLO did more.
            #[test]
            fn the_best_stage_is_a_measured_stage_within_the_slo(stages in ramp()) {
                let report = find_knee(&stages, &SLO, &KpiRules::default()).unwrap();
                let breach = report.first_breach().map_or(stages.len(), |b| b.stage.index);
                match &report.best_within_slo {
                    None => prop_assert_eq!(breach, 0),
                    Some(best) => {
                        prop_assert!(best.index < breach);
                        let measured = &stages[best.index];
                        prop_assert_eq!(
                            (best.load, best.rps, best.p95_ms, best.error_ratio, best.samples),
                            (measured.load, measured.rps, measured.p95_ms,
                             measured.error_ratio, measured.samples)
                        );
                        prop_assert!(best.p95_ms.is_some_and(|p95| p95 <= SLO.p95_ms));
                        prop_assert!(best.error_ratio <= SLO.max_error_ratio);
                        prop_assert!(stages[..breach].iter().all(|s| s.rps <= best.rps));
                    }
                }
            }
        }
    }
}
