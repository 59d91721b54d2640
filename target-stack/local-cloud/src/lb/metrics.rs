//! The balancer's CloudWatch metrics (namespace `AWS/ApplicationELB`), counted per window.
//!
//! The stack's sampler calls `LoadBalancer::take_window` once a second; each call returns
//! what happened since the previous one and starts a new window (swap and reset). Counters
//! are atomics bumped on the request path; the request counts live in the registry, under
//! the lock the routing decision already takes. Nothing here is held across an `.await`.
//!
//! Definitions follow ALB's: `RequestCount` counts requests for which a target was chosen
//! (so 502 and 504 count, a 503 for want of a target does not); `TargetResponseTime` runs
//! from sending the request to the target until its response head arrives, only for
//! requests that got one. Differences: the counters are read one after another, so a request
//! finishing during `take_window` may land in the next window for some counters;
//! `ActiveConnectionCount` is the number of client connections open when the window is
//! taken (ALB sums client and target connections over the period).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::StatusCode;

use super::registry::{RequestWindow, TargetState, TargetStatus};

/// What the balancer did in one window. Field docs give the CloudWatch metric names.
#[derive(Debug, Clone, PartialEq)]
pub struct LbWindow {
    /// How long the window lasted: since the previous `take_window`, or since the start.
    pub duration: Duration,
    /// `RequestCount`.
    pub request_count: u64,
    /// Requests sent to each target id (`RequestCountPerTarget` is their mean over healthy
    /// targets). Targets removed during the window keep their counts.
    pub requests_per_target: BTreeMap<u64, u64>,
    /// `TargetResponseTime` Sum, in seconds.
    pub target_response_time_sum_secs: f64,
    /// `TargetResponseTime` SampleCount.
    pub target_response_time_count: u64,
    /// `TargetResponseTime` p95 (an extended statistic), in seconds; None without responses.
    pub target_response_time_p95_secs: Option<f64>,
    /// `HTTPCode_Target_2XX_Count` .. `HTTPCode_Target_5XX_Count`.
    pub target_2xx_count: u64,
    pub target_3xx_count: u64,
    pub target_4xx_count: u64,
    pub target_5xx_count: u64,
    /// `HTTPCode_ELB_502_Count`: the target refused, reset or closed without a response.
    pub elb_502_count: u64,
    /// `HTTPCode_ELB_503_Count`: no routable target.
    pub elb_503_count: u64,
    /// `HTTPCode_ELB_504_Count`: no response head within the idle timeout.
    pub elb_504_count: u64,
    /// `HealthyHostCount` at the end of the window.
    pub healthy_host_count: u64,
    /// `UnHealthyHostCount` at the end of the window.
    pub unhealthy_host_count: u64,
    /// `ActiveConnectionCount` (approximate; see the module documentation).
    pub active_connection_count: u64,
    /// `NewConnectionCount`: client connections accepted.
    pub new_connection_count: u64,
    /// Every registered target, its state and requests in flight at the end of the window.
    pub targets: Vec<TargetStatus>,
}

impl LbWindow {
    /// The targets `RequestCountPerTarget` divides by: the healthy ones, or every registered
    /// one when none is healthy (ALB's definition,
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>);
    /// None without a registered target.
    pub fn request_count_targets(&self) -> Option<u64> {
        let targets = if self.healthy_host_count > 0 {
            self.healthy_host_count
        } else {
            self.targets.len() as u64
        };
        (targets > 0).then_some(targets)
    }

    /// `RequestCountPerTarget` for the window: `RequestCount` over
    /// [`LbWindow::request_count_targets`]. A warming target that passed its health checks
    /// counts, as on AWS: the warm-up is Auto Scaling's, the balancer does not know it.
    pub fn request_count_per_target(&self) -> Option<f64> {
        self.request_count_targets()
            .map(|targets| self.request_count as f64 / targets as f64)
    }

    /// Mean `TargetResponseTime` in seconds; None when no target answered in the window.
    pub fn target_response_time_mean_secs(&self) -> Option<f64> {
        (self.target_response_time_count > 0)
            .then(|| self.target_response_time_sum_secs / self.target_response_time_count as f64)
    }
}

/// The window's counters outside the registry.
#[derive(Debug)]
pub(super) struct Counters {
    /// Response times in microseconds, for the window's percentiles. One short lock per
    /// response: cheap next to a proxied request.
    target_response_times: Mutex<hdrhistogram::Histogram<u64>>,
    target_response_time_nanos: AtomicU64,
    target_response_time_count: AtomicU64,
    target_by_class: [AtomicU64; 4],
    elb_502: AtomicU64,
    elb_503: AtomicU64,
    elb_504: AtomicU64,
    new_connections: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            target_response_times: Mutex::new(
                // 1 µs to an hour: anything longer saturates at an hour.
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid histogram bounds"),
            ),
            target_response_time_nanos: AtomicU64::default(),
            target_response_time_count: AtomicU64::default(),
            target_by_class: Default::default(),
            elb_502: AtomicU64::default(),
            elb_503: AtomicU64::default(),
            elb_504: AtomicU64::default(),
            new_connections: AtomicU64::default(),
        }
    }
}

impl Counters {
    /// A target's response head arrived `elapsed` after the request was sent.
    pub fn target_responded(&self, status: StatusCode, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.target_response_time_nanos
            .fetch_add(nanos, Ordering::Relaxed);
        self.target_response_time_count
            .fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.target_response_times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(micros);
        // 1xx never reaches here (hyper handles it); anything past 5xx counts as 5xx.
        let class = usize::from(status.as_u16() / 100).clamp(2, 5) - 2;
        self.target_by_class[class].fetch_add(1, Ordering::Relaxed);
    }

