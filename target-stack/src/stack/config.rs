//! The local stack's configuration (`stack.toml`): the two groups' sizes and policies, the
//! load balancer's health checks, and per-instance resources. The defaults live in
//! `default-stack.toml` next to this file, which documents every key; a user's file
//! replaces it whole.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::lb::LbConfig;
use super::policy::{Group, GroupSpec};

pub const DEFAULT_TOML: &str = include_str!("default-stack.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    #[serde(rename = "health_check_grace_secs", deserialize_with = "secs")]
    pub health_check_grace: Duration,
    pub instance: InstanceConfig,
    pub balancer: LbConfig,
    pub web: GroupSpec,
    pub worker: GroupSpec,
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
        let config: StackConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.balancer.validate().map_err(invalid)?;
        for spec in [&config.web, &config.worker] {
            Group::new(spec.clone()).map_err(|e| invalid(e.to_string()))?;
        }
        if config.instance.cpus.is_nan() || config.instance.cpus <= 0.0 {
            return Err(invalid("instance.cpus must be above 0".into()));
        }
        Ok(config)
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
        assert_eq!(config.worker.policies[0].name(), "worker-queue-rules");
        assert_eq!(config.balancer.interval, Duration::from_secs(5));
        assert_eq!(config.health_check_grace, Duration::from_secs(30));
    }

    #[test]
    fn mistakes_name_the_file_and_the_problem() {
        let broken = DEFAULT_TOML.replace(
            "max = 3\nwarmup_secs = 30.0\n\n[[web.policies]]",
            "max = 0\nwarmup_secs = 30.0\n\n[[web.policies]]",
        );
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
}
