//! Little's law, L = λW, as a consistency check on measurements.
//!
//! Over any steady stretch, the mean number of jobs in a system equals their arrival rate
//! times the mean time each spends there. It needs no assumptions about distributions, so a
//! measurement that breaks it is wrong somewhere, not merely unusual:
//!
//! - **Closed model** (a fixed number of users, each requesting, waiting for the answer, then
//!   thinking): users = X · (R + Z), with X the throughput, R the response time and Z the
//!   think time. Fewer implied users than configured means users spent time the
//!   measurement did not see, typically a saturated load generator (waiting for a
//!   connection or a thread) whose delay is missing from R. More implied users than
//!   configured usually means R or X was measured over a different window than the users.
//! - **Open model** (arrivals at a rate, e.g. a queue): jobs in system = λ · W.

use serde::{Deserialize, Serialize};

/// Why a Little's law check was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LittleError {
    #[error("{what} must be a finite number {requirement}, got {value}")]
    InvalidInput {
        what: &'static str,
        requirement: &'static str,
        value: f64,
    },
}

/// A closed-model check: the users the load generator ran against those its measurements
/// imply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedModelCheck {
    /// Users the load generator ran (mean over the window).
    pub measured_users: f64,
    /// X · (R + Z).
    pub implied_users: f64,
    /// (implied − measured) / measured; negative when the measurements account for fewer
    /// users than ran.
    pub relative_discrepancy: f64,
}

impl ClosedModelCheck {
    /// Whether the two agree within `tolerance` (a fraction, e.g. 0.05 for 5 %).
    pub fn holds_within(&self, tolerance: f64) -> bool {
        self.relative_discrepancy.abs() <= tolerance
    }
}

/// An open-model check: jobs observed in the system against λ · W.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenModelCheck {
    /// Jobs in the system (mean over the window), e.g. queue depth plus jobs in service.
    pub measured_in_system: f64,
    /// λ · W.
    pub implied_in_system: f64,
    /// (implied − measured) / measured.
    pub relative_discrepancy: f64,
}

impl OpenModelCheck {
    /// Whether the two agree within `tolerance` (a fraction, e.g. 0.05 for 5 %).
    pub fn holds_within(&self, tolerance: f64) -> bool {
        self.relative_discrepancy.abs() <= tolerance
    }
}

/// Checks a closed-model stage: `users` ran at `throughput` (requests per second) with mean
/// `response_time` and `think_time` (seconds; any one time unit works if the throughput uses
/// it too).
pub fn closed_model_check(
    users: f64,
    throughput: f64,
    response_time: f64,
    think_time: f64,
) -> Result<ClosedModelCheck, LittleError> {
    positive(users, "users")?;
    non_negative(throughput, "throughput")?;
    non_negative(response_time, "response time")?;
    non_negative(think_time, "think time")?;
    let implied_users = throughput * (response_time + think_time);
    Ok(ClosedModelCheck {
        measured_users: users,
        implied_users,
        relative_discrepancy: (implied_users - users) / users,
    })
}

/// L = λW: mean jobs in a system that receives `arrival_rate` jobs per time unit and keeps
/// each for `time_in_system` time units.
pub fn jobs_in_system(arrival_rate: f64, time_in_system: f64) -> Result<f64, LittleError> {
    non_negative(arrival_rate, "arrival rate")?;
    non_negative(time_in_system, "time in system")?;
    Ok(arrival_rate * time_in_system)
}

/// Checks an open-model measurement: `measured_in_system` jobs on average, against
/// `arrival_rate` × `time_in_system`.
pub fn open_model_check(
    measured_in_system: f64,
    arrival_rate: f64,
    time_in_system: f64,
) -> Result<OpenModelCheck, LittleError> {
    positive(measured_in_system, "measured jobs in system")?;
    let implied_in_system = jobs_in_system(arrival_rate, time_in_system)?;
    Ok(OpenModelCheck {
        measured_in_system,
        implied_in_system,
        relative_discrepancy: (implied_in_system - measured_in_system) / measured_in_system,
    })
}

fn positive(value: f64, what: &'static str) -> Result<(), LittleError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(LittleError::InvalidInput {
            what,
            requirement: "> 0",
            value,
        })
    }
}

fn non_negative(value: f64, what: &'static str) -> Result<(), LittleError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(LittleError::InvalidInput {
            what,
            requirement: "≥ 0",
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_closed_model_has_no_discrepancy() {
        // 100 users, 1 s think time, 0.25 s response time: 80 requests per second.
        let check = closed_model_check(100.0, 80.0, 0.25, 1.0).unwrap();
        assert!((check.implied_users - 100.0).abs() < 1e-12);
        assert!(check.relative_discrepancy.abs() < 1e-12);
        assert!(check.holds_within(0.01));
    }

    #[test]
    fn saturated_load_generator_shows_as_missing_users() {
        // 100 users ran, but the measurements account for only 60.
        let check = closed_model_check(100.0, 48.0, 0.25, 1.0).unwrap();
        assert!((check.implied_users - 60.0).abs() < 1e-12);
        assert!((check.relative_discrepancy + 0.4).abs() < 1e-12);
        assert!(!check.holds_within(0.05));
    }

    #[test]
    fn open_model_is_arrival_rate_times_time() {
        assert_eq!(jobs_in_system(20.0, 0.5), Ok(10.0));
        let check = open_model_check(11.0, 20.0, 0.5).unwrap();
        assert!((check.implied_in_system - 10.0).abs() < 1e-12);
        assert!((check.relative_discrepancy + 1.0 / 11.0).abs() < 1e-12);
        assert!(check.holds_within(0.1));
        assert!(!check.holds_within(0.05));
    }

    #[test]
    fn refuses_zero_users_and_negative_times() {
        assert!(closed_model_check(0.0, 10.0, 0.1, 0.0).is_err());
        assert!(closed_model_check(10.0, 10.0, -0.1, 0.0).is_err());
        assert!(jobs_in_system(f64::INFINITY, 1.0).is_err());
        let message = closed_model_check(0.0, 1.0, 1.0, 1.0)
            .unwrap_err()
            .to_string();
        assert_eq!(message, "users must be a finite number > 0, got 0");
    }
}
