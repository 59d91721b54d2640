//! The load balancer's settings: ALB's target group attributes (routing algorithm, health
//! check, deregistration delay) and the load balancer's idle timeout.
//!
//! This is the `[balancer]` table of a `stack.toml` (serde, unknown fields refused so typos
//! fail loudly). Durations are numbers of seconds, fractions allowed, in fields named
//! `*_secs` (`interval_secs = 0.1`), the convention of the rest of the stack's settings.
//! The defaults are `default-stack.toml`'s `[balancer]`, the deployed template's times. ALB's
//! own limits (thresholds 2..=10, interval 5..=300 s) are not enforced, so tests can
//! compress time; only values that cannot work are refused ([`LbConfig::validate`]).

use std::time::Duration;

use hyper::http::uri::PathAndQuery;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// How the balancer picks a target for a request (ALB's `load_balancing.algorithm.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// The routable target with the fewest requests in flight; ties go round robin.
    #[default]
    LeastOutstandingRequests,
    /// Each routable target in turn.
    RoundRobin,
}

/// The balancer's configuration; see the module documentation for units and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LbConfig {
    pub algorithm: Algorithm,
    /// The path health checks GET on each target (ALB's `HealthCheckPath`).
    pub health_path: String,
    /// Time between two health checks of one target (`HealthCheckIntervalSeconds`).
    #[serde(rename = "interval_secs", with = "secs")]
    pub interval: Duration,
    /// A check that has no response head within this time fails (`HealthCheckTimeoutSeconds`).
    /// Like ALB, it should be shorter than the interval.
    #[serde(rename = "timeout_secs", with = "secs")]
    pub timeout: Duration,
    /// Consecutive successes (HTTP 200..=399) that make a target healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a target unhealthy.
    pub unhealthy_threshold: u32,
    /// The longest a deregistering target is drained before it is removed
    /// (`deregistration_delay.timeout_seconds`).
    #[serde(rename = "deregistration_delay_secs", with = "secs")]
    pub deregistration_delay: Duration,
    /// A request with no data moving either way for this long ends: with 504 if the target
    /// has not answered yet, by closing the connection if the response had started. Idle
    /// client connections are closed after it too (`idle_timeout.timeout_seconds`).
    #[serde(rename = "idle_timeout_secs", with = "secs")]
    pub idle_timeout: Duration,
}

impl Default for LbConfig {
    /// `default-stack.toml`'s `[balancer]`: the defaults have one definition.
    fn default() -> Self {
        // The file is compiled in and checked by the tests: a section that does not parse is
        // a bug, not an input error.
        let defaults = crate::policy::stack_toml::merged("").expect("default-stack.toml is TOML");
        defaults["balancer"]
            .clone()
            .try_into()
            .expect("default-stack.toml's [balancer] is a balancer")
    }
}

impl LbConfig {
    /// Refuses settings the balancer cannot run with: a zero interval, timeout or idle
    /// timeout, a zero threshold, or a health path that is not a valid absolute path.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("interval_secs", self.interval),
            ("timeout_secs", self.timeout),
            ("idle_timeout_secs", self.idle_timeout),
        ];
        for (name, value) in nonzero {
            if value.is_zero() {
                return Err(format!("load balancer {name} must be more than zero"));
            }
        }
        if self.healthy_threshold == 0 || self.unhealthy_threshold == 0 {
            return Err("load balancer health thresholds must be at least 1".into());
        }
        let path_is_valid = self.health_path.starts_with('/')
            && PathAndQuery::try_from(self.health_path.as_str()).is_ok();
        if !path_is_valid {
            return Err(format!(
                "load balancer health_path must be a path starting with '/', got {:?}",
                self.health_path
            ));
        }
        Ok(())
    }
}

/// Durations as a number of seconds (fractions allowed).
mod secs {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(|_| {
            D::Error::custom(format!(
                "expected a non-negative number of seconds, got {seconds}"
            ))
        })
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_may_be_fractions_and_the_defaults_are_the_deployed_times() {
        let defaults = LbConfig::default();
        assert_eq!(defaults.interval, Duration::from_secs(30));
        assert_eq!(defaults.health_path, "/health");
        let mut value = serde_json::to_value(&defaults).unwrap();
        value["algorithm"] = "round_robin".into();
        value["interval_secs"] = 0.1.into();
        let config: LbConfig = serde_json::from_value(value).unwrap();
        assert_eq!(config.algorithm, Algorithm::RoundRobin);
        assert_eq!(config.interval, Duration::from_millis(100));
        assert_eq!(config.timeout, defaults.timeout);
    }

    #[test]
    fn round_trips_through_seconds() {
        let config = LbConfig {
            deregistration_delay: Duration::from_millis(1500),
            ..LbConfig::default()
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            json.contains(r#""deregistration_delay_secs":1.5"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<LbConfig>(&json).unwrap(), config);
    }

    #[test]
    fn refuses_typos_negative_seconds_and_unworkable_values() {
        assert!(serde_json::from_str::<LbConfig>(r#"{"interval": 1}"#).is_err());
        assert!(serde_json::from_str::<LbConfig>(r#"{"timeout_secs": -1}"#).is_err());
        let zero = LbConfig {
            interval: Duration::ZERO,
            ..LbConfig::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("interval_secs")
        );
        let relative = LbConfig {
            health_path: "health".into(),
            ..LbConfig::default()
        };
        assert!(relative.validate().is_err());
        let spaced = LbConfig {
            health_path: "/he alth".into(),
            ..LbConfig::default()
        };
        assert!(spaced.validate().is_err());
        assert!(LbConfig::default().validate().is_ok());
    }
}
