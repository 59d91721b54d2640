//! What a group is configured to do: its size limits, warm-up and scaling policies.
//!
//! These types are the `[web]` and `[worker]` tables of `stack.toml` (serde `Deserialize`,
//! unknown fields refused so that typos fail loudly). Durations are written in seconds
//! (`warmup_secs = 30`, fractions allowed) so tests can compress minutes into milliseconds.
//! Defaults are AWS's where AWS has one (60 s metric periods, 3 and 15 evaluation periods for
//! target tracking, 300 s default cooldown) and seed 002's for the queue rules.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error as _};

/// One auto scaling group: the web group or the worker group of the local stack.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub min: u32,
    pub max: u32,
    /// Desired capacity at creation; `min` when absent (like ASG's `DesiredCapacity`).
    #[serde(default)]
    pub desired: Option<u32>,
    /// How long a new instance warms up before it counts as in service: its metrics are left
    /// out of the group's averages, and scale-in waits until no instance is warming.
    #[serde(rename = "warmup_secs", deserialize_with = "secs")]
    pub warmup: Duration,
    /// The cooldown an operator's `set_desired(.., honour_cooldown = true)` respects
    /// (ASG's `DefaultCooldown`).
    #[serde(
        rename = "default_cooldown_secs",
        deserialize_with = "secs",
        default = "aws_default_cooldown"
    )]
    pub default_cooldown: Duration,
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// Scheduled actions (`[[web.scheduled]]`), applied before the policies at their times.
    #[serde(default)]
    pub scheduled: Vec<ScheduledAction>,
}

/// A scheduled action, after ASG's PutScheduledUpdateGroupAction: at `at` after the stack
/// starts (and every `every` after that, when given: a recurrence) it sets the group's size
/// limits and desired capacity. A new `min` above desired raises desired, a new `max` below
/// it lowers it; the policies then scale within the new limits. Times are relative because
/// the engine has no wall clock (AWS's are cron expressions in a time zone).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledAction {
    pub name: String,
    #[serde(rename = "at_secs", deserialize_with = "secs")]
    pub at: Duration,
    #[serde(rename = "every_secs", default, deserialize_with = "some_secs")]
    pub every: Option<Duration>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
    #[serde(default)]
    pub desired: Option<u32>,
}

impl ScheduledAction {
    /// The latest time this action falls due at or before `now`.
    pub(super) fn last_due(&self, now: Duration) -> Option<Duration> {
        if now < self.at {
            return None;
        }
        Some(match self.every {
            Some(every) if !every.is_zero() => {
                let cycles = (now - self.at).as_nanos() / every.as_nanos();
                self.at + every * u32::try_from(cycles).unwrap_or(u32::MAX)
            }
            _ => self.at,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.min.is_none() && self.max.is_none() && self.desired.is_none() {
            return Err("sets none of min, max and desired".into());
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(format!("min {min} is above max {max}"));
        }
        if self.every.is_some_and(|e| e.is_zero()) {
            return Err("every_secs must be above 0".into());
        }
        Ok(())
    }
}

/// A scaling policy attached to a group. Several may be attached; see `Group::decide` for how
/// their votes combine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicySpec {
    TargetTracking(TargetTracking),
    StepScaling(StepScaling),
    QueueRules(QueueRules),
    Predictive(Predictive),
}

impl PolicySpec {
    pub fn name(&self) -> &str {
        match self {
            PolicySpec::TargetTracking(p) => &p.name,
            PolicySpec::StepScaling(p) => &p.name,
            PolicySpec::QueueRules(p) => &p.name,
            PolicySpec::Predictive(p) => &p.name,
        }
    }

