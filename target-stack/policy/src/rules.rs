//! Each policy's vote: given the window, the group's capacity and its last activities, what
//! capacity does this one policy want, and may it act now?
//!
//! Votes are combined by `Group::decide`; a policy never changes the group itself.
//!
//! Timing rules (after EC2 Auto Scaling's instance warm-up and Application Auto Scaling's
//! cooldowns):
//! - Target tracking and step scaling size scale-outs from the warmed-up capacity (the one
//!   the aggregated metrics were measured on), so capacity still warming up (or not yet
//!   launched) counts toward what is wanted and the same alarm does not add it twice. Target tracking has no scale-out cooldown.
//! - The queue rules (and a step policy given a simple scaling `cooldown_secs`; EC2 Auto
//!   Scaling's step policies have none) wait their scale-out cooldown after any scale-out.
//! - Every scale-in waits until no instance is warming up, and the queue rules (and a step
//!   policy with a cooldown) also wait their scale-in cooldown after any activity. Target tracking's scale-in is
//!   held back by its long low-alarm window instead: it shrinks only to the largest capacity
//!   any datapoint in that window needed, so capacity measured before the last scale-in keeps
//!   it from shrinking again until that datapoint ages out.
//! - A policy without data for its metric vetoes scale-in, even one that never scales in.

use std::time::Duration;

use super::decision::{Breach, Comparison, number};
use super::metrics::{Datapoint, Window, all_breaching};
use super::spec::{
    Metric, PolicySpec, Predictive, PredictiveMode, QueueRules, Step, StepScaling, TargetTracking,
};

/// AWS's target tracking low alarm sits about 10 % below the target; the gap is what keeps
/// a steady load from flapping between two sizes.
pub(super) const SCALE_IN_FRACTION: f64 = 0.9;

/// What the evaluating policy sees of the group at `now`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context<'a> {
    pub group: &'a str,
    pub now: Duration,
    pub window: &'a Window,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// In service and past the warm-up: the capacity the aggregated metrics were measured
    /// on (AWS's step scaling and target tracking size from it).
    pub warmed_up: u32,
    pub warming: u32,
    pub last_scale_out: Option<Duration>,
    pub last_activity: Option<Duration>,
}

impl Context<'_> {
    fn clamp(&self, capacity: i64) -> u32 {
        let clamped = capacity.clamp(i64::from(self.min), i64::from(self.max));
        u32::try_from(clamped).unwrap_or(self.max)
    }

    /// Time left before `cooldown` has passed since `since`, if any.
    fn cooling(&self, since: Option<Duration>, cooldown: Duration) -> Option<Duration> {
        let since = since?;
        let elapsed = self.now.saturating_sub(since);
        (elapsed < cooldown).then(|| cooldown - elapsed)
    }
}

/// The alarm that fired and what it saw; becomes the decision's `Cause`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trigger {
    pub alarm: String,
    pub breaches: Vec<Breach>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Vote {
    /// Wants `to` (above desired) and may act now.
    Out { to: u32, trigger: Trigger },
    /// Wants more but is in its scale-out cooldown; still vetoes any scale-in.
    OutCooling { reason: String },
    /// Wants `to` (below desired) and may act now.
    In { to: u32, trigger: Trigger },
    /// Wants the current capacity (or is not allowed to shrink yet): vetoes a scale-in.
    Hold { reason: String },
    /// Never scales in and does not want more: no say in a scale-in.
    Abstain { reason: String },
    /// Agrees to a scale-in, but not below `at` (predictive scaling's forecast).
    Floor { at: u32, reason: String },
}

pub(super) fn evaluate(policy: &PolicySpec, ctx: &Context<'_>) -> Vote {
    match policy {
        PolicySpec::TargetTracking(p) => target_tracking(p, ctx),
        PolicySpec::StepScaling(p) => step_scaling(p, ctx),
        PolicySpec::QueueRules(p) => queue_rules(p, ctx),
        PolicySpec::Predictive(p) => predictive(p, ctx),
    }
}

