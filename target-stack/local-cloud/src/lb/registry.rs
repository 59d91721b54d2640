//! The registered targets: their health states, the routing decision, and the in-flight
//! counts that least outstanding requests and connection draining rely on.
//!
//! Imitates an ALB target group: a new target starts `Initial` and gets no traffic until
//! `healthy_threshold` consecutive checks pass; `unhealthy_threshold` consecutive failures
//! take it out of service; a deregistering target is `Draining` and gets nothing new. ALB
//! "fails open": when no target is healthy it routes to the unhealthy ones rather than to
//! none. Here that means every `Unhealthy` target (never `Initial` or `Draining` ones), so a
//! freshly launched replacement does not turn an all-unhealthy group into 503s before its
//! first checks have run.
//!
//! Everything here runs under the balancer's one registry lock, which is never held across
//! an `.await`; the routing decision and the request count of the window happen in the same
//! critical section, so per-target counts always add up to the total.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hyper::http::uri::Authority;
use serde::Serialize;
use tokio::sync::Notify;

use super::config::Algorithm;

/// A target's place in the life cycle ALB reports in `DescribeTargetHealth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Registered, not yet through `healthy_threshold` checks: no traffic.
    Initial,
    Healthy,
    /// Failed `unhealthy_threshold` checks in a row: no traffic unless no target is healthy.
    Unhealthy,
    /// Deregistering: no new requests; the ones in flight finish.
    Draining,
}

/// One target as the balancer sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub id: u64,
    pub addr: SocketAddr,
    pub state: TargetState,
    /// Requests sent to it whose response has not been fully delivered.
    pub in_flight: u64,
}

/// A registered target, shared with its health checker and the requests in flight to it.
#[derive(Debug)]
pub(super) struct Target {
    pub id: u64,
    pub addr: SocketAddr,
    /// `addr` as a URI authority, made once rather than per request.
    pub authority: Authority,
    in_flight: AtomicU64,
    became_idle: Notify,
}

impl Target {
    fn new(id: u64, addr: SocketAddr) -> Self {
        let authority = Authority::try_from(addr.to_string())
            .expect("a socket address is a valid URI authority");
        Self {
            id,
            addr,
            authority,
            in_flight: AtomicU64::new(0),
            became_idle: Notify::new(),
        }
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Returns once no request is in flight to this target.
    pub async fn idle(&self) {
        loop {
            let notified = self.became_idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the check and the await
            // still wakes us.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A request in flight to a target; dropping it ends the request for routing and draining.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Target>);

impl InFlight {
    fn start(target: &Arc<Target>) -> Self {
        target.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(target))
    }

    pub fn target(&self) -> &Target {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.became_idle.notify_waiters();
        }
    }
}

/// What a health check result did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckOutcome {
    Unchanged,
    Changed {
        from: TargetState,
        to: TargetState,
    },
    /// The target is draining or gone: stop checking it.
    Retired,
}

#[derive(Debug)]
struct Entry {
    target: Arc<Target>,
    state: TargetState,
    consecutive_successes: u32,
    consecutive_failures: u32,
    /// `Registry::choices` when this target was last chosen; 0 if never.
    last_chosen: u64,
}

/// The targets in registration order and the window's request counts.
#[derive(Debug, Default)]
pub(super) struct Registry {
    entries: Vec<Entry>,
    /// Routing decisions made so far: the clock of `Entry::last_chosen`.
    choices: u64,
    requests: RequestWindow,
}

impl Registry {
    /// Adds a target in `Initial` and returns it, so the caller can start its health checks.
    /// Registering an id again with the same address is a no-op (as in ALB) unless the target
    /// is draining, which cancels the deregistration by starting it over; a new address
    /// replaces the old target.
    pub fn register(&mut self, id: u64, addr: SocketAddr) -> Option<Arc<Target>> {
        if let Some(index) = self.entries.iter().position(|e| e.target.id == id) {
            let existing = &self.entries[index];
            if existing.target.addr == addr && existing.state != TargetState::Draining {
                return None;
            }
            self.entries.remove(index);
        }
        let target = Arc::new(Target::new(id, addr));
        self.entries.push(Entry {
            target: Arc::clone(&target),
            state: TargetState::Initial,
            consecutive_successes: 0,
            consecutive_failures: 0,
            last_chosen: 0,
        });
        Some(target)
    }