    /// The policy's name, kind and thresholds, for `stack.json` (its `Display` is the line
    /// a reader sees).
    pub fn describe(&self) -> rundir::PolicyDescription {
        use rundir::PolicyDescription as D;
        match self {
            PolicySpec::TargetTracking(p) => D::TargetTracking {
                name: p.name.clone(),
                metric: p.metric,
                target: p.target,
            },
            PolicySpec::StepScaling(p) => D::StepScaling {
                name: p.name.clone(),
                metric: p.metric,
                steps: p.steps.len(),
            },
            PolicySpec::Predictive(p) => D::Predictive {
                name: p.name.clone(),
                metric: p.metric,
                target: p.target,
                cycle_s: p.cycle.as_secs_f64(),
                buffer_s: p.buffer.as_secs_f64(),
                scales: p.mode == PredictiveMode::ForecastAndScale,
            },
            PolicySpec::QueueRules(p) => D::QueueRules {
                name: p.name.clone(),
                out_queue_above: p.scale_out_queue_above,
                out_utilisation_above: p.scale_out_utilisation_above,
                out_cpu_above: p.scale_out_cpu_above,
                out_cooldown_s: p.scale_out_cooldown.as_secs_f64(),
                in_queue_below: p.scale_in_queue_below,
                in_utilisation_below: p.scale_in_utilisation_below,
                in_sustain_s: p.scale_in_sustain.as_secs_f64(),
                in_cooldown_s: p.scale_in_cooldown.as_secs_f64(),
            },
        }
    }

    /// How far back this policy looks: its metric period times the datapoints it needs, plus
    /// the period still being filled.
    pub(super) fn lookback(&self) -> Duration {
        let (period, periods) = match self {
            PolicySpec::TargetTracking(p) => {
                (p.period, p.scale_out_periods.max(p.scale_in_periods))
            }
            PolicySpec::StepScaling(p) => (p.period, p.evaluation_periods),
            PolicySpec::QueueRules(p) => (p.period, p.scale_in_periods()),
            // One cycle of history, and the period being filled.
            PolicySpec::Predictive(p) => return p.cycle + p.period.saturating_mul(2),
        };
        period.saturating_mul(periods.saturating_add(1))
    }
}

/// Predictive scaling, after EC2 Auto Scaling's, simplified: the load `buffer` ahead is
/// forecast as the group's load one `cycle` earlier (the mean of that metric period), and
/// the forecast capacity is what carries it at `target` per instance. AWS fits up to 14 days
/// of history with daily and weekly patterns; this is the seasonal naive forecast of one
/// cycle, which a replay of a measured load can check. With `forecast_and_scale` the policy
/// launches the forecast capacity `buffer` ahead and keeps other policies' scale-ins from
/// going below it (it never scales in itself); with `forecast_only` (AWS's default) it only
/// reports the forecast.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predictive {
    pub name: String,
    pub metric: Metric,
    pub target: f64,
    #[serde(rename = "cycle_secs", deserialize_with = "secs", default = "one_day")]
    pub cycle: Duration,
    /// How far ahead capacity is launched (AWS's SchedulingBufferTime, 300 s by default).
    #[serde(
        rename = "buffer_secs",
        deserialize_with = "secs",
        default = "aws_buffer"
    )]
    pub buffer: Duration,
    #[serde(
        rename = "period_secs",
        deserialize_with = "secs",
        default = "aws_period"
    )]
    pub period: Duration,
    #[serde(default)]
    pub mode: PredictiveMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictiveMode {
    #[default]
    ForecastOnly,
    ForecastAndScale,
}

/// Target tracking: keep `metric` at `target` by sizing the group proportionally.
///
/// Scale-out when the last `scale_out_periods` datapoints are all above `target`, to
/// `ceil(in-service capacity × metric / target)` (for `BacklogPerInstance`,
/// `ceil(queue / target)`). Scale-in when the last `scale_in_periods` datapoints are all below
/// 90 % of `target` (AWS's low alarm sits about 10 % under the target), to the largest
/// capacity any of those datapoints required.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    pub name: String,
    pub metric: Metric,
    pub target: f64,
    /// Length of one datapoint (CloudWatch period); the mean of the samples within it.
    #[serde(
        rename = "period_secs",
        deserialize_with = "secs",
        default = "aws_period"
    )]
    pub period: Duration,
    #[serde(default = "aws_scale_out_periods")]
    pub scale_out_periods: u32,
    #[serde(default = "aws_scale_in_periods")]
    pub scale_in_periods: u32,
    #[serde(default)]
    pub disable_scale_in: bool,
}