/// The forecast capacity for `buffer` ahead: the load of the metric period one `cycle`
/// before that moment, at `target` per instance.
fn predictive(p: &Predictive, ctx: &Context<'_>) -> Vote {
    let name = &p.name;
    let ahead = ctx.now + p.buffer;
    let Some(past) = ahead.checked_sub(p.cycle) else {
        return Vote::Abstain {
            reason: format!("{name}: no forecast yet (needs one cycle of history)"),
        };
    };
    // The period that holds `past`: the last complete one before its end.
    let points = ctx
        .window
        .datapoints(p.metric, p.period, 1, past + p.period);
    let Some(seen) = points.last().copied().flatten() else {
        // Like every policy without data for its metric, it vetoes scale-in (only the
        // first cycle, which has no history at all, leaves the group to the others).
        return Vote::Hold {
            reason: format!("{name}: no {} datapoint one cycle back", p.metric),
        };
    };
    let forecast = ctx.clamp(required(seen.load, p.target));
    let said = format!(
        "{name}: forecast {} {} in {:?} needs {forecast}",
        p.metric,
        number(seen.load),
        p.buffer
    );
    if p.mode == PredictiveMode::ForecastOnly {
        return Vote::Abstain {
            reason: format!("{said} (forecast only)"),
        };
    }
    if forecast > ctx.desired {
        return Vote::Out {
            to: forecast,
            trigger: Trigger {
                alarm: format!("PredictiveScaling-{}-{name}", ctx.group),
                breaches: vec![Breach {
                    metric: p.metric,
                    value: seen.load / f64::from(ctx.desired.max(1)),
                    comparison: Comparison::GreaterThan,
                    threshold: p.target,
                }],
                reason: said,
            },
        };
    }
    Vote::Floor {
        at: forecast,
        reason: said,
    }
}

/// Capacity that carries `load` at `target` per instance. The small slack keeps float noise
/// (3 × 70 / 70 = 3.0000000000000004) from costing an instance.
fn required(load: f64, target: f64) -> i64 {
    (load / target - 1e-9).ceil().max(0.0) as i64
}

fn target_tracking(p: &TargetTracking, ctx: &Context<'_>) -> Vote {
    let name = &p.name;
    let alarm = |side| format!("TargetTracking-{}-{name}-Alarm{side}", ctx.group);
    let high = ctx
        .window
        .datapoints(p.metric, p.period, p.scale_out_periods, ctx.now);
    if let Some(latest) = all_breaching(&high, |d| d.value > p.target) {
        let needed = ctx.clamp(required(latest.load, p.target));
        let seen = format!(
            "{} {} > target {} for {} periods",
            p.metric,
            number(latest.value),
            number(p.target),
            p.scale_out_periods
        );
        if needed <= ctx.desired {
            return Vote::Hold {
                reason: format!(
                    "{name}: {seen}, needs {needed}; desired {} already covers it ({} warming)",
                    ctx.desired, ctx.warming
                ),
            };
        }
        return Vote::Out {
            to: needed,
            trigger: Trigger {
                alarm: alarm("High"),
                breaches: vec![Breach {
                    metric: p.metric,
                    value: latest.value,
                    comparison: Comparison::GreaterThan,
                    threshold: p.target,
                }],
                reason: format!("{name}: {seen}; {} warmed up need {needed}", ctx.warmed_up),
            },
        };
    }
    if p.disable_scale_in {
        return abstain_with_data(
            high.last(),
            || format!("{name}: not above target; scale-in disabled"),
            name,
            p.metric,
        );
    }
    let threshold = p.target * SCALE_IN_FRACTION;
    let low = ctx
        .window
        .datapoints(p.metric, p.period, p.scale_in_periods, ctx.now);
    let Some(latest) = all_breaching(&low, |d| d.value < threshold) else {
        let reason = if low.iter().any(Option::is_none) {
            format!(
                "{name}: waiting for {} periods of {}",
                p.scale_in_periods, p.metric
            )
        } else {
            format!("{name}: {} near target {}", p.metric, number(p.target))
        };
        return Vote::Hold { reason };
    };
    // The most any datapoint of the window needed: shrink no further than that.
    let needed = low
        .iter()
        .flatten()
        .map(|d| required(d.load, p.target))
        .max()
        .map_or(ctx.desired, |n| ctx.clamp(n));
    let seen = format!(
        "{} {} < {} for {} periods",
        p.metric,
        number(latest.value),
        number(threshold),
        p.scale_in_periods
    );
    if needed >= ctx.desired {
        return Vote::Hold {
            reason: format!("{name}: {seen}, but the window still needs {needed}"),
        };
    }
    if let Some(reason) = warming_blocks_scale_in(name, ctx) {
        return Vote::Hold { reason };
    }
    Vote::In {
        to: needed,
        trigger: Trigger {
            alarm: alarm("Low"),
            breaches: vec![Breach {
                metric: p.metric,
                value: latest.value,
                comparison: Comparison::LessThan,
                threshold,
            }],
            reason: format!("{name}: {seen}; {needed} would carry the load"),
        },
    }
}

