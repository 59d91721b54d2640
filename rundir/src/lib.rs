//! The run directory: the versioned files loadgen writes and the analyzer reads.
//!
//! One module per file of the contract (see `docs/run-directory.md`): `manifest.json`
//! ([`Manifest`]), `summary.json` ([`Summary`]), `requests.csv` ([`RequestsRow`]) and
//! `latency.hlog` ([`LatencyLogWriter`], [`read_intervals`]), `metrics.csv` ([`MetricRow`])
//! and `activities.jsonl` ([`Activity`]); [`RunDir`] knows where they live.
//! Everything is re-exported here so callers write `rundir::Manifest`.

mod activities;
mod base64;
mod error;
mod hlog;
mod layout;
mod manifest;
mod metrics;
mod queue;
mod requests;
mod run_id;
mod size;
mod stack;
mod summary;
mod tasks;
mod utc;

pub use activities::{Activity, read_activities, write_activity};
pub use error::RunDirError;
pub use hlog::{Interval, LatencyLogWriter, for_each_interval, merge, read_intervals};
pub use layout::{
    ACTIVITIES_FILE, LATENCY_LOG_FILE, MANIFEST_FILE, METRICS_FILE, QUEUE_FILE, REQUESTS_FILE,
    RunDir, STACK_FILE, SUMMARY_FILE, TASKS_FILE, cache_dir, list_runs,
};
pub use manifest::{
    FleetShard, HostInfo, LoadModel, Manifest, StackKind, Stage, Target, ToolVersions, WorkerPool,
    Workload,
};
pub use metrics::{METRICS_HEADER, MetricRow, MetricsWriter, read_metrics};
pub use queue::{QUEUE_HEADER, QueueRow, read_queue, write_queue};
pub use requests::{REQUESTS_HEADER, RequestCounts, RequestsRow, RequestsWriter, read_requests};
pub use run_id::{RunId, short_run_id, stamp};
pub use size::{millis, parse_duration, parse_percent, parse_rate, parse_size, percent_text};
pub use stack::{
    BalancerAlgorithm, BalancerSettings, GroupDescription, PolicyDescription, ScalingMetric,
    StackDescription,
};
pub use summary::{
    EndpointSummary, LatencySummary, QueueVerdict, SkippedStep, Summary, ThresholdOutcome,
    WorkerStep, WorkerSummary,
};
pub use tasks::{
    InjectReply, InjectRequest, QueueCounts, QueueDepth, QueuedTask, TASKS_HEADER, TaskOutcome,
    TaskRun, TaskStatus, TasksRow, from_epoch_ms, read_tasks, write_tasks,
};

/// The version of the run-directory format this crate writes and the newest it reads.
///
/// Adding a field does not change it (readers ignore fields they do not know); removing,
/// renaming or changing the meaning of one does.
/// Version 2: `summary.json`'s `latency_us` and thresholds' `observed` are null when there
/// is no data (version 1 wrote 0).
pub const FORMAT_VERSION: u32 = 2;