/// Step scaling: when the last `evaluation_periods` datapoints all fall in steps of the same
/// direction, apply the step the latest datapoint falls in.
///
/// Bounds are absolute metric values (AWS's are relative to the alarm threshold; absolute
/// ones read better in a config file): a step matches `lower_bound <= value < upper_bound`, a
/// missing bound is unbounded. A positive adjustment scales out from the in-service capacity
/// (so warming instances count toward it, as in EC2 Auto Scaling); a negative one scales in
/// from the desired capacity. As on EC2 Auto Scaling, a step policy has no cooldown: the
/// warm-up alone paces it (scale-out counts warming capacity, scale-in waits for it).
/// `cooldown_secs` (0 by default) holds off the next scale-out and any scale-in, which makes
/// the policy a simple scaling policy with its `Cooldown`
/// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scaling-cooldowns.html>).
/// `min_adjustment_magnitude` is AWS's `MinAdjustmentMagnitude`: a percentage step changes
/// capacity by at least that many instances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepScaling {
    pub name: String,
    pub metric: Metric,
    pub steps: Vec<Step>,
    #[serde(
        rename = "period_secs",
        deserialize_with = "secs",
        default = "aws_period"
    )]
    pub period: Duration,
    #[serde(default = "one")]
    pub evaluation_periods: u32,
    #[serde(rename = "cooldown_secs", deserialize_with = "secs", default)]
    pub cooldown: Duration,
    #[serde(default)]
    pub min_adjustment_magnitude: Option<u32>,
}

impl StepScaling {
    /// The change in instances `step` applies to `base`, at least `min_adjustment_magnitude`
    /// for a percentage.
    pub(super) fn change(&self, step: &Step, base: u32) -> i64 {
        let delta = step.adjustment.delta(base);
        match (step.adjustment, self.min_adjustment_magnitude) {
            (Adjustment::PercentChangeInCapacity(_), Some(magnitude)) => {
                delta.signum() * delta.abs().max(i64::from(magnitude))
            }
            _ => delta,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub lower_bound: Option<f64>,
    #[serde(default)]
    pub upper_bound: Option<f64>,
    pub adjustment: Adjustment,
}

impl Step {
    pub(super) fn contains(&self, value: f64) -> bool {
        self.lower_bound.is_none_or(|lower| value >= lower)
            && self.upper_bound.is_none_or(|upper| value < upper)
    }
}

/// How a step changes capacity (AWS's `ChangeInCapacity` and `PercentChangeInCapacity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Adjustment {
    ChangeInCapacity(i32),
    PercentChangeInCapacity(i32),
}

impl Adjustment {
    /// The change in instances applied to `base`, rounded as AWS rounds percentages: a
    /// fraction of one instance becomes one, larger values round toward zero.
    pub(super) fn delta(self, base: u32) -> i64 {
        match self {
            Adjustment::ChangeInCapacity(n) => i64::from(n),
            Adjustment::PercentChangeInCapacity(percent) => {
                let raw = f64::from(base) * f64::from(percent) / 100.0;
                if raw == 0.0 {
                    0
                } else if raw.abs() < 1.0 {
                    raw.signum() as i64
                } else {
                    raw.trunc() as i64
                }
            }
        }
    }

    fn sign(self) -> i32 {
        match self {
            Adjustment::ChangeInCapacity(n) | Adjustment::PercentChangeInCapacity(n) => n.signum(),
        }
    }

    pub(super) fn is_out(self) -> bool {
        self.sign() > 0
    }

    pub(super) fn is_in(self) -> bool {
        self.sign() < 0
    }
}

/// The queue-length rules of seed 002, as a named preset: every field defaults to the seed's
/// value, so `type = "queue_rules"` with a name is the whole rule set.
///
/// Scale out by `step` when the queue holds more than 8 messages OR worker utilisation is
/// above 80 % OR CPU is above 75 % (the latest datapoint, any one is enough). Scale in by
/// `step` when the queue holds fewer than 2 messages AND utilisation is below 30 % for every
/// datapoint of `scale_in_sustain` (the seed's "idle for 5 minutes"). A scale-out waits
/// 60 s after the previous scale-out, a scale-in 180 s after any scaling activity. Capacity
/// is counted from the desired capacity, like AWS simple scaling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueRules {
    pub name: String,
    /// Length of one datapoint; the seed's collector sampled every 2 s.
    #[serde(rename = "period_secs", deserialize_with = "secs")]
    pub period: Duration,
    pub scale_out_queue_above: f64,
    pub scale_out_utilisation_above: f64,
    pub scale_out_cpu_above: f64,
    pub scale_in_queue_below: f64,
    pub scale_in_utilisation_below: f64,
    #[serde(rename = "scale_in_sustain_secs", deserialize_with = "secs")]
    pub scale_in_sustain: Duration,
    #[serde(rename = "scale_out_cooldown_secs", deserialize_with = "secs")]
    pub scale_out_cooldown: Duration,
    #[serde(rename = "scale_in_cooldown_secs", deserialize_with = "secs")]
    pub scale_in_cooldown: Duration,
    pub step: u32,
}