fn step_scaling(p: &StepScaling, ctx: &Context<'_>) -> Vote {
    let name = &p.name;
    let step_for = |value: f64| p.steps.iter().find(|s| s.contains(value));
    let points = ctx
        .window
        .datapoints(p.metric, p.period, p.evaluation_periods, ctx.now);
    let is_out = |d: &Datapoint| step_for(d.value).is_some_and(|s| s.adjustment.is_out());
    let is_in = |d: &Datapoint| step_for(d.value).is_some_and(|s| s.adjustment.is_in());

    if let Some((latest, step)) =
        all_breaching(&points, is_out).and_then(|d| step_for(d.value).map(|s| (d, s)))
    {
        let base = ctx.warmed_up;
        let to = ctx.clamp(i64::from(base) + p.change(step, base));
        let breach = step_breach(p.metric, latest.value, step);
        if to <= ctx.desired {
            return Vote::Hold {
                reason: format!(
                    "{name}: {breach}; {base} in service {:?} gives {to}, desired {} covers it",
                    step.adjustment, ctx.desired
                ),
            };
        }
        if let Some(left) = ctx.cooling(ctx.last_scale_out, p.cooldown) {
            return Vote::OutCooling {
                reason: format!("{name}: {breach}; scale-out cooldown {left:?} left"),
            };
        }
        return Vote::Out {
            to,
            trigger: Trigger {
                alarm: format!("Step-{}-{name}-AlarmHigh", ctx.group),
                reason: format!(
                    "{name}: {breach} for {} periods; {base} in service {:?}",
                    p.evaluation_periods, step.adjustment
                ),
                breaches: vec![breach],
            },
        };
    }

    if !p.steps.iter().any(|s| s.adjustment.is_in()) {
        return abstain_with_data(
            points.last(),
            || format!("{name}: no scale-out step breached"),
            name,
            p.metric,
        );
    }
    let Some((latest, step)) =
        all_breaching(&points, is_in).and_then(|d| step_for(d.value).map(|s| (d, s)))
    else {
        return Vote::Hold {
            reason: format!("{name}: no step breached"),
        };
    };
    let to = ctx.clamp(i64::from(ctx.desired) + p.change(step, ctx.desired));
    let breach = step_breach(p.metric, latest.value, step);
    if to >= ctx.desired {
        return Vote::Hold {
            reason: format!("{name}: {breach}; already at min {}", ctx.min),
        };
    }
    if let Some(reason) = scale_in_blocked(name, ctx, p.cooldown) {
        return Vote::Hold { reason };
    }
    Vote::In {
        to,
        trigger: Trigger {
            alarm: format!("Step-{}-{name}-AlarmLow", ctx.group),
            reason: format!(
                "{name}: {breach} for {} periods; desired {:?}",
                p.evaluation_periods, step.adjustment
            ),
            breaches: vec![breach],
        },
    }
}

