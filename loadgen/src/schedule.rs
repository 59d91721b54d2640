//! The open model's arrival schedule: when the k-th request is due, for stages of
//! arrival rates that hold or ramp linearly.
//!
//! Arrivals are evenly spaced within the rate (deterministic, like wrk2's constant
//! throughput), so latency percentiles are not blurred by arrival noise. For a ramp from
//! rate r0 to r1 over T the arrivals so far are N(t) = r0·t + (r1 − r0)·t²/(2T); the due
//! time of arrival k solves N(t) = k.

use std::time::Duration;

use scenarios::profile::StageSpec;

#[derive(Debug, Clone)]
pub struct Schedule {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
struct Segment {
    start: f64,
    duration: f64,
    from_rate: f64,
    to_rate: f64,
    /// Arrivals before this segment.
    arrivals_before: f64,
}

impl Segment {
    fn arrivals(&self) -> f64 {
        (self.from_rate + self.to_rate) / 2.0 * self.duration
    }

    /// Seconds into the segment at which `n` arrivals have happened.
    fn time_of(&self, n: f64) -> f64 {
        let slope = (self.to_rate - self.from_rate) / self.duration;
        if slope.abs() < 1e-12 {
            return n / self.from_rate;
        }
        // slope/2 · t² + r0 · t − n = 0, the root in [0, duration].
        let disc = (self.from_rate * self.from_rate + 2.0 * slope * n).max(0.0);
        ((disc.sqrt() - self.from_rate) / slope).clamp(0.0, self.duration)
    }
}

impl Schedule {
    /// Stages whose levels are arrivals per second.
    pub fn new(stages: &[StageSpec]) -> Self {
        let mut segments = Vec::new();
        let (mut start, mut previous, mut before) = (0.0, 0.0, 0.0);
        for stage in stages {
            let duration = stage.duration.as_secs_f64();
            let from_rate = if stage.ramp { previous } else { stage.level };
            if duration > 0.0 {
                let segment = Segment {
                    start,
                    duration,
                    from_rate,
                    to_rate: stage.level,
                    arrivals_before: before,
                };
                before += segment.arrivals();
                segments.push(segment);
            }
            start += duration;
            previous = stage.level;
        }
        Self { segments }
    }

    /// All arrivals the schedule holds.
    pub fn len(&self) -> u64 {
        self.segments
            .last()
            .map_or(0, |s| (s.arrivals_before + s.arrivals()).floor() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When arrival `k` (from 0) is due, from the schedule's start; None past the end.
    pub fn due(&self, k: u64) -> Option<Duration> {
        // Arrival k happens when the running count reaches k + 1/2: spacing 1/rate,
        // starting half an interval in.
        let n = k as f64 + 0.5;
        if k >= self.len() {
            return None;
        }
        let segment = self
            .segments
            .iter()
            .rev()
            .find(|s| s.arrivals_before <= n)
            .unwrap_or(&self.segments[0]);
        let t = segment.start + segment.time_of(n - segment.arrivals_before);
        Some(Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stage(seconds: f64, rate: f64, ramp: bool) -> StageSpec {
        StageSpec {
            name: String::new(),
            duration: Duration::from_secs_f64(seconds),
            level: rate,
            ramp,
        }
    }

    #[test]
    fn a_constant_rate_spaces_arrivals_evenly() {
        let s = Schedule::new(&[stage(10.0, 100.0, false)]);
        assert_eq!(s.len(), 1000);
        assert_eq!(s.due(0), Some(Duration::from_millis(5)));
        assert_eq!(s.due(1), Some(Duration::from_millis(15)));
        assert_eq!(s.due(999), Some(Duration::from_millis(9995)));
        assert_eq!(s.due(1000), None);
    }

    #[test]
    fn a_ramp_from_zero_holds_half_the_arrivals_of_a_plateau() {
        let s = Schedule::new(&[stage(10.0, 100.0, true), stage(10.0, 100.0, false)]);
        assert_eq!(s.len(), 1500);
        // Half of the ramp's 500 arrivals come in its last 29% (t² growth).
        let mid = s.due(250).unwrap().as_secs_f64();
        assert!((mid - 10.0 / 2f64.sqrt()).abs() < 0.02, "{mid}");
        assert!((s.due(500).unwrap().as_secs_f64() - 10.0).abs() < 0.01);
    }

    proptest! {
        #[test]
        fn due_times_never_go_back_and_stay_inside_the_stages(
            rates in proptest::collection::vec((0.5f64..200.0, any::<bool>()), 1..4),
        ) {
            let stages: Vec<_> = rates.iter().map(|(r, ramp)| stage(2.0, *r, *ramp)).collect();
            let s = Schedule::new(&stages);
            let end = 2.0 * stages.len() as f64;
            let mut last = 0.0;
            for k in 0..s.len() {
                let t = s.due(k).unwrap().as_secs_f64();
                prop_assert!(t + 1e-9 >= last, "arrival {} at {} before {}", k, t, last);
                prop_assert!(t <= end + 1e-9);
                last = t;
            }
        }

        #[test]
        fn the_count_matches_the_integral_of_the_rate(rate in 1.0f64..500.0, seconds in 1.0f64..20.0) {
            let s = Schedule::new(&[stage(seconds, rate, false)]);
            prop_assert_eq!(s.len(), (rate * seconds).floor() as u64);
        }
    }
}