impl QueueRules {
    /// Seed 002's rules under the given policy name.
    pub fn seed_002(name: impl Into<String>) -> Self {
        QueueRules {
            name: name.into(),
            period: Duration::from_secs(2),
            scale_out_queue_above: 8.0,
            scale_out_utilisation_above: 80.0,
            scale_out_cpu_above: 75.0,
            scale_in_queue_below: 2.0,
            scale_in_utilisation_below: 30.0,
            scale_in_sustain: Duration::from_secs(300),
            scale_out_cooldown: Duration::from_secs(60),
            scale_in_cooldown: Duration::from_secs(180),
            step: 1,
        }
    }

    /// Datapoints that must all be idle: the sustain time in whole periods, at least one.
    pub(super) fn scale_in_periods(&self) -> u32 {
        let periods = self
            .scale_in_sustain
            .as_nanos()
            .div_ceil(self.period.as_nanos().max(1));
        u32::try_from(periods).unwrap_or(u32::MAX).max(1)
    }
}

impl Default for QueueRules {
    fn default() -> Self {
        QueueRules::seed_002("")
    }
}

/// A metric a policy can watch, computed per sample (see `Sample`) over the instances in
/// service at that moment. One type with `stack.json`'s, so a run records exactly what the
/// policy watched.
pub use rundir::ScalingMetric as Metric;

/// Why a `GroupSpec` cannot be used. Checked once by `Group::new`, so the engine can rely on
/// `min <= max`, non-zero periods and well-formed steps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("group name is empty")]
    EmptyGroupName,
    #[error("group {group}: min {min} is above max {max}")]
    MinAboveMax { group: String, min: u32, max: u32 },
    #[error("group {group}: desired {desired} is outside {min}..={max}")]
    DesiredOutOfRange {
        group: String,
        desired: u32,
        min: u32,
        max: u32,
    },
    #[error("group {group}: a policy has an empty name")]
    EmptyPolicyName { group: String },
    #[error("group {group}: two policies are named {policy}")]
    DuplicatePolicy { group: String, policy: String },
    #[error("policy {policy}: {what}")]
    InvalidPolicy { policy: String, what: String },
}

impl GroupSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        let group = &self.name;
        if group.trim().is_empty() {
            return Err(SpecError::EmptyGroupName);
        }
        if self.min > self.max {
            return Err(SpecError::MinAboveMax {
                group: group.clone(),
                min: self.min,
                max: self.max,
            });
        }
        if let Some(desired) = self.desired
            && !(self.min..=self.max).contains(&desired)
        {
            return Err(SpecError::DesiredOutOfRange {
                group: group.clone(),
                desired,
                min: self.min,
                max: self.max,
            });
        }
        let mut names = HashSet::new();
        for policy in &self.policies {
            let name = policy.name();
            if name.trim().is_empty() {
                return Err(SpecError::EmptyPolicyName {
                    group: group.clone(),
                });
            }
            if !names.insert(name) {
                return Err(SpecError::DuplicatePolicy {
                    group: group.clone(),
                    policy: name.to_owned(),
                });
            }
            policy.validate().map_err(|what| SpecError::InvalidPolicy {
                policy: name.to_owned(),
                what,
            })?;
        }
        for action in &self.scheduled {
            if !names.insert(&action.name) {
                return Err(SpecError::DuplicatePolicy {
                    group: group.clone(),
                    policy: action.name.clone(),
                });
            }
            action.validate().map_err(|what| SpecError::InvalidPolicy {
                policy: action.name.clone(),
                what,
            })?;
        }
        Ok(())
    }
}