/// The bound a step's datapoint crossed: the lower one for scale-out steps, the upper one
/// for scale-in steps (each step has at least one bound; validation sees to it).
fn step_breach(metric: Metric, value: f64, step: &Step) -> Breach {
    let (comparison, threshold) =
        match (step.adjustment.is_out(), step.lower_bound, step.upper_bound) {
            (true, Some(lower), _) | (false, Some(lower), None) => {
                (Comparison::GreaterThanOrEqual, lower)
            }
            (_, _, Some(upper)) => (Comparison::LessThan, upper),
            (_, None, None) => (Comparison::GreaterThanOrEqual, f64::NEG_INFINITY),
        };
    Breach {
        metric,
        value,
        comparison,
        threshold,
    }
}

fn queue_rules(p: &QueueRules, ctx: &Context<'_>) -> Vote {
    let name = &p.name;
    let latest = |metric| ctx.window.datapoints(metric, p.period, 1, ctx.now)[0].map(|d| d.value);
    let above = [
        (Metric::QueueVisible, p.scale_out_queue_above),
        (Metric::Utilisation, p.scale_out_utilisation_above),
        (Metric::AvgCpu, p.scale_out_cpu_above),
    ];
    let out_breaches: Vec<Breach> = above
        .into_iter()
        .filter_map(|(metric, threshold)| {
            let value = latest(metric)?;
            (value > threshold).then_some(Breach {
                metric,
                value,
                comparison: Comparison::GreaterThan,
                threshold,
            })
        })
        .collect();
    if !out_breaches.is_empty() {
        let seen = join(&out_breaches, " OR ");
        let to = ctx.clamp(i64::from(ctx.desired) + i64::from(p.step));
        if to <= ctx.desired {
            return Vote::Hold {
                reason: format!("{name}: {seen}; already at max {}", ctx.max),
            };
        }
        if let Some(left) = ctx.cooling(ctx.last_scale_out, p.scale_out_cooldown) {
            return Vote::OutCooling {
                reason: format!("{name}: {seen}; scale-out cooldown {left:?} left"),
            };
        }
        return Vote::Out {
            to,
            trigger: Trigger {
                alarm: format!("QueueRules-{}-{name}-AlarmHigh", ctx.group),
                reason: format!("{name}: {seen}; +{}", p.step),
                breaches: out_breaches,
            },
        };
    }

    let periods = p.scale_in_periods();
    let queue = ctx
        .window
        .datapoints(Metric::QueueVisible, p.period, periods, ctx.now);
    let utilisation = ctx
        .window
        .datapoints(Metric::Utilisation, p.period, periods, ctx.now);
    let idle_queue = all_breaching(&queue, |d| d.value < p.scale_in_queue_below);
    let idle_workers = all_breaching(&utilisation, |d| d.value < p.scale_in_utilisation_below);
    let (Some(queue), Some(utilisation)) = (idle_queue, idle_workers) else {
        return Vote::Hold {
            reason: format!("{name}: neither busy nor idle for {:?}", p.scale_in_sustain),
        };
    };
    let breaches = vec![
        Breach {
            metric: Metric::QueueVisible,
            value: queue.value,
            comparison: Comparison::LessThan,
            threshold: p.scale_in_queue_below,
        },
        Breach {
            metric: Metric::Utilisation,
            value: utilisation.value,
            comparison: Comparison::LessThan,
            threshold: p.scale_in_utilisation_below,
        },
    ];
    let seen = format!("{} for {:?}", join(&breaches, " AND "), p.scale_in_sustain);
    let to = ctx.clamp(i64::from(ctx.desired) - i64::from(p.step));
    if to >= ctx.desired {
        return Vote::Hold {
            reason: format!("{name}: {seen}; already at min {}", ctx.min),
        };
    }
    if let Some(reason) = scale_in_blocked(name, ctx, p.scale_in_cooldown) {
        return Vote::Hold { reason };
    }
    Vote::In {
        to,
        trigger: Trigger {
            alarm: format!("QueueRules-{}-{name}-AlarmLow", ctx.group),
            reason: format!("{name}: {seen}; -{}", p.step),
            breaches,
        },
    }
}

