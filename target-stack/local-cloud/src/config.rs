//! The local stack's configuration (`stack.toml`): which app the web group runs, the two
//! groups' sizes and policies, the load balancer's health checks, and per-instance
//! resources. The defaults live in the policy crate's `default-stack.toml` (shared with
//! `analyze simulate`), which documents every key; each top-level key or section a user's
//! file names replaces the default one whole (a `[web]` without policies has none) except
//! `[balancer]`, whose keys replace the defaults' one by one, and the sections it leaves out
//! keep their defaults (`stack_toml::merged`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::lb::LbConfig;
use crate::policy::{Group, GroupSpec, stack_toml};

pub use crate::policy::stack_toml::DEFAULT as DEFAULT_TOML;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// What the web group runs; with [`App::Inference`] there is no worker group.
    pub app: App,
    #[serde(rename = "health_check_grace_secs", deserialize_with = "secs")]
    pub health_check_grace: Duration,
    pub instance: InstanceConfig,
    pub balancer: LbConfig,
    pub web: GroupSpec,
    pub worker: GroupSpec,
}

/// The system the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum App {
    /// The ANB video API in the web group and its video worker in the worker group.
    #[default]
    Anb,
    /// Seed 000's ML inference service in the web group, and no worker group.
    Inference,
}

impl App {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anb => "anb",
            Self::Inference => "inference",
        }
    }

    /// Whether the stack has a worker group (and so needs the database and queue).
    pub fn has_workers(self) -> bool {
        self == Self::Anb
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    pub cpus: f64,
    pub worker_concurrency: u32,
}

fn secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = f64::deserialize(d)?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| serde::de::Error::custom(format!("{value} is not a number of seconds ≥ 0")))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid stack configuration: {message}")]
    Invalid { path: String, message: String },
}