    /// The balancer answered with `status` itself (502, 503 or 504).
    pub fn elb_answered(&self, status: StatusCode) {
        let counter = match status {
            StatusCode::BAD_GATEWAY => &self.elb_502,
            StatusCode::SERVICE_UNAVAILABLE => &self.elb_503,
            StatusCode::GATEWAY_TIMEOUT => &self.elb_504,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_accepted(&self) {
        self.new_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Builds the window from these counters (reset to zero), the registry's request counts
    /// and target states, and the open connections.
    pub fn take(
        &self,
        requests: RequestWindow,
        targets: Vec<TargetStatus>,
        active_connections: u64,
    ) -> LbWindow {
        let take = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
        let hosts_in = |state| targets.iter().filter(|t| t.state == state).count() as u64;
        let [
            target_2xx_count,
            target_3xx_count,
            target_4xx_count,
            target_5xx_count,
        ] = self.target_by_class.each_ref().map(take);
        let p95_secs = {
            let mut times = self
                .target_response_times
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let p95 = (!times.is_empty()).then(|| times.value_at_quantile(0.95) as f64 / 1e6);
            times.reset();
            p95
        };
        LbWindow {
            duration: requests.started.elapsed(),
            request_count: requests.total,
            requests_per_target: requests.per_target,
            target_response_time_sum_secs: Duration::from_nanos(take(
                &self.target_response_time_nanos,
            ))
            .as_secs_f64(),
            target_response_time_count: take(&self.target_response_time_count),
            target_response_time_p95_secs: p95_secs,
            target_2xx_count,
            target_3xx_count,
            target_4xx_count,
            target_5xx_count,
            elb_502_count: take(&self.elb_502),
            elb_503_count: take(&self.elb_503),
            elb_504_count: take(&self.elb_504),
            healthy_host_count: hosts_in(TargetState::Healthy),
            unhealthy_host_count: hosts_in(TargetState::Unhealthy),
            active_connection_count: active_connections,
            new_connection_count: take(&self.new_connections),
            targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_reports_and_resets_the_counters() {
        let counters = Counters::default();
        counters.target_responded(StatusCode::OK, Duration::from_millis(250));
        counters.target_responded(StatusCode::NOT_FOUND, Duration::from_millis(750));
        counters.target_responded(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO);
        counters.elb_answered(StatusCode::SERVICE_UNAVAILABLE);
        counters.elb_answered(StatusCode::BAD_REQUEST);
        let mut requests = RequestWindow::default();
        requests.count(4);
        let window = counters.take(requests, Vec::new(), 2);
        assert_eq!(window.request_count, 1);
        assert_eq!(window.requests_per_target[&4], 1);
        assert_eq!(window.target_response_time_count, 3);
        assert!((window.target_response_time_sum_secs - 1.0).abs() < 1e-9);
        assert_eq!(window.target_response_time_mean_secs(), Some(1.0 / 3.0));
        // p95 of {0, 250, 750} ms is the largest, within the histogram's 3 digits.
        let p95 = window.target_response_time_p95_secs.unwrap();
        assert!((p95 - 0.75).abs() < 0.001, "{p95}");
        let classes = [
            window.target_2xx_count,
            window.target_3xx_count,
            window.target_4xx_count,
            window.target_5xx_count,
        ];
        assert_eq!(classes, [1, 0, 1, 1]);
        assert_eq!(window.elb_503_count, 1);
        assert_eq!(window.active_connection_count, 2);

        let next = counters.take(RequestWindow::default(), Vec::new(), 0);
        assert_eq!(next.target_response_time_count, 0);
        assert_eq!(next.target_2xx_count + next.elb_503_count, 0);
        assert_eq!(next.target_response_time_mean_secs(), None);
        assert_eq!(next.target_response_time_p95_secs, None);
    }

    fn status(id: u64, state: TargetState) -> TargetStatus {
        TargetStatus {
            id,
            addr: "127.0.0.1:1".parse().unwrap(),
            state,
            in_flight: 0,
        }
    }

    #[test]
    fn request_count_per_target_divides_by_healthy_targets_or_else_by_every_registered_one() {
        let counters = Counters::default();
        // One request per listed target id, and the targets' states at the window's end.
        let window = |requests_to: &[u64], states: [TargetState; 3]| {
            let mut requests = RequestWindow::default();
            for &target in requests_to {
                requests.count(target);
            }
            let targets = (1..).zip(states).map(|(id, s)| status(id, s)).collect();
            counters.take(requests, targets, 0)
        };
        use TargetState::{Draining, Healthy, Initial, Unhealthy};
        let some_healthy = window(&[1, 1, 2, 2, 3, 3], [Healthy, Healthy, Initial]);
        assert_eq!(some_healthy.request_count_targets(), Some(2));
        assert_eq!(some_healthy.request_count_per_target(), Some(3.0));

        // Failing open: nothing healthy, every registered target divides.
        let none_healthy = window(&[1, 2, 3], [Unhealthy, Unhealthy, Draining]);
        assert_eq!(none_healthy.request_count_per_target(), Some(1.0));

        let nothing = counters.take(RequestWindow::default(), Vec::new(), 0);
        assert_eq!(nothing.request_count_per_target(), None);
    }
}