/// Whether `policy` would scale out again at capacity `to` under the load of its latest
/// datapoint, so that a scale-in to `to` would flap straight back (a policy whose scale-in
/// and scale-out thresholds sit closer than one instance's share of the load, or a step of
/// several instances on a small group). Per-instance metrics are projected as load / `to`.
pub(super) fn would_scale_out_at(
    policy: &PolicySpec,
    ctx: &Context<'_>,
    to: u32,
) -> Option<String> {
    let projected = |metric: Metric, period: Duration| {
        let latest = ctx.window.datapoints(metric, period, 1, ctx.now)[0]?;
        let capacity = f64::from(to.max(1));
        Some(match metric {
            Metric::QueueVisible => latest.value,
            Metric::Utilisation => (latest.load / capacity).min(100.0),
            _ => latest.load / capacity,
        })
    };
    let trips = |name: &str, metric: Metric, value: f64, threshold: String| {
        format!(
            "{name}: {metric} would be {} at {to}, past its scale-out threshold {threshold}",
            number(value)
        )
    };
    match policy {
        PolicySpec::TargetTracking(p) => {
            let value = projected(p.metric, p.period)?;
            (value > p.target).then(|| trips(&p.name, p.metric, value, number(p.target)))
        }
        PolicySpec::StepScaling(p) => {
            let value = projected(p.metric, p.period)?;
            let step = p
                .steps
                .iter()
                .find(|s| s.contains(value) && s.adjustment.is_out())?;
            let threshold = step_breach(p.metric, value, step).threshold;
            Some(trips(&p.name, p.metric, value, number(threshold)))
        }
        PolicySpec::QueueRules(p) => [
            (Metric::QueueVisible, p.scale_out_queue_above),
            (Metric::Utilisation, p.scale_out_utilisation_above),
            (Metric::AvgCpu, p.scale_out_cpu_above),
        ]
        .into_iter()
        .find_map(|(metric, threshold)| {
            let value = projected(metric, p.period)?;
            (value > threshold).then(|| trips(&p.name, metric, value, number(threshold)))
        }),
        // Its floor already keeps the cut at or above the forecast.
        PolicySpec::Predictive(_) => None,
    }
}

/// A policy that never scales in stays out of the scale-in vote only while it can see its
/// metric: without a datapoint it cannot tell whether a smaller group would overload, so it
/// holds (as at start-up, before any instance has served a full period).
fn abstain_with_data(
    latest: Option<&Option<Datapoint>>,
    reason: impl FnOnce() -> String,
    name: &str,
    metric: Metric,
) -> Vote {
    if latest.is_some_and(Option::is_some) {
        Vote::Abstain { reason: reason() }
    } else {
        Vote::Hold {
            reason: format!("{name}: no recent {metric} datapoint"),
        }
    }
}

fn warming_blocks_scale_in(name: &str, ctx: &Context<'_>) -> Option<String> {
    (ctx.warming > 0).then(|| {
        format!(
            "{name}: would scale in, but {} instance(s) still warming up",
            ctx.warming
        )
    })
}

fn scale_in_blocked(name: &str, ctx: &Context<'_>, cooldown: Duration) -> Option<String> {
    warming_blocks_scale_in(name, ctx).or_else(|| {
        ctx.cooling(ctx.last_activity, cooldown)
            .map(|left| format!("{name}: would scale in; scale-in cooldown {left:?} left"))
    })
}

