//! The checked plan of a run: command-line options become this once, and everything after
//! matches on it, never on flags.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rundir::StackKind;

use scenarios::contract::Contract;
use scenarios::file::FileScenario;
use scenarios::profile::{self, ProfileName, StageSpec, TimeScale};
use scenarios::scenario1::Weights;
use scenarios::think::ThinkTime;

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
    /// A scenario file (`loadgen run FILE.toml`), loaded and checked.
    File(Arc<FileScenario>),
}

impl ScenarioChoice {
    /// The scenario's name in the run directory: a catalogue name, or the file's `name`.
    pub fn name(&self) -> &str {
        match self {
            Self::Scenario1 { .. } => "scenario1",
            Self::Get { .. } => "get",
            Self::File(file) => &file.name,
        }
    }

    /// What the local stack's web group runs for this scenario: `inference` for a file that
    /// says so (`[settings] app`), the ANB API otherwise.
    pub fn local_app(&self) -> Option<&str> {
        match self {
            Self::File(file) => file.app.as_deref(),
            Self::Scenario1 { .. } | Self::Get { .. } => None,
        }
    }

    /// Where the target says it is healthy.
    pub fn health_path(&self) -> String {
        match self {
            Self::Scenario1 { contract, .. } => contract.paths.health.clone(),
            // What the run will ask for is what must answer.
            Self::Get { path } => path.clone(),
            Self::File(file) => file.health.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// A running system, e.g. an AWS load balancer or another team's API, with what the run
    /// directory records about it (External, or the AWS names from `--aws-stack`).
    Host { url: String, stack: StackKind },
    /// `--aws-stack NAME`: a deployed aforo.yaml stack, read into a [`TargetChoice::Host`]
    /// by [`TargetChoice::resolve`] before the run starts.
    AwsStack {
        name: String,
        region: Option<String>,
    },
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
    /// The SLO a level's hold must meet.
    pub slo: capacity_model::Slo,
}

#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: ScenarioChoice,
    /// The pause after each iteration of a closed-model user (`--think-time`, or the
    /// scenario file's); none in the open model, whose arrivals set the pace.
    pub think_time: Option<ThinkTime>,
    /// Each iteration of a closed-model user starts at least this long after the last.
    pub pacing: Option<Duration>,
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
    /// Check that a target given by URL answers its health path before the run.
    pub health_check: bool,
    pub out_dir: PathBuf,
    pub request_timeout: Duration,
    pub command_line: Vec<String>,
    /// `--shard`: this generator's part of a fleet.
    pub fleet: Option<FleetPlan>,
    /// `--upload`: where the run directory is copied after the run (s3://BUCKET/PREFIX).
    pub upload: Option<infra::RunsLocation>,
    pub environment: crate::environment::Environment,
}

/// One generator of a fleet: its share of the level is already applied to the plan.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    pub shard: scenarios::shard::Shard,
    /// Shared by the fleet's generators; the analyzer merges runs that carry the same one.
    pub fleet: String,
    /// When every generator starts, so that their seconds line up.
    pub start_at: time::OffsetDateTime,
}

impl FleetPlan {
    pub fn manifest_shard(&self) -> rundir::FleetShard {
        rundir::FleetShard {
            fleet: self.fleet.clone(),
            index: self.shard.index(),
            count: self.shard.count(),
        }
    }
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

    /// The mean pause per request of a closed-model user (the Z of X = N / (R + Z)): the
    /// iteration's think time spread over its requests, plus the steps' own. None with
    /// pacing, where the pause depends on the response time.
    pub fn think_time_per_request(&self) -> Option<Duration> {
        if self.pacing.is_some() {
            return None;
        }
        let iteration = self.think_time.map_or(Duration::ZERO, |t| t.mean());
        Some(match &self.scenario {
            ScenarioChoice::File(file) => {
                iteration.div_f64(file.requests_per_iteration()) + file.step_think_per_request()
            }
            ScenarioChoice::Scenario1 { .. } | ScenarioChoice::Get { .. } => iteration,
        })
    }

    pub fn level_unit(&self) -> &'static str {
        match self.model {
            Model::Closed => "users",
            Model::Open { .. } => "req/s",
        }
    }
}

pub use rundir::parse_duration;

impl TargetChoice {
    /// Reads an `--aws-stack` stack's outputs; other targets are returned as they are.
    pub async fn resolve(self) -> anyhow::Result<TargetChoice> {
        match self {
            TargetChoice::AwsStack { name, region } => {
                let targets = infra::StackTargets::resolve(&name, region.as_deref()).await?;
                Ok(TargetChoice::from_stack(&targets))
            }
            other => Ok(other),
        }
    }

    /// The load balancer's URL, and the names the analyzer queries CloudWatch with.
    pub fn from_stack(targets: &infra::StackTargets) -> TargetChoice {
        TargetChoice::Host {
            url: targets.base_url.clone(),
            stack: StackKind::Aws {
                region: targets.region.clone(),
                load_balancer: Some(targets.load_balancer.clone()),
                target_groups: targets.target_groups.clone(),
                autoscaling_groups: targets.autoscaling_groups(),
                queue_urls: targets.queue_urls(),
                db_instances: targets.db_instances(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_becomes_its_balancer_and_the_names_analyze_queries() {
        let targets = infra::StackTargets {
            stack: "aforo".into(),
            region: "us-west-2".into(),
            base_url: "http://aforo-alb-1.us-west-2.elb.amazonaws.com".into(),
            load_balancer: "app/aforo-alb/1".into(),
            target_groups: vec!["targetgroup/aforo-web/2".into()],
            app: infra::StackApp::Anb,
            web_group: "aforo-web".into(),
            worker: Some(infra::WorkerPath {
                worker_group: "aforo-worker".into(),
                queue_url: "https://sqs.us-west-2.amazonaws.com/1/aforo-tasks".into(),
                dead_letter_queue_url: "https://sqs.us-west-2.amazonaws.com/1/aforo-tasks-dlq"
                    .into(),
                video_bucket: "aforo-videos".into(),
                db_instance: "aforo-db".into(),
            }),
        };
        let TargetChoice::Host { url, stack } = TargetChoice::from_stack(&targets) else {
            panic!("a stack is a host");
        };
        assert_eq!(url, targets.base_url);
        assert_eq!(
            stack,
            StackKind::Aws {
                region: "us-west-2".into(),
                load_balancer: Some("app/aforo-alb/1".into()),
                target_groups: vec!["targetgroup/aforo-web/2".into()],
                autoscaling_groups: vec!["aforo-web".into(), "aforo-worker".into()],
                queue_urls: vec![
                    "https://sqs.us-west-2.amazonaws.com/1/aforo-tasks".into(),
                    "https://sqs.us-west-2.amazonaws.com/1/aforo-tasks-dlq".into()
                ],
                db_instances: vec!["aforo-db".into()],
            }
        );
    }
}
