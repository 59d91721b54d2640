//! M/M/c queues (Erlang C): how many servers (workers, instances) keep waiting acceptable.
//!
//! Jobs arrive at random (Poisson, rate λ), each takes an exponentially distributed service
//! time S (rate μ = 1/S) on one of c identical servers, and wait in one unbounded FIFO queue
//! when all are busy. The offered load a = λS (in erlangs) is the average number of busy
//! servers the work needs; the queue is stable only when a < c.
//!
//! Erlang C, the probability that a job has to wait, is computed through the Erlang B
//! recursion, which never forms aᶜ or c! and so neither overflows nor loses precision for
//! hundreds of servers.
//!
//! Real services are rarely exactly Markovian (service times of a video pipeline are not
//! exponential); treat the results as a first sizing, to be checked against measured waits.

use serde::{Deserialize, Serialize};

/// Why an M/M/c computation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErlangError {
    #[error("an M/M/c queue needs at least one server, got 0")]
    NoServers,

    #[error("{what} must be a finite number {requirement}, got {value}")]
    InvalidInput {
        what: &'static str,
        requirement: &'static str,
        value: f64,
    },

    #[error(
        "offered load {offered_load} erlangs is not below {servers} servers (utilisation \
         {utilisation:.3}): the queue grows without bound; add servers, shorten the service \
         time or lower the arrival rate"
    )]
    Unstable {
        servers: u32,
        offered_load: f64,
        utilisation: f64,
    },

    #[error("no server count up to {max} meets the target; the target is unreachable", max = u32::MAX)]
    Unreachable,
}

/// Erlang B: the probability that a job finding all `servers` busy would be lost if there
/// were no queue. Computed by the recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)),
/// which is stable for any load. Defined for any load, even a ≥ c.
pub fn erlang_b(servers: u32, offered_load: f64) -> Result<f64, ErlangError> {
    check(offered_load, "offered load", NonNegative)?;
    Ok((1..=servers).fold(1.0, |b, k| next_erlang_b(b, k, offered_load)))
}

/// Erlang C: the probability that an arriving job has to wait, for `servers` servers and
/// `offered_load` a = λ/μ erlangs. Refuses (rather than return a meaningless number) when
/// a ≥ c, where every job eventually waits and waits grow without bound.
pub fn erlang_c(servers: u32, offered_load: f64) -> Result<f64, ErlangError> {
    let b = erlang_b(servers, offered_load)?;
    if servers == 0 {
        return Err(ErlangError::NoServers);
    }
    stable(servers, offered_load)?;
    Ok(erlang_c_from_b(servers, offered_load, b))
}

/// An M/M/c queue that is known to be stable (offered load below the server count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmcQueue {
    arrival_rate: f64,
    service_time: f64,
    servers: u32,
    probability_of_waiting: f64,
}

impl MmcQueue {
    /// `arrival_rate` in jobs per time unit, `service_time` the mean time one server spends on
    /// a job in the same time unit (e.g. 20 per second and 0.25 seconds).
    pub fn new(arrival_rate: f64, service_time: f64, servers: u32) -> Result<Self, ErlangError> {
        check(arrival_rate, "arrival rate", NonNegative)?;
        check(service_time, "service time", Positive)?;
        let offered_load = arrival_rate * service_time;
        Ok(Self {
            arrival_rate,
            service_time,
            servers,
            probability_of_waiting: erlang_c(servers, offered_load)?,
        })
    }

    pub fn arrival_rate(&self) -> f64 {
        self.arrival_rate
    }

    pub fn service_time(&self) -> f64 {
        self.service_time
    }

    pub fn servers(&self) -> u32 {
        self.servers
    }

    /// a = λS, the mean number of busy servers, in erlangs.
    pub fn offered_load(&self) -> f64 {
        self.arrival_rate * self.service_time
    }

    /// ρ = a/c, the fraction of time each server is busy; below 1 by construction.
    pub fn utilisation(&self) -> f64 {
        self.offered_load() / f64::from(self.servers)
    }