impl PolicySpec {
    fn validate(&self) -> Result<(), String> {
        match self {
            PolicySpec::Predictive(p) => {
                positive_period(p.period)?;
                positive_target(p.target)?;
                if !matches!(p.metric, Metric::AvgCpu | Metric::RequestsPerTarget) {
                    // A forecast repeats what the load was; busy workers and queue lengths
                    // depend on the capacity of the time, so forecasting them would echo
                    // the group's own past sizes.
                    return Err(format!(
                        "predictive scaling forecasts avg_cpu or requests_per_target, not {}",
                        p.metric
                    ));
                }
                if p.cycle < p.period || p.buffer >= p.cycle {
                    return Err(
                        "cycle_secs must be at least period_secs, and buffer_secs below it".into(),
                    );
                }
                Ok(())
            }
            PolicySpec::TargetTracking(p) => {
                positive_period(p.period)?;
                positive_target(p.target)?;
                if p.scale_out_periods == 0 || p.scale_in_periods == 0 {
                    return Err("scale_out_periods and scale_in_periods must be at least 1".into());
                }
                if p.metric == Metric::QueueVisible {
                    // A total does not shrink as capacity grows; backlog per instance does.
                    return Err("target tracking needs a per-instance metric; use \
                                backlog_per_instance instead of queue_visible"
                        .into());
                }
                Ok(())
            }
            PolicySpec::StepScaling(p) => {
                positive_period(p.period)?;
                if p.evaluation_periods == 0 {
                    return Err("evaluation_periods must be at least 1".into());
                }
                if let Some(magnitude) = p.min_adjustment_magnitude {
                    let percent = p
                        .steps
                        .iter()
                        .any(|s| matches!(s.adjustment, Adjustment::PercentChangeInCapacity(_)));
                    if magnitude == 0 || !percent {
                        return Err("min_adjustment_magnitude must be at least 1 and applies \
                                    only to percent_change_in_capacity steps (as AWS's \
                                    MinAdjustmentMagnitude); remove it or use percentage steps"
                            .into());
                    }
                }
                validate_steps(&p.steps)
            }
            PolicySpec::QueueRules(p) => {
                positive_period(p.period)?;
                let thresholds = [
                    p.scale_out_queue_above,
                    p.scale_out_utilisation_above,
                    p.scale_out_cpu_above,
                    p.scale_in_queue_below,
                    p.scale_in_utilisation_below,
                ];
                if thresholds.iter().any(|t| !t.is_finite()) {
                    return Err("thresholds must be finite numbers".into());
                }
                if p.step == 0 {
                    return Err("step must be at least 1".into());
                }
                Ok(())
            }
        }
    }
}

fn positive_target(target: f64) -> Result<(), String> {
    if target.is_finite() && target > 0.0 {
        Ok(())
    } else {
        Err(format!("target must be a positive number, got {target}"))
    }
}

fn positive_period(period: Duration) -> Result<(), String> {
    if period.is_zero() {
        Err("period_secs must be above zero".into())
    } else {
        Ok(())
    }
}

fn validate_steps(steps: &[Step]) -> Result<(), String> {
    if steps.is_empty() {
        return Err("steps must not be empty".into());
    }
    for step in steps {
        let bounds = [step.lower_bound, step.upper_bound];
        if bounds.iter().flatten().any(|b| !b.is_finite()) {
            return Err("step bounds must be finite numbers".into());
        }
        if let (Some(lower), Some(upper)) = (step.lower_bound, step.upper_bound)
            && lower >= upper
        {
            return Err(format!(
                "step lower_bound {lower} must be below upper_bound {upper}"
            ));
        }
        if step.adjustment.sign() == 0 {
            return Err("step adjustment must not be zero".into());
        }
    }
    let mut sorted: Vec<&Step> = steps.iter().collect();
    sorted.sort_by(|a, b| {
        let a = a.lower_bound.unwrap_or(f64::NEG_INFINITY);
        let b = b.lower_bound.unwrap_or(f64::NEG_INFINITY);
        a.total_cmp(&b)
    });
    for pair in sorted.windows(2) {
        let upper = pair[0].upper_bound.unwrap_or(f64::INFINITY);
        let next_lower = pair[1].lower_bound.unwrap_or(f64::NEG_INFINITY);
        if upper > next_lower {
            return Err("steps overlap; a value must match at most one step".into());
        }
    }
    Ok(())
}

/// Reads a duration written as seconds (integer or fraction).
fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let seconds = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        D::Error::custom(format!(
            "expected a non-negative number of seconds, got {seconds}"
        ))
    })
}

