//! `stack.json`: what the local stack ran as (instance size, group limits, policies), written
//! by `target-stack up` beside its telemetry and copied into each run directory, so that a
//! report's environment section reads it from the run rather than from a config file that
//! may have changed since.

use serde::{Deserialize, Serialize};

/// The local stack's effective configuration, in a reader's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackDescription {
    pub format_version: u32,
    /// CPUs each instance may use (a cgroup quota where the machine allows it).
    pub instance_cpus: f64,
    /// Videos a worker instance processes at once.
    pub worker_concurrency: u32,
    /// E.g. "least outstanding requests; /health every 5 s, 2 to healthy, 2 to unhealthy".
    pub balancer: String,
    pub groups: Vec<GroupDescription>,
}

/// One Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub warmup_secs: f64,
    /// One line per policy, e.g. "web-cpu-70: target tracking, average CPU at 70".
    pub policies: Vec<String>,
}