impl StackConfig {
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        };
        let merged = stack_toml::merged(text).map_err(|e| invalid(e.to_string()))?;
        let config: StackConfig = merged
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        config.balancer.validate().map_err(invalid)?;
        for spec in [&config.web, &config.worker] {
            Group::new(spec.clone()).map_err(|e| invalid(e.to_string()))?;
        }
        if config.instance.cpus.is_nan() || config.instance.cpus <= 0.0 {
            return Err(invalid("instance.cpus must be above 0".into()));
        }
        Ok(config)
    }

    /// The groups the stack runs: the web group, and the worker group when the app has one.
    pub fn groups(&self) -> Vec<&GroupSpec> {
        let mut groups = vec![&self.web];
        if self.app.has_workers() {
            groups.push(&self.worker);
        }
        groups
    }

    /// What the stack runs as, for the run directory's `stack.json`.
    pub fn describe(&self) -> rundir::StackDescription {
        let b = &self.balancer;
        let balancer = rundir::BalancerSettings {
            algorithm: match b.algorithm {
                crate::lb::Algorithm::LeastOutstandingRequests => {
                    rundir::BalancerAlgorithm::LeastOutstandingRequests
                }
                crate::lb::Algorithm::RoundRobin => rundir::BalancerAlgorithm::RoundRobin,
            },
            health_path: b.health_path.clone(),
            interval_s: b.interval.as_secs_f64(),
            timeout_s: b.timeout.as_secs_f64(),
            healthy_threshold: b.healthy_threshold,
            unhealthy_threshold: b.unhealthy_threshold,
            draining_s: b.deregistration_delay.as_secs_f64(),
        };
        rundir::StackDescription {
            format_version: rundir::FORMAT_VERSION,
            app: Some(self.app.as_str().to_string()),
            instance_cpus: self.instance.cpus,
            worker_concurrency: self.instance.worker_concurrency,
            balancer: balancer.to_string(),
            balancer_settings: Some(balancer),
            groups: self
                .groups()
                .into_iter()
                .map(|g| {
                    let policies: Vec<rundir::PolicyDescription> =
                        g.policies.iter().map(|p| p.describe()).collect();
                    rundir::GroupDescription {
                        name: g.name.clone(),
                        min: g.min,
                        max: g.max,
                        warmup_secs: g.warmup.as_secs_f64(),
                        policies: policies.iter().map(ToString::to_string).collect(),
                        policy_settings: policies,
                    }
                })
                .collect(),
        }
    }

    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            None => Self::parse(DEFAULT_TOML, "the default stack configuration"),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Self::parse(&text, &path.display().to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_parse_into_aws_like_groups() {
        let config = StackConfig::load(None).unwrap();
        assert_eq!((config.web.min, config.web.max), (1, 3));
        assert_eq!(config.web.policies.len(), 2);
        // aforo.yaml's worker policy (target-stack/infra's tests check the two agree).
        assert_eq!(
            config.worker.policies[0].name(),
            "worker-backlog-per-instance"
        );
        // aforo.yaml's times (infra's tests/it/scaling.rs checks every one).
        assert_eq!(config.balancer.interval, Duration::from_secs(30));
        assert_eq!(config.health_check_grace, Duration::from_secs(300));
        let d = config.describe();
        assert_eq!((d.groups[0].min, d.groups[0].max), (1, 3));
        assert_eq!(
            d.groups[0].policies[0],
            "web-cpu-70: target tracking, average CPU % at 70"
        );
        assert!(d.groups[1].policies[0].contains("at 4"), "{d:?}");
        // The same as values, for a report in another language.
        assert_eq!(
            d.groups[0].policy_settings[0],
            rundir::PolicyDescription::TargetTracking {
                name: "web-cpu-70".into(),
                metric: rundir::ScalingMetric::AvgCpu,
                target: 70.0
            }
        );
        assert_eq!(d.balancer_settings.as_ref().unwrap().interval_s, 30.0);
        assert!(
            d.balancer
                .starts_with("least outstanding requests; /health every 30 s")
        );
    }

    #[test]
    fn the_inference_app_has_only_the_web_group_with_the_seeds_policies() {
        let anb = StackConfig::load(None).unwrap();
        assert_eq!(anb.app, App::Anb);
        assert_eq!(anb.describe().groups.len(), 2);
        let config = StackConfig::parse("app = \"inference\"\n", "inference.toml").unwrap();
        assert_eq!(config.app, App::Inference);
        let d = config.describe();
        assert_eq!(d.groups.len(), 1, "no worker group: {d:?}");
        assert_eq!(d.groups[0].name, "web");
        // Seed 000: target tracking on CPU 70 % and on requests per target.
        assert_eq!(
            d.groups[0].policies,
            [
                "web-cpu-70: target tracking, average CPU % at 70",
                "web-requests-per-target: target tracking, requests/s per target at 50",
            ]
        );
        let err = StackConfig::parse("app = \"video\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("anb") && err.contains("inference"), "{err}");
    }

    #[test]
    fn mistakes_name_the_file_and_the_problem() {
        let broken = DEFAULT_TOML.replace(
            "name = \"web\"\nmin = 1\nmax = 3\n",
            "name = \"web\"\nmin = 1\nmax = 0\n",
        );
        assert_ne!(broken, DEFAULT_TOML);
        let err = StackConfig::parse(&broken, "my-stack.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("my-stack.toml") && err.contains("max"),
            "{err}"
        );
        let err = StackConfig::parse("[web]\nnme = 1", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml"), "{err}");
    }

    #[test]
    fn a_balancer_section_keeps_the_default_of_each_key_it_leaves_out() {
        let config = StackConfig::parse("[balancer]\ninterval_secs = 0.5\n", "lb.toml").unwrap();
        let expected = crate::lb::LbConfig {
            interval: Duration::from_millis(500),
            ..crate::lb::LbConfig::default()
        };
        assert_eq!(config.balancer, expected);
        assert_eq!(config.balancer.unhealthy_threshold, 5);
        let err = StackConfig::parse("[balancer]\nintervl_secs = 0.5\n", "lb.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("intervl_secs"), "{err}");
    }

    #[test]
    fn a_partial_file_replaces_only_the_sections_it_names() {
        let config = StackConfig::parse(
            "health_check_grace_secs = 5.0\n[web]\nname = \"web\"\nmin = 2\nmax = 4\nwarmup_secs = 1.0\n",
            "partial.toml",
        )
        .unwrap();
        let defaults = StackConfig::load(None).unwrap();
        assert_eq!(config.health_check_grace, Duration::from_secs(5));
        assert_eq!((config.web.min, config.web.max), (2, 4));
        assert!(
            config.web.policies.is_empty(),
            "a named section is replaced whole"
        );
        assert_eq!(config.worker, defaults.worker);
        assert_eq!(config.balancer, defaults.balancer);
        assert_eq!(config.instance, defaults.instance);
    }
}