fn some_secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    secs(deserializer).map(Some)
}

fn one_day() -> Duration {
    Duration::from_secs(86_400)
}

fn aws_buffer() -> Duration {
    Duration::from_secs(300)
}

fn aws_period() -> Duration {
    Duration::from_secs(60)
}

fn aws_default_cooldown() -> Duration {
    Duration::from_secs(300)
}

fn aws_scale_out_periods() -> u32 {
    3
}

fn aws_scale_in_periods() -> u32 {
    15
}

fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(policies: Vec<PolicySpec>) -> GroupSpec {
        GroupSpec {
            name: "web".into(),
            min: 1,
            max: 3,
            desired: None,
            warmup: Duration::ZERO,
            default_cooldown: Duration::ZERO,
            policies,
            scheduled: vec![],
        }
    }

    fn step(lower: Option<f64>, upper: Option<f64>, n: i32) -> Step {
        Step {
            lower_bound: lower,
            upper_bound: upper,
            adjustment: Adjustment::ChangeInCapacity(n),
        }
    }

    fn step_policy(steps: Vec<Step>) -> PolicySpec {
        PolicySpec::StepScaling(StepScaling {
            name: "steps".into(),
            metric: Metric::AvgCpu,
            steps,
            period: Duration::from_secs(1),
            evaluation_periods: 1,
            cooldown: Duration::ZERO,
            min_adjustment_magnitude: None,
        })
    }

    #[test]
    fn queue_rules_preset_deserializes_from_its_name_alone_with_seed_002_values() {
        let spec: GroupSpec = serde_json::from_value(serde_json::json!({
            "name": "worker", "min": 1, "max": 3, "warmup_secs": 0.5,
            "policies": [{ "type": "queue_rules", "name": "seed-002" }]
        }))
        .expect("valid group");
        assert_eq!(spec.warmup, Duration::from_millis(500));
        assert_eq!(spec.default_cooldown, Duration::from_secs(300));
        assert_eq!(
            spec.policies,
            vec![PolicySpec::QueueRules(QueueRules::seed_002("seed-002"))]
        );
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn target_tracking_and_steps_deserialize_with_aws_defaults() {
        let spec: GroupSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "min": 1, "max": 3, "warmup_secs": 30,
            "policies": [
                { "type": "target_tracking", "name": "web-cpu-70", "metric": "avg_cpu", "target": 70 },
                { "type": "step_scaling", "name": "lat", "metric": "latency_p95",
                  "steps": [{ "lower_bound": 500, "adjustment": { "change_in_capacity": 1 } }] }
            ]
        }))
        .expect("valid group");
        let PolicySpec::TargetTracking(tt) = &spec.policies[0] else {
            panic!("expected target tracking, got {:?}", spec.policies[0]);
        };
        assert_eq!(tt.period, Duration::from_secs(60));
        assert_eq!((tt.scale_out_periods, tt.scale_in_periods), (3, 15));
        let PolicySpec::StepScaling(steps) = &spec.policies[1] else {
            panic!("expected step scaling, got {:?}", spec.policies[1]);
        };
        // EC2 Auto Scaling's step policies have no cooldown (only simple scaling has one).
        assert_eq!(steps.cooldown, Duration::ZERO);
        assert_eq!(steps.evaluation_periods, 1);
    }

    #[test]
    fn misspelt_fields_are_refused_rather_than_ignored() {
        let typo = serde_json::from_value::<GroupSpec>(serde_json::json!({
            "name": "web", "min": 1, "max": 3, "warmup_secs": 0,
            "policies": [{ "type": "queue_rules", "name": "q", "scale_out_cooldwn_secs": 5 }]
        }));
        assert!(typo.is_err(), "typo accepted: {typo:?}");
        let negative = serde_json::from_value::<GroupSpec>(serde_json::json!({
            "name": "web", "min": 1, "max": 3, "warmup_secs": -1
        }));
        assert!(negative.is_err(), "negative warm-up accepted: {negative:?}");
    }

    #[test]
    fn validation_refuses_min_above_max_and_desired_outside_limits() {
        let mut spec = group(vec![]);
        spec.min = 4;
        assert!(matches!(
            spec.validate(),
            Err(SpecError::MinAboveMax { .. })
        ));
        let mut spec = group(vec![]);
        spec.desired = Some(9);
        assert!(matches!(
            spec.validate(),
            Err(SpecError::DesiredOutOfRange { .. })
        ));
    }

    #[test]
    fn validation_refuses_duplicate_policy_names() {
        let spec = group(vec![
            PolicySpec::QueueRules(QueueRules::seed_002("q")),
            PolicySpec::QueueRules(QueueRules::seed_002("q")),
        ]);
        assert!(matches!(
            spec.validate(),
            Err(SpecError::DuplicatePolicy { .. })
        ));
    }

    #[test]
    fn validation_refuses_overlapping_or_inverted_steps_and_accepts_adjacent_ones() {
        let overlapping = vec![step(Some(50.0), None, 1), step(Some(40.0), Some(60.0), 2)];
        assert!(group(vec![step_policy(overlapping)]).validate().is_err());
        let inverted = vec![step(Some(60.0), Some(50.0), 1)];
        assert!(group(vec![step_policy(inverted)]).validate().is_err());
        let adjacent = vec![
            step(None, Some(30.0), -1),
            step(Some(70.0), Some(90.0), 1),
            step(Some(90.0), None, 2),
        ];
        assert_eq!(group(vec![step_policy(adjacent)]).validate(), Ok(()));
    }

    #[test]
    fn min_adjustment_magnitude_is_refused_without_a_percentage_step() {
        let with_magnitude = |adjustment: Adjustment, magnitude: u32| {
            let mut step = step(Some(70.0), None, 1);
            step.adjustment = adjustment;
            let PolicySpec::StepScaling(mut policy) = step_policy(vec![step]) else {
                unreachable!("step_policy builds a step policy")
            };
            policy.min_adjustment_magnitude = Some(magnitude);
            group(vec![PolicySpec::StepScaling(policy)]).validate()
        };
        let error = with_magnitude(Adjustment::ChangeInCapacity(1), 2).unwrap_err();
        assert!(
            error.to_string().contains("percent_change_in_capacity"),
            "{error}"
        );
        assert!(with_magnitude(Adjustment::PercentChangeInCapacity(25), 0).is_err());
        assert_eq!(
            with_magnitude(Adjustment::PercentChangeInCapacity(25), 2),
            Ok(())
        );
    }

    #[test]
    fn validation_refuses_target_tracking_on_a_total_or_a_zero_target() {
        let tt = |metric, target| {
            PolicySpec::TargetTracking(TargetTracking {
                name: "tt".into(),
                metric,
                target,
                period: Duration::from_secs(1),
                scale_out_periods: 1,
                scale_in_periods: 1,
                disable_scale_in: false,
            })
        };
        assert!(
            group(vec![tt(Metric::QueueVisible, 10.0)])
                .validate()
                .is_err()
        );
        assert!(group(vec![tt(Metric::AvgCpu, 0.0)]).validate().is_err());
        assert!(
            group(vec![tt(Metric::AvgCpu, f64::NAN)])
                .validate()
                .is_err()
        );
        assert_eq!(group(vec![tt(Metric::AvgCpu, 70.0)]).validate(), Ok(()));
    }

    #[test]
    fn percent_adjustments_round_as_aws_does() {
        let pct = Adjustment::PercentChangeInCapacity;
        assert_eq!(pct(50).delta(1), 1, "half an instance becomes one");
        assert_eq!(pct(30).delta(10), 3);
        assert_eq!(pct(27).delta(10), 2, "2.7 rounds toward zero");
        assert_eq!(pct(-10).delta(3), -1, "-0.3 becomes -1");
        assert_eq!(pct(-67).delta(10), -6, "-6.7 rounds toward zero");
        assert_eq!(pct(50).delta(0), 0);
        assert_eq!(Adjustment::ChangeInCapacity(-2).delta(7), -2);
    }

    #[test]
    fn queue_rules_sustain_is_counted_in_whole_periods() {
        let mut rules = QueueRules::seed_002("q");
        assert_eq!(rules.scale_in_periods(), 150, "300 s of 2 s periods");
        rules.scale_in_sustain = Duration::from_secs(3);
        assert_eq!(
            rules.scale_in_periods(),
            2,
            "a partial period counts as one"
        );
        rules.scale_in_sustain = Duration::ZERO;
        assert_eq!(rules.scale_in_periods(), 1);
    }
}
