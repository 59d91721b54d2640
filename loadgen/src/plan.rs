//! The checked plan of a run: command-line options become this once, and everything after
//! matches on it, never on flags.

use std::path::PathBuf;
use std::time::Duration;

use scenarios::contract::Contract;
use scenarios::profile::{self, ProfileName, StageSpec, TimeScale};
use scenarios::scenario1::Weights;

use crate::engine::Model;
use crate::threshold::Threshold;

#[derive(Debug, Clone)]
pub enum ScenarioChoice {
    Scenario1 {
        contract: Box<Contract>,
        weights: Weights,
        upload_size: u64,
    },
    Get {
        path: String,
    },
}

impl ScenarioChoice {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Scenario1 { .. } => "scenario1",
            Self::Get { .. } => "get",
        }
    }

    /// Where the target says it is healthy.
    pub fn health_path(&self) -> String {
        match self {
            Self::Scenario1 { contract, .. } => contract.paths.health.clone(),
            Self::Get { .. } => "/health".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// A running system, e.g. an AWS load balancer or another team's API.
    Host(String),
    /// Start target-stack on loopback for the run and stop it afterwards.
    Local {
        binary: Option<PathBuf>,
        keep_data: bool,
        /// A stack.toml whose sections replace the local stack's defaults.
        stack_config: Option<PathBuf>,
    },
}

/// What the search profile tries and how it judges a level.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub levels: Vec<f64>,
    /// The SLO: p95 at most this (µs) and errors at most this fraction, during the hold.
    pub p95_us: f64,
    pub max_error_rate: f64,
}

#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: ScenarioChoice,
    pub profile: ProfileName,
    pub model: Model,
    /// Users (closed) or arrivals per second (open); for search, the first level.
    pub level: f64,
    pub hold: Option<Duration>,
    pub time_scale: TimeScale,
    pub search: Option<SearchPlan>,
    pub target: TargetChoice,
    pub thresholds: Vec<Threshold>,
    pub abort_on_fail: bool,
    pub out_dir: PathBuf,
    pub request_timeout: Duration,
    pub command_line: Vec<String>,
}

impl RunPlan {
    /// The stages of one run at `level`, already time-scaled.
    pub fn stages(&self, level: f64) -> Vec<StageSpec> {
        profile::stages(self.profile, level, self.hold, self.time_scale)
    }

    /// Levels to run: one, or the search's.
    pub fn levels(&self) -> Vec<f64> {
        match &self.search {
            Some(search) => search.levels.clone(),
            None => vec![self.level],
        }
    }

    pub fn level_unit(&self) -> &'static str {
        match self.model {
            Model::Closed => "users",
            Model::Open { .. } => "req/s",
        }
    }
}

pub use rundir::parse_duration;