    /// Erlang C: the probability that an arriving job waits at all.
    pub fn probability_of_waiting(&self) -> f64 {
        self.probability_of_waiting
    }

    /// Mean time in the queue before service, Wq = C / (cμ − λ), in the time unit of the
    /// inputs. Averages over all jobs, including those that do not wait.
    pub fn mean_wait(&self) -> f64 {
        self.probability_of_waiting / self.spare_rate()
    }

    /// Mean time from arrival to completion, Wq + S.
    pub fn mean_response_time(&self) -> f64 {
        self.mean_wait() + self.service_time
    }

    /// Mean number of jobs waiting (not in service), Lq = λWq by Little's law.
    pub fn mean_queue_length(&self) -> f64 {
        self.arrival_rate * self.mean_wait()
    }

    /// P(wait > t) = C·e^(−(cμ − λ)t): the share of jobs that wait longer than `t`. One
    /// minus it is the "service level" of call centres (share answered within `t`).
    pub fn probability_wait_exceeds(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return self.probability_of_waiting;
        }
        self.probability_of_waiting * (-self.spare_rate() * t).exp()
    }

    /// cμ − λ: the rate at which the servers could work off a queue.
    fn spare_rate(&self) -> f64 {
        f64::from(self.servers) / self.service_time - self.arrival_rate
    }

    /// Every figure, for `analysis.json`.
    pub fn summary(&self) -> MmcSummary {
        MmcSummary {
            arrival_rate: self.arrival_rate,
            service_time: self.service_time,
            servers: self.servers,
            offered_load: self.offered_load(),
            utilisation: self.utilisation(),
            probability_of_waiting: self.probability_of_waiting,
            mean_wait: self.mean_wait(),
            mean_response_time: self.mean_response_time(),
            mean_queue_length: self.mean_queue_length(),
        }
    }
}

/// An [`MmcQueue`] as it goes into `analysis.json`; times in the unit of the inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmcSummary {
    pub arrival_rate: f64,
    pub service_time: f64,
    pub servers: u32,
    pub offered_load: f64,
    pub utilisation: f64,
    pub probability_of_waiting: f64,
    pub mean_wait: f64,
    pub mean_response_time: f64,
    pub mean_queue_length: f64,
}

/// The fewest servers for which the mean wait Wq is at most `target_wait` (and the queue is
/// stable: utilisation below 1). Times in one unit, e.g. seconds and jobs per second.
///
/// `target_wait` must be greater than zero: with any load some jobs wait, so Wq is never 0.
pub fn servers_for_wait(
    arrival_rate: f64,
    service_time: f64,
    target_wait: f64,
) -> Result<u32, ErlangError> {
    check(target_wait, "target wait", Positive)?;
    smallest_stable_servers(arrival_rate, service_time, |queue| {
        queue.mean_wait() <= target_wait
    })
}

/// The fewest servers for which at least `fraction` of jobs wait no longer than
/// `answer_within` (the call-centre "service level", e.g. 80 % within 20 s).
pub fn servers_for_service_level(
    arrival_rate: f64,
    service_time: f64,
    answer_within: f64,
    fraction: f64,
) -> Result<u32, ErlangError> {
    check(answer_within, "answer-within time", NonNegative)?;
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(ErlangError::InvalidInput {
            what: "service-level fraction",
            requirement: "strictly between 0 and 1",
            value: fraction,
        });
    }
    smallest_stable_servers(arrival_rate, service_time, |queue| {
        1.0 - queue.probability_wait_exceeds(answer_within) >= fraction
    })
}

