//! aforo's load generator: runs a scenario on Goose against a target, records every
//! request's latency to the microsecond in per-endpoint HDR histograms, and writes a run
//! directory (see docs/run-directory.md).
//!
//! Flow: [`cli`] parses argv into a [`plan::RunPlan`]; [`run`] starts the target if needed
//! and runs each level; [`engine`] drives Goose in the closed or open model, the scenarios
//! report each request to the [`recorder::Recorder`]; once a second the run closes an
//! interval into the interval log and requests.csv; [`report`] writes the summary.

#[cfg(feature = "calibration")]
pub mod calibration;
pub mod cli;
pub mod engine;
pub mod environment;
pub mod inject;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod run;
pub mod scenario2;
pub mod schedule;
pub mod stop;
pub mod target;
pub mod threshold;