    /// Puts the target in `Draining` and returns it; None if `id` is not registered.
    pub fn start_draining(&mut self, id: u64) -> Option<Arc<Target>> {
        let entry = self.entries.iter_mut().find(|e| e.target.id == id)?;
        entry.state = TargetState::Draining;
        Some(Arc::clone(&entry.target))
    }

    /// Removes this very target (not a later registration under the same id).
    pub fn remove(&mut self, target: &Arc<Target>) {
        self.entries.retain(|e| !Arc::ptr_eq(&e.target, target));
    }

    /// Picks the target for one request, counts the request in the window and marks it in
    /// flight. None when no target is routable (the caller answers 503).
    ///
    /// Round robin is "least recently chosen", which stays fair while targets come and go;
    /// least outstanding requests breaks ties the same way.
    pub fn choose(&mut self, algorithm: Algorithm) -> Option<InFlight> {
        let any_healthy = self.entries.iter().any(|e| e.state == TargetState::Healthy);
        let routable = if any_healthy {
            TargetState::Healthy
        } else {
            TargetState::Unhealthy // fail open
        };
        let chosen = self
            .entries
            .iter_mut()
            .filter(|e| e.state == routable)
            .min_by_key(|e| match algorithm {
                Algorithm::RoundRobin => (0, e.last_chosen),
                Algorithm::LeastOutstandingRequests => (e.target.in_flight(), e.last_chosen),
            })?;
        self.choices += 1;
        chosen.last_chosen = self.choices;
        self.requests.count(chosen.target.id);
        Some(InFlight::start(&chosen.target))
    }

    /// Applies one health check result to `target`'s consecutive counts and state.
    pub fn record_check(
        &mut self,
        target: &Arc<Target>,
        passed: bool,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> CheckOutcome {
        let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.target, target))
        else {
            return CheckOutcome::Retired;
        };
        let from = entry.state;
        let to = if passed {
            entry.consecutive_failures = 0;
            entry.consecutive_successes = entry.consecutive_successes.saturating_add(1);
            match from {
                TargetState::Initial | TargetState::Unhealthy
                    if entry.consecutive_successes >= healthy_threshold =>
                {
                    TargetState::Healthy
                }
                other => other,
            }
        } else {
            entry.consecutive_successes = 0;
            entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
            match from {
                TargetState::Initial | TargetState::Healthy
                    if entry.consecutive_failures >= unhealthy_threshold =>
                {
                    TargetState::Unhealthy
                }
                other => other,
            }
        };
        match (from, to) {
            (TargetState::Draining, _) => CheckOutcome::Retired,
            (from, to) if from == to => CheckOutcome::Unchanged,
            (from, to) => {
                entry.state = to;
                CheckOutcome::Changed { from, to }
            }
        }
    }

    pub fn statuses(&self) -> Vec<TargetStatus> {
        self.entries
            .iter()
            .map(|e| TargetStatus {
                id: e.target.id,
                addr: e.target.addr,
                state: e.state,
                in_flight: e.target.in_flight(),
            })
            .collect()
    }

    /// The window's request counts, replaced by an empty window starting now.
    pub fn take_requests(&mut self) -> RequestWindow {
        std::mem::take(&mut self.requests)
    }
}

/// Requests routed in the current window; kept in the registry, under its lock.
#[derive(Debug)]
pub(super) struct RequestWindow {
    pub started: Instant,
    pub total: u64,
    pub per_target: BTreeMap<u64, u64>,
}

impl Default for RequestWindow {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            total: 0,
            per_target: BTreeMap::new(),
        }
    }
}