fn join(breaches: &[Breach], separator: &str) -> String {
    breaches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::super::metrics::Sample;
    use super::super::spec::Adjustment;
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ctx<'a>(window: &'a Window, now: u64, desired: u32, in_service: u32) -> Context<'a> {
        Context {
            group: "g",
            now: secs(now),
            window,
            desired,
            min: 1,
            max: 10,
            warmed_up: in_service,
            warming: desired.saturating_sub(in_service),
            last_scale_out: None,
            last_activity: None,
        }
    }

    fn cpu_window(values: &[f64], in_service: u32) -> Window {
        let mut window = Window::new(secs(100));
        for (at, value) in values.iter().enumerate() {
            window.push(
                Sample {
                    avg_cpu: Some(*value),
                    ..Sample::at(secs(at as u64))
                },
                in_service,
                in_service,
            );
        }
        window
    }

    fn tracking(target: f64, out_periods: u32, in_periods: u32) -> TargetTracking {
        TargetTracking {
            name: "tt".into(),
            metric: Metric::AvgCpu,
            target,
            period: secs(1),
            scale_out_periods: out_periods,
            scale_in_periods: in_periods,
            disable_scale_in: false,
        }
    }

    #[test]
    fn required_capacity_rounds_up_but_forgives_float_noise() {
        assert_eq!(required(90.0, 70.0), 2);
        assert_eq!(required(3.0 * 70.0, 70.0), 3);
        assert_eq!(required(0.0, 70.0), 0);
    }

    #[test]
    fn target_tracking_scales_out_only_when_every_period_of_the_window_is_above_target() {
        let p = tracking(70.0, 3, 15);
        let window = cpu_window(&[90.0, 60.0, 90.0, 90.0], 1);
        assert!(matches!(
            target_tracking(&p, &ctx(&window, 4, 1, 1)),
            Vote::Hold { .. }
        ));
        let window = cpu_window(&[90.0, 90.0, 90.0], 1);
        assert!(matches!(
            target_tracking(&p, &ctx(&window, 3, 1, 1)),
            Vote::Out { to: 2, .. }
        ));
    }

    #[test]
    fn target_tracking_scale_in_keeps_the_largest_capacity_its_window_needed() {
        // 4 instances at 30 % then at 10 %: 120 and 40 % of one instance of load.
        let p = tracking(70.0, 1, 4);
        let window = cpu_window(&[30.0, 30.0, 10.0, 10.0], 4);
        match target_tracking(&p, &ctx(&window, 4, 4, 4)) {
            Vote::In { to, .. } => assert_eq!(to, 2, "ceil(4 × 30 / 70) = 2, not 1"),
            other => panic!("expected a scale-in, got {other:?}"),
        }
    }

    #[test]
    fn target_tracking_does_not_scale_in_within_ten_percent_below_target() {
        // 20 instances at 64 % of a 70 % target: the formula alone would drop one
        // (ceil(20 × 64 / 70) = 19), but 64 is above the low alarm's 63.
        let p = tracking(70.0, 1, 2);
        let context = |window| Context {
            max: 30,
            ..ctx(window, 2, 20, 20)
        };
        let window = cpu_window(&[64.0, 64.0], 20);
        assert!(matches!(
            target_tracking(&p, &context(&window)),
            Vote::Hold { .. }
        ));
        let window = cpu_window(&[62.0, 62.0], 20);
        assert!(matches!(
            target_tracking(&p, &context(&window)),
            Vote::In { to: 18, .. }
        ));
    }

    #[test]
    fn step_scaling_applies_the_step_of_the_latest_datapoint_from_in_service_capacity() {
        let p = StepScaling {
            name: "steps".into(),
            metric: Metric::AvgCpu,
            steps: vec![
                Step {
                    lower_bound: Some(70.0),
                    upper_bound: Some(90.0),
                    adjustment: Adjustment::ChangeInCapacity(1),
                },
                Step {
                    lower_bound: Some(90.0),
                    upper_bound: None,
                    adjustment: Adjustment::ChangeInCapacity(3),
                },
            ],
            period: secs(1),
            evaluation_periods: 2,
            cooldown: secs(30),
            min_adjustment_magnitude: None,
        };
        let window = cpu_window(&[75.0, 95.0], 2);
        match step_scaling(&p, &ctx(&window, 2, 2, 2)) {
            Vote::Out { to, trigger } => {
                assert_eq!(to, 5);
                assert_eq!(trigger.breaches[0].threshold, 90.0);
            }
            other => panic!("expected a scale-out, got {other:?}"),
        }
        // Two instances already warming toward 4: in service 2 + 1 does not add more.
        let window = cpu_window(&[75.0, 80.0], 2);
        assert!(matches!(
            step_scaling(&p, &ctx(&window, 2, 4, 2)),
            Vote::Hold { .. }
        ));
        assert!(matches!(
            step_scaling(&p, &ctx(&window, 2, 2, 2)),
            Vote::Out { to: 3, .. }
        ));
    }

    #[test]
    fn a_step_policy_without_scale_in_steps_has_no_say_in_scale_in() {
        let p = StepScaling {
            name: "out-only".into(),
            metric: Metric::AvgCpu,
            steps: vec![Step {
                lower_bound: Some(80.0),
                upper_bound: None,
                adjustment: Adjustment::ChangeInCapacity(1),
            }],
            period: secs(1),
            evaluation_periods: 1,
            cooldown: secs(0),
            min_adjustment_magnitude: None,
        };
        let window = cpu_window(&[10.0], 2);
        assert!(matches!(
            step_scaling(&p, &ctx(&window, 1, 2, 2)),
            Vote::Abstain { .. }
        ));
    }

    fn percent_steps(min_adjustment_magnitude: Option<u32>) -> StepScaling {
        serde_json::from_value(serde_json::json!({
            "name": "pct", "metric": "avg_cpu", "period_secs": 1.0,
            "min_adjustment_magnitude": min_adjustment_magnitude,
            "steps": [
                { "lower_bound": 70.0, "adjustment": { "percent_change_in_capacity": 25 } },
                { "upper_bound": 20.0, "adjustment": { "percent_change_in_capacity": -25 } }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_step_policy_has_no_cooldown_unless_given_one_and_scales_out_again_at_once() {
        // EC2 Auto Scaling's step policies have no cooldown: one second after a scale-out
        // from 4 to 5, a higher step (nothing warming) scales out again.
        let p = percent_steps(None);
        assert_eq!(p.cooldown, Duration::ZERO);
        let window = cpu_window(&[95.0, 95.0], 5);
        let mut context = ctx(&window, 2, 5, 5);
        context.last_scale_out = Some(secs(1));
        context.last_activity = Some(secs(1));
        assert!(matches!(
            step_scaling(&p, &context),
            Vote::Out { to: 6, .. }
        ));
        // Given a simple scaling cooldown, it waits it out.
        let simple = StepScaling {
            cooldown: secs(300),
            ..p
        };
        assert!(matches!(
            step_scaling(&simple, &context),
            Vote::OutCooling { .. }
        ));
    }

    #[test]
    fn min_adjustment_magnitude_raises_a_percentage_step_to_that_many_instances() {
        // AWS's example: 25 % of 4 instances is 1; with MinAdjustmentMagnitude 2 the group
        // scales out by 2. Scale-in too: 25 % of 8 is 2, at least 3.
        let window = cpu_window(&[95.0], 4);
        assert!(matches!(
            step_scaling(&percent_steps(None), &ctx(&window, 1, 4, 4)),
            Vote::Out { to: 5, .. }
        ));
        assert!(matches!(
            step_scaling(&percent_steps(Some(2)), &ctx(&window, 1, 4, 4)),
            Vote::Out { to: 6, .. }
        ));
        let idle = cpu_window(&[5.0], 8);
        assert!(matches!(
            step_scaling(&percent_steps(Some(3)), &ctx(&idle, 1, 8, 8)),
            Vote::In { to: 5, .. }
        ));
        // A larger percentage is not cut down to the magnitude.
        assert!(matches!(
            step_scaling(&percent_steps(Some(1)), &ctx(&idle, 1, 8, 8)),
            Vote::In { to: 6, .. }
        ));
    }
}
