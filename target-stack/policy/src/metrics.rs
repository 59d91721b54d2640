//! Metric samples and the window of recent ones that policies read as CloudWatch-style
//! datapoints.
//!
//! The stack's sampler sends one `Sample` per group per second. The window stores each with
//! the number of instances in service when it was taken, because target tracking needs the
//! capacity a measurement was made on, not today's capacity. Datapoints are built on demand:
//! the mean of the samples in one metric period, periods aligned to the stack's start, only
//! complete periods counted (as CloudWatch evaluates alarms on finished periods).

use std::collections::VecDeque;
use std::time::Duration;

use super::spec::Metric;

/// One second of a group's measurements. `None` is "not measured", never zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// Time since the stack started.
    pub at: Duration,
    /// Mean CPU % over in-service instances only (see `Group::average_cpu`).
    pub avg_cpu: Option<f64>,
    /// Requests per second per target, as ALB's `RequestCountPerTarget` divides: over the
    /// healthy targets (warming ones included), every registered one when none is healthy.
    pub requests_per_target: Option<f64>,
    /// The targets `requests_per_target` was divided by; None: the warmed-up instances.
    pub request_targets: Option<u32>,
    pub latency_p95_ms: Option<f64>,
    pub queue_visible: Option<u64>,
    pub busy_workers: Option<u32>,
}

impl Sample {
    /// A sample with nothing measured yet, to fill with struct update syntax.
    pub fn at(at: Duration) -> Self {
        Sample {
            at,
            ..Sample::default()
        }
    }

    /// Drops values no measurement can produce (NaN, infinities, negatives) so that one bad
    /// reading cannot poison a mean.
    fn sanitised(self) -> Self {
        let keep = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0);
        Sample {
            avg_cpu: keep(self.avg_cpu),
            requests_per_target: keep(self.requests_per_target),
            latency_p95_ms: keep(self.latency_p95_ms),
            ..self
        }
    }
}

/// A sample and the capacity it was measured on.
#[derive(Debug, Clone, PartialEq)]
struct Observation {
    sample: Sample,
    /// In service past the warm-up: what per-instance aggregates (CPU, requests per target,
    /// utilisation) are over.
    warmed_up: u32,
    /// In service, warming ones included (AWS's `GroupInServiceInstances`): what the
    /// template's backlog-per-instance metric math divides by.
    in_service: u32,
}