impl RequestWindow {
    pub fn count(&mut self, target: u64) {
        self.total += 1;
        *self.per_target.entry(target).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A registry with targets 1..=n, each marked healthy or unhealthy.
    fn registry(states: &[TargetState]) -> (Registry, Vec<Arc<Target>>) {
        let mut registry = Registry::default();
        let mut targets = Vec::new();
        for (i, state) in states.iter().enumerate() {
            let id = i as u64 + 1;
            let target = registry.register(id, addr(8000 + id as u16)).unwrap();
            let passed = match state {
                TargetState::Healthy => true,
                TargetState::Unhealthy => false,
                TargetState::Initial | TargetState::Draining => continue,
            };
            registry.record_check(&target, passed, 1, 1);
            targets.push(target);
        }
        (registry, targets)
    }

    fn pick(registry: &mut Registry, algorithm: Algorithm) -> Option<u64> {
        registry.choose(algorithm).map(|f| f.target().id)
    }

    #[test]
    fn round_robin_takes_healthy_targets_in_turn() {
        use TargetState::*;
        let (mut registry, _) = registry(&[Healthy, Unhealthy, Healthy, Initial]);
        let picks: Vec<_> = (0..4)
            .map(|_| pick(&mut registry, Algorithm::RoundRobin).unwrap())
            .collect();
        assert_eq!(picks, [1, 3, 1, 3]);
    }

    #[test]
    fn least_outstanding_prefers_the_idle_target_and_breaks_ties_in_turn() {
        use TargetState::*;
        let (mut registry, _) = registry(&[Healthy, Healthy, Healthy]);
        let busy = registry
            .choose(Algorithm::LeastOutstandingRequests)
            .unwrap();
        let busy_id = busy.target().id;
        let others: Vec<_> = (0..4)
            .map(|_| pick(&mut registry, Algorithm::LeastOutstandingRequests).unwrap())
            .collect();
        assert!(!others.contains(&busy_id), "{others:?} busy {busy_id}");
        assert_eq!(others[0], others[2], "ties alternate: {others:?}");
        assert_eq!(others[1], others[3], "ties alternate: {others:?}");
        assert_ne!(others[0], others[1], "ties alternate: {others:?}");
        drop(busy);
        assert_eq!(
            registry.statuses().iter().map(|s| s.in_flight).sum::<u64>(),
            0
        );
    }

    #[test]
    fn fails_open_to_unhealthy_targets_but_never_to_initial_or_draining_ones() {
        use TargetState::*;
        let (mut registry, _) = registry(&[Unhealthy, Initial, Unhealthy]);
        let picks: Vec<_> = (0..4)
            .map(|_| pick(&mut registry, Algorithm::RoundRobin).unwrap())
            .collect();
        assert_eq!(picks, [1, 3, 1, 3]);
        registry.start_draining(1);
        registry.start_draining(3);
        assert_eq!(pick(&mut registry, Algorithm::RoundRobin), None);
        assert_eq!(pick(&mut Registry::default(), Algorithm::RoundRobin), None);
    }

    #[test]
    fn thresholds_count_consecutive_results_only() {
        let mut registry = Registry::default();
        let target = registry.register(7, addr(9000)).unwrap();
        let mut check = |passed| registry.record_check(&target, passed, 3, 2);
        assert_eq!(check(true), CheckOutcome::Unchanged);
        assert_eq!(check(true), CheckOutcome::Unchanged);
        assert_eq!(
            check(false),
            CheckOutcome::Unchanged,
            "a failure resets successes"
        );
        assert_eq!(check(true), CheckOutcome::Unchanged);
        assert_eq!(check(true), CheckOutcome::Unchanged);
        let healthy = CheckOutcome::Changed {
            from: TargetState::Initial,
            to: TargetState::Healthy,
        };
        assert_eq!(check(true), healthy);
        assert_eq!(check(false), CheckOutcome::Unchanged);
        let unhealthy = CheckOutcome::Changed {
            from: TargetState::Healthy,
            to: TargetState::Unhealthy,
        };
        assert_eq!(check(false), unhealthy);
        assert_eq!(check(false), CheckOutcome::Unchanged);
    }

    #[test]
    fn draining_stops_checks_and_reregistering_restarts_the_target() {
        let mut registry = Registry::default();
        let old = registry.register(1, addr(9001)).unwrap();
        assert!(
            registry.register(1, addr(9001)).is_none(),
            "same target: no-op"
        );
        registry.start_draining(1);
        assert_eq!(
            registry.record_check(&old, true, 1, 1),
            CheckOutcome::Retired
        );
        let new = registry
            .register(1, addr(9001))
            .expect("draining target restarts");
        registry.remove(&old);
        let states: Vec<_> = registry.statuses().iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [TargetState::Initial],
            "removing the old one kept the new"
        );
        registry.remove(&new);
        assert!(registry.statuses().is_empty());
    }

    #[test]
    fn request_counts_add_up_per_target() {
        use TargetState::*;
        let (mut registry, _) = registry(&[Healthy, Healthy]);
        for _ in 0..5 {
            registry.choose(Algorithm::RoundRobin);
        }
        let window = registry.take_requests();
        assert_eq!(window.total, 5);
        assert_eq!(window.per_target.values().sum::<u64>(), 5);
        assert_eq!(registry.take_requests().total, 0);
    }
}
