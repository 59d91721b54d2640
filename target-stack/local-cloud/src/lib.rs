//! The local stack: what AWS gives a deployment (a load balancer, Auto Scaling groups of
//! instances, CloudWatch metrics, scaling activities), imitated on one machine with child
//! processes, so that capacity tests and autoscaling rehearsals need no cloud account and
//! produce the same telemetry.
//!
//! It knows the application only as AWS does: a binary each launch template runs (the
//! `target-stack` binary, in a role), `/health` behind the balancer, and what the
//! application's queue reports through [`HostedApp`] (SQS's attributes, and the tasks each
//! worker has open, for scale-in protection). `target-stack up` supplies both.

pub mod cgroup;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod hosted;
pub mod instance;
pub mod lb;
/// The policy engine lives in its own crate (`target-stack/policy`), shared with the analyzer.
pub use ::policy;
pub mod supervisor;
pub mod telemetry;

pub use hosted::{HostedApp, QueueDepth};
