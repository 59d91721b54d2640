//! `manifest.json`: what was run, against what, how and when — the analyzer's starting point.
//!
//! loadgen writes it when the run starts (`ended_at: null`) and again when it ends, so a killed
//! run still says what it was.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::RunId;

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`crate::FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    pub run_id: RunId,
    pub scenario: String,
    /// "smoke", "ramp", "sustained", "search" or "custom".
    pub profile: String,
    /// How load was applied.
    pub load_model: LoadModel,
    pub target: Target,
    /// RFC 3339, UTC.
    #[serde(with = "crate::utc")]
    pub started_at: OffsetDateTime,
    /// RFC 3339, UTC; `None` while running or if the run was killed.
    #[serde(with = "crate::utc::option", default)]
    pub ended_at: Option<OffsetDateTime>,
    /// Durations of the profile were multiplied by this (1.0 = as specified).
    pub time_scale: f64,
    pub stages: Vec<Stage>,
    /// Threshold expressions as given on the command line.
    pub thresholds: Vec<String>,
    pub tool: ToolVersions,
    pub host: HostInfo,
    pub command_line: Vec<String>,
    /// What each user or task carried, as far as it shapes the load; empty in manifests
    /// written before it was recorded.
    #[serde(default)]
    pub workload: Workload,
    /// One generator of a fleet (`loadgen run --shard I/N`); absent for a lone generator.
    /// The analyzer merges the runs of one fleet into one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<FleetShard>,
}

/// The parts of a scenario that shape its load, for a report to disclose.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Bytes of each uploaded video (scenario 1's `upload_size`, scenario 2's `--size`).
    #[serde(default)]
    pub upload_bytes: Option<u64>,
    /// Pause between one user's requests, in seconds; 0: none, a user sends its next
    /// request as soon as the previous one is answered.
    /// With several requests an iteration, the iteration's think time is spread over them:
    /// this is the Z of the response-time law, X = N / (R + Z). Unknown (None) with pacing,
    /// where the pause depends on the response time.
    #[serde(default)]
    pub think_time_s: Option<f64>,
    /// The think time as given (`2s`, `1s..3s`, `exp:2s`): what a report shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<String>,
    /// Pacing: each iteration started at least this long after the user's last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing_s: Option<f64>,
    /// The scenario file the run came from (`loadgen run FILE.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<String>,
    /// Escenario 1's API contract as it ran, every key included (the `--contract` file
    /// over the defaults): which paths were called and which statuses counted as success.
    /// Absent for other scenarios and in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<serde_json::Value>,
    /// Escenario 2: the worker pool the tasks went to, as configured on the local stack or
    /// declared for `--host`. Absent for other scenarios and in manifests written before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_pool: Option<WorkerPool>,
}

/// The workers of a scenario-2 run: `instances` × `concurrency` tasks at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPool {
    pub instances: u32,
    /// Tasks each instance processes at once.
    pub concurrency: u32,
}

/// Which generator of which fleet wrote a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetShard {
    /// Shared by every generator of the fleet, e.g. `20261201T170000Z-scenario1-fleet`; a
    /// valid run id, which the merged run takes.
    pub fleet: String,
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

/// How load was applied: a fixed population of users, or arrivals at a rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadModel {
    /// Each user sends its next request when the previous one finishes.
    Closed { max_users: u32 },
    /// Requests arrive at a rate regardless of responses, up to `max_in_flight` outstanding.
    Open {
        max_rate_per_sec: f64,
        max_in_flight: u32,
    },
}

/// What was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Base URL requests went to.
    pub url: String,
    pub stack: StackKind,
}

/// What the target is, and the names the analyzer needs to fetch its server-side metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StackKind {
    /// loadgen started the system under test on this machine.
    Local { data_dir: Option<String> },
    /// A host given with `--host` that aforo knows nothing more about.
    External,
    /// An AWS deployment: the names the analyzer needs to query CloudWatch / Auto Scaling.
    Aws {
        region: String,
        load_balancer: Option<String>,
        target_groups: Vec<String>,
        autoscaling_groups: Vec<String>,
        queue_urls: Vec<String>,
        /// RDS DBInstanceIdentifiers (added after format 1's first release; absent = none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        db_instances: Vec<String>,
    },
}

/// One step of the load timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// E.g. "ramp to 100", "hold 100".
    pub name: String,
    /// Milliseconds from `started_at`.
    pub start_offset_ms: u64,
    pub duration_ms: u64,
    /// Closed model: users at the end of the stage.
    pub users: Option<u32>,
    /// Open model: arrivals per second at the end of the stage.
    pub rate_per_sec: Option<f64>,
    /// True when the level moves linearly from the previous stage's level to this one's.
    pub ramp: bool,
}

impl Stage {
    /// A level as a stage's name writes it ("hold 100", "hold 2.5"): whole numbers bare,
    /// others to one decimal.
    pub fn level_text(level: f64) -> String {
        if level.fract() == 0.0 {
            format!("{level:.0}")
        } else {
            format!("{level:.1}")
        }
    }
}

/// Versions of the tools that produced the run, to tell apart changes in the tool from
/// changes in the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    pub aforo: String,
    pub goose: String,
    pub hdrhistogram: String,
}

/// The machine loadgen ran on; a saturated load generator looks like a slow target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub cores: usize,
    /// `std::env::consts::OS`, e.g. "linux".
    pub os: String,
    pub hostname: String,
}

impl HostInfo {
    /// This machine; fields that cannot be found are 1 core and hostname "unknown".
    pub fn current() -> HostInfo {
        HostInfo {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_owned(),
            hostname: hostname(),
        }
    }
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn load_models_are_tagged_by_kind() {
        let closed = LoadModel::Closed { max_users: 100 };
        assert_eq!(
            serde_json::to_value(&closed).unwrap(),
            json!({"kind": "closed", "max_users": 100})
        );
        let open = LoadModel::Open {
            max_rate_per_sec: 50.5,
            max_in_flight: 1000,
        };
        assert_eq!(
            serde_json::to_value(&open).unwrap(),
            json!({"kind": "open", "max_rate_per_sec": 50.5, "max_in_flight": 1000})
        );
    }

    #[test]
    fn stack_kinds_are_tagged_by_kind() {
        assert_eq!(
            serde_json::to_value(StackKind::External).unwrap(),
            json!({"kind": "external"})
        );
        assert_eq!(
            serde_json::to_value(StackKind::Local { data_dir: None }).unwrap(),
            json!({"kind": "local", "data_dir": null})
        );
        let aws: StackKind = serde_json::from_value(json!({
            "kind": "aws", "region": "eu-west-1", "load_balancer": "app/anb/1",
            "target_groups": ["tg"], "autoscaling_groups": ["api", "worker"], "queue_urls": []
        }))
        .unwrap();
        assert!(matches!(aws, StackKind::Aws { ref region, .. } if region == "eu-west-1"));
    }

    #[test]
    fn host_info_is_filled() {
        let h = HostInfo::current();
        assert!(h.cores >= 1);
        assert!(!h.os.is_empty());
        assert!(!h.hostname.is_empty() && !h.hostname.contains('\n'));
    }
}
