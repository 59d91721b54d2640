//! `stack.json`: what the local stack ran as (instance size, group limits, policies), written
//! by `target-stack up` beside its telemetry and copied into each run directory, so that a
//! report's environment section reads it from the run rather than from a config file that
//! may have changed since.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The local stack's effective configuration, in a reader's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackDescription {
    pub format_version: u32,
    /// What the web group ran: `anb` (with the worker group) or `inference` (seed 000's
    /// service alone); absent in files written before it was recorded, which were `anb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// CPUs each instance may use (a cgroup quota where the machine allows it).
    pub instance_cpus: f64,
    /// Videos a worker instance processes at once.
    pub worker_concurrency: u32,
    /// E.g. "least outstanding requests; /health every 5 s, 2 to healthy, 2 to unhealthy":
    /// [`BalancerSettings`]' English text.
    pub balancer: String,
    /// The balancer's settings as values, for a reader in another language; absent in files
    /// written before they were recorded.
    #[serde(default)]
    pub balancer_settings: Option<BalancerSettings>,
    pub groups: Vec<GroupDescription>,
}

/// The load balancer's target-group attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalancerSettings {
    pub algorithm: BalancerAlgorithm,
    pub health_path: String,
    pub interval_s: f64,
    pub timeout_s: f64,
    /// Consecutive good checks that make a target healthy, and bad ones that make it not.
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// How long a deregistered target keeps its open requests.
    pub draining_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancerAlgorithm {
    LeastOutstandingRequests,
    RoundRobin,
}

impl fmt::Display for BalancerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; {} every {} s, timeout {} s, {} to healthy, {} to unhealthy; draining {} s",
            match self.algorithm {
                BalancerAlgorithm::LeastOutstandingRequests => "least outstanding requests",
                BalancerAlgorithm::RoundRobin => "round robin",
            },
            self.health_path,
            self.interval_s,
            self.timeout_s,
            self.healthy_threshold,
            self.unhealthy_threshold,
            self.draining_s
        )
    }
}

/// One Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub warmup_secs: f64,
    /// One line per policy, e.g. "web-cpu-70: target tracking, average CPU at 70":
    /// [`PolicyDescription`]'s English text.
    pub policies: Vec<String>,
    /// The policies as values; empty in files written before they were recorded.
    #[serde(default)]
    pub policy_settings: Vec<PolicyDescription>,
}

/// A scaling policy's kind and thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicyDescription {
    TargetTracking {
        name: String,
        metric: ScalingMetric,
        target: f64,
    },
    StepScaling {
        name: String,
        metric: ScalingMetric,
        steps: usize,
    },
    /// Predictive scaling: the load one cycle ago, `buffer_s` ahead, at `target` per
    /// instance; `scales` false for forecast only.
    Predictive {
        name: String,
        metric: ScalingMetric,
        target: f64,
        cycle_s: f64,
        buffer_s: f64,
        scales: bool,
    },
    /// Seed 002's worker rules.
    QueueRules {
        name: String,
        out_queue_above: f64,
        out_utilisation_above: f64,
        out_cpu_above: f64,
        out_cooldown_s: f64,
        in_queue_below: f64,
        in_utilisation_below: f64,
        in_sustain_s: f64,
        in_cooldown_s: f64,
    },
}

/// A metric a scaling policy watches (the local stack's `stack.toml` names them so too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    /// Average CPU % over in-service instances (AWS/EC2 CPUUtilization, group average).
    AvgCpu,
    /// Requests per second per target, divided as ALB's RequestCountPerTarget is: over the
    /// healthy targets (warming instances included), every registered one when none is
    /// healthy. AWS's is a count per minute; per second keeps the unit independent of how far
    /// a test compresses time (divide an AWS target by 60).
    RequestsPerTarget,
    /// The group's p95 latency in milliseconds. Target tracking treats it as proportional to
    /// load per instance, which it only roughly is.
    LatencyP95,
    /// Visible queue messages per in-service instance (AWS's recommended SQS pattern); with
    /// no instance in service the whole backlog counts as one instance's.
    BacklogPerInstance,
    /// Visible queue messages (AWS/SQS ApproximateNumberOfMessagesVisible).
    QueueVisible,
    /// Busy workers as a % of in-service workers (capped at 100: a warming worker may already
    /// have taken a task).
    Utilisation,
}

impl ScalingMetric {
    pub fn english(self) -> &'static str {
        match self {
            ScalingMetric::AvgCpu => "average CPU %",
            ScalingMetric::RequestsPerTarget => "requests/s per target",
            ScalingMetric::LatencyP95 => "p95 latency ms",
            ScalingMetric::BacklogPerInstance => "queue backlog per instance",
            ScalingMetric::QueueVisible => "visible queue messages",
            ScalingMetric::Utilisation => "worker utilisation %",
        }
    }

    /// The CloudWatch-style name used in causes and alarm descriptions.
    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            ScalingMetric::AvgCpu => "CPUUtilization",
            ScalingMetric::RequestsPerTarget => "RequestCountPerTarget",
            ScalingMetric::LatencyP95 => "TargetResponseTimeP95",
            ScalingMetric::BacklogPerInstance => "BacklogPerInstance",
            ScalingMetric::QueueVisible => "ApproximateNumberOfMessagesVisible",
            ScalingMetric::Utilisation => "WorkerUtilization",
        }
    }
}

/// The CloudWatch-style name.
impl fmt::Display for ScalingMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cloudwatch_name())
    }
}

impl fmt::Display for PolicyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyDescription::TargetTracking {
                name,
                metric,
                target,
            } => write!(
                f,
                "{name}: target tracking, {} at {target}",
                metric.english()
            ),
            PolicyDescription::StepScaling {
                name,
                metric,
                steps,
            } => write!(
                f,
                "{name}: step scaling on {}, {steps} steps",
                metric.english()
            ),
            PolicyDescription::Predictive {
                name,
                metric,
                target,
                cycle_s,
                buffer_s,
                scales,
            } => write!(
                f,
                "{name}: predictive scaling, {} at {target}, forecast from {cycle_s} s earlier, \
                 {buffer_s} s ahead{}",
                metric.english(),
                if *scales { "" } else { " (forecast only)" }
            ),
            PolicyDescription::QueueRules {
                name,
                out_queue_above,
                out_utilisation_above,
                out_cpu_above,
                out_cooldown_s,
                in_queue_below,
                in_utilisation_below,
                in_sustain_s,
                in_cooldown_s,
            } => write!(
                f,
                "{name}: out when queue > {out_queue_above} or utilisation > \
                 {out_utilisation_above} % or CPU > {out_cpu_above} % (cooldown \
                 {out_cooldown_s} s); in when queue < {in_queue_below} and utilisation < \
                 {in_utilisation_below} % for {in_sustain_s} s (cooldown {in_cooldown_s} s)"
            ),
        }
    }
}
