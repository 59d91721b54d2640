//! The local stack: what AWS gives a deployment (a load balancer, Auto Scaling groups of
//! instances, CloudWatch metrics, scaling activities), imitated on one machine with child
//! processes of this binary, so that capacity tests and autoscaling rehearsals need no
//! cloud account and produce the same telemetry.

pub mod cgroup;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod instance;
pub mod lb;
/// The policy engine lives in its own crate (`target-stack/policy`), shared with the analyzer.
pub use ::policy;
pub mod supervisor;
pub mod telemetry;
