//! Capacity models: pure functions from measured numbers to conclusions, no I/O.
//!
//! - [`usl`]: the Universal Scalability Law, fitted to (concurrency, throughput) points; where
//!   throughput peaks and why (contention or coherency).
//! - [`erlang`]: M/M/c queues (Erlang C); how many servers keep waiting under a target.
//! - [`little`]: Little's law as a check that measurements are consistent.
//! - [`knee`]: the last load within SLO, the first breach, and the KPI that warned first.
//! - [`trend`]: least-squares trends, and whether a queue's depth is growing.
//! - [`worker`]: escenario 2's figures (X, S, wait, Little's law, the queue's trend) from
//!   the rows of its run directory.
//! - [`confidence`]: 95 % intervals for percentiles and rates, and the sample sizes below
//!   which a figure is "not enough data".
//!
//! - [`analysis`]: the types of `analysis.json`, what the analyzer concludes from runs.
//! - [`advice`]: the recommendations an analysis's figures call for, by rule.
//!
//! Each model validates its input and refuses with a typed error that names the problem and
//! the fix, rather than returning NaN. Results that go into `analysis.json` are serde types.

pub mod advice;
pub mod analysis;
pub mod confidence;
pub mod cost;
pub mod erlang;
pub mod knee;
pub mod little;
pub mod trend;
pub mod usl;
pub mod worker;

pub use erlang::{
    ErlangError, MmcQueue, MmcSummary, erlang_b, erlang_c, servers_for_service_level,
    servers_for_wait,
};
pub use knee::{
    KneeError, KneeOutcome, KneeReport, KpiDegradation, KpiLimit, KpiRules, Slo, SloBound,
    SloBounds, SloBreach, SloViolation, Stage, StagePoint, find_knee,
};
pub use little::{
    ClosedModelCheck, LittleError, OpenModelCheck, closed_model_check, jobs_in_system,
    open_model_check,
};
pub use trend::{
    LinearTrend, QueueStability, QueueStabilityRule, QueueVerdict, TrendError, linear_trend,
    queue_stability,
};
pub use usl::{MIN_CONCURRENCY_LEVELS, UslError, UslFit, UslModel, UslSummary};