/// Walks c upwards from the first stable count, carrying the Erlang B recursion along (so
/// the search costs O(c) in all), and returns the first c that satisfies `good`. Every
/// target here is met eventually: as c grows, C falls to 0.
fn smallest_stable_servers(
    arrival_rate: f64,
    service_time: f64,
    good: impl Fn(&MmcQueue) -> bool,
) -> Result<u32, ErlangError> {
    check(arrival_rate, "arrival rate", NonNegative)?;
    check(service_time, "service time", Positive)?;
    let load = arrival_rate * service_time;
    let mut b = 1.0;
    for servers in 1..=u32::MAX {
        b = next_erlang_b(b, servers, load);
        if load >= f64::from(servers) {
            continue;
        }
        let queue = MmcQueue {
            arrival_rate,
            service_time,
            servers,
            probability_of_waiting: erlang_c_from_b(servers, load, b),
        };
        if good(&queue) {
            return Ok(servers);
        }
    }
    Err(ErlangError::Unreachable)
}

fn next_erlang_b(previous: f64, servers: u32, load: f64) -> f64 {
    let carried = load * previous;
    carried / (f64::from(servers) + carried)
}

/// C = cB / (c − a(1 − B)), valid for a < c.
fn erlang_c_from_b(servers: u32, load: f64, b: f64) -> f64 {
    let c = f64::from(servers);
    c * b / (c - load * (1.0 - b))
}

fn stable(servers: u32, offered_load: f64) -> Result<(), ErlangError> {
    if offered_load >= f64::from(servers) {
        return Err(ErlangError::Unstable {
            servers,
            offered_load,
            utilisation: offered_load / f64::from(servers),
        });
    }
    Ok(())
}

use Requirement::{NonNegative, Positive};

#[derive(Clone, Copy)]
enum Requirement {
    NonNegative,
    Positive,
}

