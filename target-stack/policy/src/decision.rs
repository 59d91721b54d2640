//! What the engine decided and why, in a form the stack can act on and log.
//!
//! `Decision` is what to do (launch, or terminate these instances); `Cause` is the
//! machine-readable why, rendered like the `Cause` of AWS's DescribeScalingActivities. The
//! engine knows no calendar, so the caller supplies the timestamp when rendering.

use std::fmt;

use super::instances::InstanceId;
use super::spec::Metric;

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Desired capacity after this decision (unchanged when `change` is `None`).
    pub desired: u32,
    pub change: Change,
    /// Present whenever `change` is not `None`.
    pub cause: Option<Cause>,
    /// One line for people: what was seen and why this was (or was not) done.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    None,
    /// Launch `by` instances.
    Out {
        by: u32,
    },
    /// Desired dropped by `by`; stop `terminate` (already marked terminating). It may hold
    /// fewer than `by` ids when some of the capacity had not been launched yet.
    In {
        by: u32,
        terminate: Vec<InstanceId>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub source: Source,
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A policy's alarm fired. `breaches` are the conditions that held, with the values seen.
    Alarm {
        alarm: String,
        policy: String,
        breaches: Vec<Breach>,
    },
    /// An operator's SetDesiredCapacity.
    UserRequest,
    /// A scheduled action set the group's limits or desired capacity.
    Scheduled { action: String, min: u32, max: u32 },
}

/// One alarm condition as it was met: `metric` `comparison` `threshold`, observed `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub metric: Metric,
    pub value: f64,
    pub comparison: Comparison,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Comparison::GreaterThan => ">",
            Comparison::GreaterThanOrEqual => ">=",
            Comparison::LessThan => "<",
        })
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.metric,
            number(self.value),
            self.comparison,
            number(self.threshold)
        )
    }
}

impl Cause {
    /// The policy that caused this, if a policy did.
    pub fn policy(&self) -> Option<&str> {
        match &self.source {
            Source::Alarm { policy, .. } => Some(policy),
            Source::Scheduled { action, .. } => Some(action),
            Source::UserRequest => None,
        }
    }

    /// AWS's activity cause: `At <at> a monitor alarm ... changing the desired capacity from
    /// 1 to 2.` with `at` as the caller formats it (AWS writes RFC 3339 UTC).
    pub fn render(&self, at: &str) -> String {
        format!("At {at} {self}.")
    }
}

impl fmt::Display for Cause {
    /// The cause after its timestamp, without the final full stop.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Alarm { alarm, policy, .. } => write!(
                f,
                "a monitor alarm {alarm} in state ALARM triggered policy {policy}"
            )?,
            Source::UserRequest => {
                f.write_str("a user request explicitly set group desired capacity")?
            }
            // AWS: "a scheduled action update of AutoScalingGroup constraints to min: 1,
            // max: 4, desired: 2 changing the desired capacity from 1 to 2".
            Source::Scheduled { action, min, max } => write!(
                f,
                "a scheduled action {action} update of AutoScalingGroup constraints to min: \
                 {min}, max: {max}, desired: {}",
                self.to
            )?,
        }
        write!(
            f,
            " changing the desired capacity from {} to {}",
            self.from, self.to
        )
    }
}

/// A metric value for people: whole numbers without decimals, others with two.
pub(super) fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_cause_renders_like_an_aws_scaling_activity() {
        let cause = Cause {
            source: Source::Alarm {
                alarm: "TargetTracking-web-web-cpu-70-AlarmHigh".into(),
                policy: "web-cpu-70".into(),
                breaches: vec![Breach {
                    metric: Metric::AvgCpu,
                    value: 90.0,
                    comparison: Comparison::GreaterThan,
                    threshold: 70.0,
                }],
            },
            from: 1,
            to: 2,
        };
        assert_eq!(
            cause.render("2026-11-23T10:00:00Z"),
            "At 2026-11-23T10:00:00Z a monitor alarm TargetTracking-web-web-cpu-70-AlarmHigh \
             in state ALARM triggered policy web-cpu-70 changing the desired capacity from 1 to 2."
        );
        assert_eq!(cause.policy(), Some("web-cpu-70"));
    }

    #[test]
    fn a_user_request_renders_like_aws_set_desired_capacity() {
        let cause = Cause {
            source: Source::UserRequest,
            from: 1,
            to: 3,
        };
        assert_eq!(
            cause.to_string(),
            "a user request explicitly set group desired capacity changing the desired \
             capacity from 1 to 3"
        );
    }

    #[test]
    fn breaches_print_metric_value_comparison_and_threshold() {
        let breach = Breach {
            metric: Metric::QueueVisible,
            value: 1.5,
            comparison: Comparison::LessThan,
            threshold: 2.0,
        };
        assert_eq!(
            breach.to_string(),
            "ApproximateNumberOfMessagesVisible 1.50 < 2"
        );
    }
}
