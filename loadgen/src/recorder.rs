//! Records every request into per-endpoint HDR histograms (microseconds, 3 significant
//! digits) and counters, per second.
//!
//! The hot path ([`Recorder::record`]) takes one short lock, records one value and bumps
//! counters; nothing else. Once a second [`Recorder::rotate`] hands the finished second
//! to the writer (interval log, requests.csv) and folds it into the run's totals. Derived
//! figures are computed at the end from the totals.
//!
//! Transport failures that never reached the target (connection refused) carry no
//! latency; every other request's latency is recorded, errors and timeouts included, so
//! a struggling target shows in the percentiles.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use scenarios::record::{Failure, Outcome, Recorder as ScenarioRecorder, RequestRecord};

/// Counts and latencies of one endpoint over some span.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub latency_us: Histogram<u64>,
    pub requests: u64,
    pub successes: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub errors_other: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

pub fn new_histogram() -> Histogram<u64> {
    // Auto-resizing from 1 µs: covers anything a request can take.
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            latency_us: new_histogram(),
            requests: 0,
            successes: 0,
            errors_4xx: 0,
            errors_5xx: 0,
            errors_other: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

impl Bucket {
    pub fn errors(&self) -> u64 {
        self.requests - self.successes
    }

    fn record(&mut self, r: &RequestRecord) {
        self.requests += 1;
        self.bytes_sent += r.bytes_sent;
        self.bytes_received += r.bytes_received;
        if r.success {
            self.successes += 1;
        } else {
            match r.outcome {
                Outcome::Status(s) if (400..500).contains(&s) => self.errors_4xx += 1,
                Outcome::Status(s) if s >= 500 => self.errors_5xx += 1,
                // Unexpected 1xx-3xx answers and transport failures.
                _ => self.errors_other += 1,
            }
        }
        if r.outcome != Outcome::Failed(Failure::Connect) {
            let micros = (r.latency.as_micros() as u64).max(1);
            self.latency_us
                .record(micros)
                .expect("an auto-resizing histogram takes any value");
        }
    }

    pub fn add(&mut self, other: &Bucket) {
        self.latency_us
            .add(&other.latency_us)
            .expect("auto-resizing histograms add");
        self.requests += other.requests;
        self.successes += other.successes;
        self.errors_4xx += other.errors_4xx;
        self.errors_5xx += other.errors_5xx;
        self.errors_other += other.errors_other;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
    }
}

/// A finished second (or less, at the end of the run).
#[derive(Debug, Clone)]
pub struct Interval {
    pub start: SystemTime,
    pub duration: Duration,
    pub endpoints: BTreeMap<&'static str, Bucket>,
}

#[derive(Debug)]
struct State {
    current: BTreeMap<&'static str, Bucket>,
    current_start: SystemTime,
    skips: BTreeMap<(&'static str, &'static str), u64>,
}

#[derive(Debug)]
pub struct Recorder {
    state: Mutex<State>,
}

impl Recorder {
    pub fn new(start: SystemTime) -> Self {
        Self {
            state: Mutex::new(State {
                current: BTreeMap::new(),
                current_start: start,
                skips: BTreeMap::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters: keep recording.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the current interval at `now` and starts the next.
    pub fn rotate(&self, now: SystemTime) -> Interval {
        let mut state = self.state();
        let start = state.current_start;
        state.current_start = now;
        Interval {
            start,
            duration: now.duration_since(start).unwrap_or_default(),
            endpoints: std::mem::take(&mut state.current),
        }
    }

    /// Skipped steps so far: (step, reason) → count.
    pub fn skips(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.state().skips.clone()
    }
}

impl ScenarioRecorder for Recorder {
    fn record(&self, record: RequestRecord) {
        self.state()
            .current
            .entry(record.endpoint)
            .or_default()
            .record(&record);
    }

    fn skip(&self, step: &'static str, reason: &'static str) {
        *self.state().skips.entry((step, reason)).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(endpoint: &'static str, ms: u64, outcome: Outcome, success: bool) -> RequestRecord {
        RequestRecord {
            endpoint,
            latency: Duration::from_millis(ms),
            outcome,
            success,
            bytes_sent: 10,
            bytes_received: 100,
        }
    }

    #[test]
    fn classifies_outcomes_and_keeps_microsecond_latencies() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let recorder = Recorder::new(t0);
        recorder.record(request("login", 12, Outcome::Status(200), true));
        recorder.record(request("login", 30, Outcome::Status(401), false));
        recorder.record(request("login", 900, Outcome::Status(503), false));
        recorder.record(request(
            "login",
            0,
            Outcome::Failed(Failure::Connect),
            false,
        ));
        recorder.record(request("vote", 5, Outcome::Failed(Failure::Timeout), false));
        recorder.skip("vote", "nothing public");
        let interval = recorder.rotate(t0 + Duration::from_secs(1));
        assert_eq!(interval.duration, Duration::from_secs(1));
        let login = &interval.endpoints["login"];
        assert_eq!((login.requests, login.successes, login.errors()), (4, 1, 3));
        assert_eq!(
            (login.errors_4xx, login.errors_5xx, login.errors_other),
            (1, 1, 1)
        );
        assert_eq!(
            login.latency_us.len(),
            3,
            "a refused connection has no latency"
        );
        assert!(login.latency_us.equivalent(login.latency_us.max(), 900_000));
        assert_eq!(
            interval.endpoints["vote"].latency_us.len(),
            1,
            "timeouts keep theirs"
        );
        assert_eq!(recorder.skips()[&("vote", "nothing public")], 1);
        let next = recorder.rotate(t0 + Duration::from_millis(1500));
        assert!(next.endpoints.is_empty());
        assert_eq!(next.start, t0 + Duration::from_secs(1));
    }
}