fn check(value: f64, what: &'static str, requirement: Requirement) -> Result<(), ErlangError> {
    let (ok, requirement) = match requirement {
        NonNegative => (value >= 0.0, "≥ 0"),
        Positive => (value > 0.0, "> 0"),
    };
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ErlangError::InvalidInput {
            what,
            requirement,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        let error = ((actual - expected) / expected).abs();
        assert!(
            error <= tolerance,
            "got {actual}, expected {expected} (relative error {error:e})"
        );
    }

    #[test]
    fn one_server_reduces_to_mm1() {
        // M/M/1: C = ρ, Wq = ρ/(μ − λ).
        let (arrival_rate, service_time) = (3.0, 0.25); // μ = 4, ρ = 0.75
        let queue = MmcQueue::new(arrival_rate, service_time, 1).unwrap();
        assert_close(queue.probability_of_waiting(), 0.75, 1e-12);
        assert_close(queue.mean_wait(), 0.75 / (4.0 - 3.0), 1e-12);
        assert_close(queue.mean_response_time(), 1.0 / (4.0 - 3.0), 1e-12);
        assert_close(
            queue.probability_wait_exceeds(2.0),
            0.75 * (-2.0f64).exp(),
            1e-12,
        );
    }

    #[test]
    fn two_servers_match_the_closed_form() {
        // M/M/2: C = 2ρ²/(1 + ρ) with ρ = a/2.
        for a in [0.1, 0.5, 1.0, 1.5, 1.9] {
            let rho: f64 = a / 2.0;
            assert_close(
                erlang_c(2, a).unwrap(),
                2.0 * rho * rho / (1.0 + rho),
                1e-12,
            );
        }
    }

    #[test]
    fn erlang_b_matches_its_closed_form() {
        // B(2, a) = (a²/2) / (1 + a + a²/2).
        let a: f64 = 3.0;
        assert_close(erlang_b(2, a).unwrap(), 4.5 / 8.5, 1e-12);
    }

    /// The call-centre example of Call Centre Helper's "Erlang C Formula – Made Simple With
    /// an Easy Worked Example": 100 calls per half hour, 180 s handling time (10 erlangs),
    /// 80 % answered within 20 s. The figures are as published by pyworkforce
    /// (rodrigo-arenas/pyworkforce, README, `ErlangC(transactions=100, aht=3, interval=30,
    /// asa=20/60)`): 14 agents, service level 0.8883500191794669, waiting probability
    /// 0.1741319335950498, occupancy 0.7142857142857143.
    #[test]
    fn reproduces_the_published_call_centre_example() {
        let arrival_rate = 100.0 / 1800.0; // calls per second
        let service_time = 180.0;
        assert_eq!(
            servers_for_service_level(arrival_rate, service_time, 20.0, 0.8),
            Ok(14)
        );
        let queue = MmcQueue::new(arrival_rate, service_time, 14).unwrap();
        assert_close(queue.offered_load(), 10.0, 1e-12);
        assert_close(queue.utilisation(), 0.7142857142857143, 1e-12);
        assert_close(queue.probability_of_waiting(), 0.1741319335950498, 1e-12);
        assert_close(
            1.0 - queue.probability_wait_exceeds(20.0),
            0.8883500191794669,
            1e-12,
        );
        // 13 agents miss the 80 % target, which is why the answer is 14.
        let thirteen = MmcQueue::new(arrival_rate, service_time, 13).unwrap();
        assert!(1.0 - thirteen.probability_wait_exceeds(20.0) < 0.8);
    }

    #[test]
    fn stays_finite_for_many_servers() {
        // aᶜ/c! would overflow f64 long before this.
        let c = erlang_c(1000, 950.0).unwrap();
        assert!(c.is_finite() && c > 0.0 && c < 1.0, "{c}");
    }

    #[test]
    fn unstable_load_is_an_error_not_nan() {
        assert!(matches!(
            erlang_c(4, 4.0),
            Err(ErlangError::Unstable { servers: 4, .. })
        ));
        assert!(matches!(
            MmcQueue::new(10.0, 1.0, 8),
            Err(ErlangError::Unstable { .. })
        ));
        assert_eq!(erlang_c(0, 0.5), Err(ErlangError::NoServers));
        assert!(matches!(
            erlang_c(3, f64::NAN),
            Err(ErlangError::InvalidInput { .. })
        ));
        let message = erlang_c(4, 5.0).unwrap_err().to_string();
        assert!(message.contains("add servers"), "{message}");
    }

    #[test]
    fn servers_for_wait_rejects_a_zero_target() {
        assert!(matches!(
            servers_for_wait(1.0, 1.0, 0.0),
            Err(ErlangError::InvalidInput { .. })
        ));
    }

    #[test]
    fn no_load_needs_one_server() {
        assert_eq!(servers_for_wait(0.0, 1.0, 0.001), Ok(1));
    }

    #[test]
    fn summary_serializes() {
        let json = serde_json::to_value(MmcQueue::new(3.0, 0.25, 1).unwrap().summary()).unwrap();
        assert_eq!(json["servers"], 1);
        assert!(json["mean_wait"].as_f64().unwrap() > 0.0);
    }

    proptest! {
        /// The answer is the smallest count: it meets the target and one fewer does not.
        #[test]
        fn servers_for_wait_is_the_smallest_sufficient_count(
            arrival_rate in 0.1..500.0f64,
            service_time in 0.001..2.0f64,
            target_wait in 0.0001..10.0f64,
        ) {
            let servers = servers_for_wait(arrival_rate, service_time, target_wait).unwrap();
            let queue = MmcQueue::new(arrival_rate, service_time, servers).unwrap();
            prop_assert!(queue.mean_wait() <= target_wait);
            prop_assert!(queue.utilisation() < 1.0);
            if servers > 1 {
                match MmcQueue::new(arrival_rate, service_time, servers - 1) {
                    Ok(fewer) => prop_assert!(fewer.mean_wait() > target_wait),
                    Err(error) => {
                        let unstable = matches!(error, ErlangError::Unstable { .. });
                        prop_assert!(unstable, "unexpected error {error}");
                    }
                }
            }
        }

        #[test]
        fn probability_of_waiting_is_a_probability(servers in 1u32..300, load_share in 0.0..0.999f64) {
            let c = erlang_c(servers, load_share * f64::from(servers)).unwrap();
            prop_assert!((0.0..=1.0).contains(&c));
        }
    }
}