impl Observation {
    /// The metric's value and the total load behind it (value × in-service capacity), the
    /// quantity target tracking divides by its target.
    fn reading(&self, metric: Metric) -> Option<Reading> {
        let s = &self.sample;
        let n = f64::from(self.warmed_up);
        // A per-instance average over no instance is not a measurement.
        let per_instance = |v: Option<f64>| {
            v.filter(|_| self.warmed_up > 0).map(|value| Reading {
                value,
                load: value * n,
            })
        };
        match metric {
            Metric::AvgCpu => per_instance(s.avg_cpu),
            // The balancer's own division, undone with its own divisor: the load is the
            // group's request rate whichever targets shared it.
            Metric::RequestsPerTarget => match s.request_targets {
                Some(targets) => s.requests_per_target.map(|value| Reading {
                    value,
                    load: value * f64::from(targets),
                }),
                None => per_instance(s.requests_per_target),
            },
            Metric::LatencyP95 => per_instance(s.latency_p95_ms),
            Metric::Utilisation => {
                let busy = s.busy_workers.map(f64::from);
                per_instance(busy.map(|b| (100.0 * b / n.max(1.0)).min(100.0)))
            }
            Metric::QueueVisible => s.queue_visible.map(|q| Reading {
                value: q as f64,
                load: q as f64,
            }),
            // aforo.yaml's metric math: visible messages / GroupInServiceInstances.
            Metric::BacklogPerInstance => s.queue_visible.map(|q| Reading {
                value: q as f64 / f64::from(self.in_service.max(1)),
                load: q as f64,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    value: f64,
    load: f64,
}

/// One metric period's aggregate: the mean value and the mean load of its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Datapoint {
    pub value: f64,
    pub load: f64,
}

/// Recent observations, oldest first, kept for `horizon` behind the newest one.
#[derive(Debug, Clone)]
pub(super) struct Window {
    observations: VecDeque<Observation>,
    horizon: Duration,
}

impl Window {
    pub fn new(horizon: Duration) -> Self {
        Window {
            observations: VecDeque::new(),
            horizon,
        }
    }

    /// Adds a sample aggregated over `warmed_up` instances, with the group's whole
    /// in-service count (warming instances included) beside it. A sample older than the
    /// newest one is refused (returns false): periods are filled in time order.
    pub fn push(&mut self, sample: Sample, warmed_up: u32, in_service: u32) -> bool {
        if self
            .observations
            .back()
            .is_some_and(|last| sample.at < last.sample.at)
        {
            return false;
        }
        let cutoff = sample.at.saturating_sub(self.horizon);
        self.observations.push_back(Observation {
            sample: sample.sanitised(),
            warmed_up,
            in_service: in_service.max(warmed_up),
        });
        while self
            .observations
            .front()
            .is_some_and(|first| first.sample.at < cutoff)
        {
            self.observations.pop_front();
        }
        true
    }

    /// The last `count` complete periods of `period` before `now`, oldest first; `None` where
    /// a period has no sample of the metric (or lies before the stack started).
    pub fn datapoints(
        &self,
        metric: Metric,
        period: Duration,
        count: u32,
        now: Duration,
    ) -> Vec<Option<Datapoint>> {
        let period_ns = period.as_nanos().max(1);
        let complete = now.as_nanos() / period_ns;
        let count = count as usize;
        let first = complete.saturating_sub(count as u128);
        // Leading slots that would lie before time zero stay empty.
        let offset = count - (complete - first) as usize;

        let mut sums = vec![(0.0_f64, 0.0_f64, 0_u32); count];
        for obs in &self.observations {
            let index = obs.sample.at.as_nanos() / period_ns;
            if index < first || index >= complete {
                continue;
            }
            if let Some(reading) = obs.reading(metric) {
                let slot = &mut sums[offset + (index - first) as usize];
                slot.0 += reading.value;
                slot.1 += reading.load;
                slot.2 += 1;
            }
        }
        sums.into_iter()
            .map(|(value, load, n)| {
                (n > 0).then(|| Datapoint {
                    value: value / f64::from(n),
                    load: load / f64::from(n),
                })
            })
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.observations.len()
    }
}

/// The latest datapoint, when every one of `points` is present and satisfies `breaches`
/// (an alarm whose M of N is N of N; a missing datapoint never breaches).
pub(super) fn all_breaching(
    points: &[Option<Datapoint>],
    breaches: impl Fn(&Datapoint) -> bool,
) -> Option<Datapoint> {
    let all = !points.is_empty() && points.iter().all(|p| p.as_ref().is_some_and(&breaches));
    if all {
        points.last().copied().flatten()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn cpu(at: u64, value: f64) -> Sample {
        Sample {
            avg_cpu: Some(value),
            ..Sample::at(secs(at))
        }
    }

    #[test]
    fn a_datapoint_is_the_mean_of_its_periods_samples_and_only_complete_periods_count() {
        let mut window = Window::new(secs(60));
        for (at, value) in [(0, 10.0), (1, 30.0), (2, 50.0), (3, 70.0), (4, 90.0)] {
            assert!(window.push(cpu(at, value), 2, 2));
        }
        // Periods of 2 s: [0,2) and [2,4) are complete at t=5, [4,6) is not.
        let points = window.datapoints(Metric::AvgCpu, secs(2), 2, secs(5));
        let values: Vec<_> = points.iter().map(|p| p.map(|d| d.value)).collect();
        assert_eq!(values, vec![Some(20.0), Some(60.0)]);
        assert_eq!(
            points[1].map(|d| d.load),
            Some(120.0),
            "60 % on 2 instances"
        );
    }

    #[test]
    fn periods_without_samples_or_before_the_start_are_missing() {
        let mut window = Window::new(secs(60));
        window.push(cpu(0, 10.0), 1, 1);
        window.push(cpu(2, 10.0), 1, 1);
        let points = window.datapoints(Metric::AvgCpu, secs(1), 5, secs(3));
        assert_eq!(
            points.iter().map(Option::is_some).collect::<Vec<_>>(),
            vec![false, false, true, false, true]
        );
    }

    #[test]
    fn per_instance_metrics_over_no_instance_in_service_are_missing() {
        let mut window = Window::new(secs(60));
        window.push(
            Sample {
                queue_visible: Some(30),
                busy_workers: Some(0),
                ..cpu(0, 50.0)
            },
            0,
            0,
        );
        let at = |metric| window.datapoints(metric, secs(1), 1, secs(1))[0];
        assert_eq!(at(Metric::AvgCpu), None);
        assert_eq!(at(Metric::Utilisation), None);
        assert_eq!(
            at(Metric::BacklogPerInstance).map(|d| d.value),
            Some(30.0),
            "a group at zero still sees its backlog, so it can scale out"
        );
    }

    #[test]
    fn utilisation_is_busy_over_in_service_capped_at_all_busy() {
        let mut window = Window::new(secs(60));
        let busy = |at, n| Sample {
            busy_workers: Some(n),
            ..Sample::at(secs(at))
        };
        window.push(busy(0, 1), 4, 4);
        window.push(busy(1, 3), 2, 2);
        let points = window.datapoints(Metric::Utilisation, secs(1), 2, secs(2));
        let values: Vec<_> = points.iter().map(|p| p.map(|d| d.value)).collect();
        assert_eq!(values, vec![Some(25.0), Some(100.0)]);
    }

    #[test]
    fn impossible_readings_are_dropped_instead_of_averaged() {
        let mut window = Window::new(secs(60));
        window.push(cpu(0, f64::NAN), 1, 1);
        window.push(cpu(0, -5.0), 1, 1);
        window.push(cpu(0, 40.0), 1, 1);
        let point = window.datapoints(Metric::AvgCpu, secs(1), 1, secs(1))[0];
        assert_eq!(point.map(|d| d.value), Some(40.0));
    }

    #[test]
    fn the_window_forgets_samples_older_than_its_horizon_and_refuses_stale_ones() {
        let mut window = Window::new(secs(10));
        for at in 0..100 {
            window.push(cpu(at, 1.0), 1, 1);
        }
        assert_eq!(window.len(), 11, "samples from 89 s to 99 s");
        assert!(
            !window.push(cpu(50, 1.0), 1, 1),
            "out-of-order sample accepted"
        );
    }

    #[test]
    fn an_alarm_needs_every_datapoint_present_and_breaching() {
        let point = |v| Some(Datapoint { value: v, load: v });
        let above = |d: &Datapoint| d.value > 70.0;
        assert_eq!(
            all_breaching(&[point(80.0), point(90.0)], above).map(|d| d.value),
            Some(90.0)
        );
        assert_eq!(all_breaching(&[point(80.0), point(60.0)], above), None);
        assert_eq!(all_breaching(&[None, point(90.0)], above), None);
        assert_eq!(all_breaching(&[], above), None);
    }
}
