//! The Auto Scaling policy engine: group state + metric window + clock → scaling decision,
//! imitating EC2 Auto Scaling (target tracking, step scaling, instance warm-up, cooldowns,
//! scale-in protection) and seed 002's queue-length rules. The local stack runs it live;
//! `analyze simulate` replays a run's measured load through it. A crate of its own so that
//! the analyzer need not depend on the stack.
//!
//! It is pure: no I/O, no processes, no async, no wall clock. Time is a `Duration` since the
//! stack started, passed in by the caller, so every rule can be tested by feeding samples
//! and stepping a number, and so tests compress AWS's minutes into seconds by configuration.
//! The local stack around it does the rest: it samples the instances once a second
//! ([`Group::observe`]), asks for a decision ([`Group::decide`]), launches or stops processes
//! accordingly, and reports back ([`Group::launched`], [`Group::terminated`],
//! [`Group::set_busy`]).
//!
//! Semantics worth knowing (each is documented where it is implemented):
//! - Metrics are averaged over in-service instances only; warming ones are left out, as AWS
//!   leaves them out of aggregated metrics ([`Group::average_cpu`]).
//! - Policies read CloudWatch-style datapoints: the mean of the samples in one metric
//!   period, complete periods only, and an alarm needs every one of its periods to breach.
//! - Target tracking sizes scale-outs from in-service capacity, so warming capacity counts
//!   toward the desired capacity and is not added twice; it has no cooldown. Step scaling and
//!   the queue rules also wait a cooldown after a scale-out. Scale-in waits until no instance
//!   is warming and for the policy's scale-in cooldown after any activity.
//! - Several policies: the largest scale-out wins; scale-in needs every policy that can scale
//!   in to agree, and takes the smallest cut; it is skipped when the smaller group would
//!   trip a scale-out at the current load (a guard against flapping that AWS lacks).
//! - Scale-in terminates the newest idle instances; busy workers are never chosen, and desired
//!   never drops below the number of busy instances.

mod decision;
mod group;
mod instances;
mod metrics;
pub mod replay;
mod rules;
mod spec;
pub mod stack_toml;

pub use decision::{Breach, Cause, Change, Comparison, Decision, Source};
pub use group::{Group, ManualError};
pub use instances::{Instance, InstanceId, InstanceState};
pub use metrics::Sample;
pub use spec::{
    Adjustment, GroupSpec, Metric, PolicySpec, Predictive, PredictiveMode, QueueRules,
    ScheduledAction, SpecError, Step, StepScaling, TargetTracking,
};

#[cfg(test)]
mod tests;
