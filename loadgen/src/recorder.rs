//! Records every request into per-endpoint HDR histograms (microseconds, 3 significant
//! digits) and counters, per second.
//!
//! The hot path ([`Recorder::record`]) takes one short lock, records one value and bumps
//! counters; nothing else. Once a second [`Recorder::rotate`] hands the seconds that are
//! complete to the writer (interval log, requests.csv), which folds them into the run's
//! totals. Derived figures are computed at the end from the totals.
//!
//! A request belongs to the wall-clock second it was due (open model) or sent (closed
//! model) — [`RequestRecord::at`] — not to the one in which it finished: a request due in
//! second 10 that times out in second 40 is an error of second 10, so the load point of
//! the stage it was due in holds it. When the rotation runs does not move a request from
//! its second. A second is handed out once it has been over for [`SETTLE`], with the
//! requests that finished meanwhile; requests slower than that are handed out when they
//! finish, as a *late fragment* of their second (an [`Interval`] with the second's own
//! start and length, `late: true`), which the writer appends out of order and merges at
//! the end. [`Recorder::finish`] hands out everything at the end of the run.
//!
//! Throughput is counted apart, by when answers arrived: each HTTP response also counts
//! in the responses of [`Bucket::counts`] of the second it arrived in (`at + latency`). An overloaded
//! open-model second is due more requests than the target answers in it; counting
//! requests by due second shows the offered rate, counting responses the throughput.
//!
//! Transport failures that never reached the target (connection refused, an arrival the
//! run stopped before sending) carry no latency; every other request's latency is
//! recorded, errors and timeouts included, so a struggling target shows in the
//! percentiles.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use rundir::RequestCounts;
use scenarios::record::{Failure, Outcome, Recorder as ScenarioRecorder, RequestRecord};

/// How long a closed second waits for the requests due in it that are still running. Most
/// finish within it, so the files stay in time order; slower ones become late fragments.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Counts and latencies of one endpoint over some span.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub latency_us: Histogram<u64>,
    /// requests.csv's counts; responses are those that arrived in this span, for requests
    /// of any span.
    pub counts: RequestCounts,
    /// Requests refused at connect (part of `errors_other`; not written to requests.csv):
    /// a second of nothing else means the target is gone.
    pub refused: u64,
}

pub fn new_histogram() -> Histogram<u64> {
    // Auto-resizing from 1 µs: covers anything a request can take.
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            latency_us: new_histogram(),
            counts: RequestCounts::default(),
            refused: 0,
        }
    }
}

impl Bucket {
    fn record(&mut self, r: &RequestRecord) {
        let counts = &mut self.counts;
        counts.requests += 1;
        counts.bytes_sent += r.bytes_sent;
        counts.bytes_received += r.bytes_received;
        if r.success {
            counts.successes += 1;
        } else {
            match r.outcome {
                Outcome::Status(s) if (400..500).contains(&s) => counts.errors_4xx += 1,
                Outcome::Status(s) if s >= 500 => counts.errors_5xx += 1,
                Outcome::Status(_) => counts.count_check_failure(),
                Outcome::Failed(_) => counts.errors_other += 1,
            }
        }
        if r.outcome == Outcome::Failed(Failure::Connect) {
            self.refused += 1;
        }
        if !matches!(
            r.outcome,
            Outcome::Failed(Failure::Connect | Failure::Unsent)
        ) {
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
        self.counts += &other.counts;
        self.refused += other.refused;
    }
}

/// A recorded second (or less: the run's first and last): the requests due or sent within
/// `[start, start + duration)`, and the responses that arrived within it.
#[derive(Debug, Clone)]
pub struct Interval {
    pub start: SystemTime,
    pub duration: Duration,
    pub endpoints: BTreeMap<&'static str, Bucket>,
    /// A fragment of a second handed out before: requests that finished after it had
    /// settled. It adds to that second (same start and duration).
    pub late: bool,
}

#[derive(Debug)]
struct State {
    /// The run's start: its first second starts here.
    start: SystemTime,
    /// Recorded and not handed out yet, by whole second since the epoch.
    pending: BTreeMap<u64, BTreeMap<&'static str, Bucket>>,
    /// Seconds before this one have been handed out; what they get now is late.
    released: u64,
    skips: BTreeMap<(&'static str, &'static str), u64>,
}

/// The whole second since the epoch that `t` falls in.
fn second_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl State {
    /// Hands out every second that ended by `settled_by` (all of them for None: the end of
    /// the run at `now`) and every late fragment, in time order.
    fn release(&mut self, now: SystemTime, settled_by: Option<SystemTime>) -> Vec<Interval> {
        let previously = self.released;
        self.released = match settled_by {
            // Seconds s with s + 1 ≤ settled_by.
            Some(t) => self.released.max(second_of(t)),
            None => u64::MAX,
        };
        let keep = self.pending.split_off(&self.released);
        let out = std::mem::replace(&mut self.pending, keep);
        out.into_iter()
            .map(|(second, endpoints)| {
                let whole = UNIX_EPOCH + Duration::from_secs(second);
                let start = whole.max(self.start);
                let full_end = whole + Duration::from_secs(1);
                // The run's last second ends with the run.
                let end = if now > start && now < full_end {
                    now
                } else {
                    full_end
                };
                Interval {
                    start,
                    duration: end.duration_since(start).unwrap_or_default(),
                    endpoints,
                    late: second < previously,
                }
            })
            .collect()
    }
}

/// The bucket of `endpoint` in `second`, made when first needed.
fn bucket<'a>(
    pending: &'a mut BTreeMap<u64, BTreeMap<&'static str, Bucket>>,
    second: u64,
    endpoint: &'static str,
) -> &'a mut Bucket {
    pending
        .entry(second)
        .or_default()
        .entry(endpoint)
        .or_default()
}

/// Collects the run's requests by the second they were due or sent.
#[derive(Debug)]
pub struct Recorder {
    state: Mutex<State>,
    settle: Duration,
}

impl Recorder {
    /// Starts recording at `start`; seconds settle for [`SETTLE`].
    pub fn new(start: SystemTime) -> Self {
        Self::with_settle(start, SETTLE)
    }

    pub fn with_settle(start: SystemTime, settle: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                start,
                pending: BTreeMap::new(),
                released: second_of(start),
                skips: BTreeMap::new(),
            }),
            settle,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters: keep recording.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called once a second. Returns, in time order, the seconds that ended at least the
    /// settle time before `now` (with whatever was recorded in them) and late fragments
    /// of seconds returned before. A second without any request is not returned.
    pub fn rotate(&self, now: SystemTime) -> Vec<Interval> {
        let settled_by = now.checked_sub(self.settle).unwrap_or(UNIX_EPOCH);
        self.state().release(now, Some(settled_by))
    }

    /// Returns everything not returned yet, the run's last (partial) second ending at
    /// `now`: the end of the run, once no request is running.
    pub fn finish(&self, now: SystemTime) -> Vec<Interval> {
        self.state().release(now, None)
    }

    /// Skipped steps so far: (step, reason) → count.
    pub fn skips(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.state().skips.clone()
    }
}

impl ScenarioRecorder for Recorder {
    fn record(&self, record: RequestRecord) {
        let mut state = self.state();
        // Before the run's start (a clock that stepped back): its first second.
        let second = second_of(record.at.max(state.start));
        let arrived = matches!(record.outcome, Outcome::Status(_))
            .then(|| second_of((record.at + record.latency).max(state.start)));
        bucket(&mut state.pending, second, record.endpoint).record(&record);
        if let Some(arrived) = arrived {
            bucket(&mut state.pending, arrived, record.endpoint)
                .counts
                .count_response();
        }
    }

    fn skip(&self, step: &'static str, reason: &'static str) {
        *self.state().skips.entry((step, reason)).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// `s` seconds from t0 (which is a whole second).
    fn secs(s: f64) -> SystemTime {
        if s < 0.0 {
            t0() - Duration::from_secs_f64(-s)
        } else {
            t0() + Duration::from_secs_f64(s)
        }
    }

    fn request(endpoint: &'static str, ms: u64, outcome: Outcome, success: bool) -> RequestRecord {
        RequestRecord {
            endpoint,
            at: t0(),
            latency: Duration::from_millis(ms),
            outcome,
            success,
            bytes_sent: 10,
            bytes_received: 100,
        }
    }

    /// A request due at `seconds` from t0: a success or a timeout.
    fn at(seconds: f64, endpoint: &'static str, success: bool) -> RequestRecord {
        let outcome = if success {
            Outcome::Status(200)
        } else {
            Outcome::Failed(Failure::Timeout)
        };
        RequestRecord {
            at: secs(seconds),
            ..request(endpoint, 5, outcome, success)
        }
    }

    /// (start from t0, duration, late, requests, errors) of `endpoint`, in seconds.
    fn shape(intervals: &[Interval], endpoint: &str) -> Vec<(f64, f64, bool, u64, u64)> {
        intervals
            .iter()
            .filter_map(|i| {
                let b = i.endpoints.get(endpoint)?;
                Some((
                    i.start.duration_since(t0()).unwrap().as_secs_f64(),
                    i.duration.as_secs_f64(),
                    i.late,
                    b.counts.requests,
                    b.counts.errors(),
                ))
            })
            .collect()
    }

    #[test]
    fn classifies_outcomes_and_keeps_microsecond_latencies() {
        let recorder = Recorder::with_settle(t0(), Duration::ZERO);
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
        recorder.record(request(
            "unsent",
            0,
            Outcome::Failed(Failure::Unsent),
            false,
        ));
        recorder.skip("vote", "nothing public");
        let intervals = recorder.rotate(secs(1.0));
        assert_eq!(intervals.len(), 1);
        let interval = &intervals[0];
        assert_eq!(
            (interval.start, interval.duration, interval.late),
            (t0(), Duration::from_secs(1), false)
        );
        let login = &interval.endpoints["login"];
        assert_eq!(
            (
                login.counts.requests,
                login.counts.successes,
                login.counts.errors()
            ),
            (4, 1, 3)
        );
        assert_eq!(
            (
                login.counts.errors_4xx,
                login.counts.errors_5xx,
                login.counts.errors_other
            ),
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
        let unsent = &interval.endpoints["unsent"];
        assert_eq!(
            (unsent.counts.errors_other, unsent.latency_us.len()),
            (1, 0),
            "an arrival never sent is an error without latency"
        );
        assert_eq!(recorder.skips()[&("vote", "nothing public")], 1);
        assert!(recorder.rotate(secs(2.0)).is_empty(), "nothing recorded");
    }

    #[test]
    fn a_request_counts_in_the_second_it_was_due_whenever_it_finishes() {
        let recorder = Recorder::with_settle(t0(), Duration::from_secs(2));
        // Due in second 0, finished in second 0.
        recorder.record(at(0.2, "get", true));
        assert!(
            recorder.rotate(secs(1.0)).is_empty(),
            "second 0 is settling"
        );
        // Due in second 0, answered in second 1: joins second 0 while it settles.
        recorder.record(at(0.9, "get", false));
        recorder.record(at(1.1, "get", true));
        assert!(recorder.rotate(secs(2.0)).is_empty());
        let out = recorder.rotate(secs(3.0));
        assert_eq!(
            shape(&out, "get"),
            vec![(0.0, 1.0, false, 2, 1)],
            "second 0, settled, with its late answer"
        );
        // Due in second 0, timed out in second 3, after second 0 was handed out: a late
        // fragment of second 0, beside second 1 now settled.
        recorder.record(at(0.5, "get", false));
        let out = recorder.rotate(secs(4.0));
        assert_eq!(
            shape(&out, "get"),
            vec![(0.0, 1.0, true, 1, 1), (1.0, 1.0, false, 1, 0)]
        );
        // Anything before the run's start goes to its first second; the end hands out
        // everything, the last second ending with the run.
        recorder.record(at(-5.0, "get", false));
        recorder.record(at(3.5, "get", true));
        recorder.record(at(4.2, "get", true));
        let out = recorder.finish(secs(4.4));
        assert_eq!(
            shape(&out, "get"),
            vec![
                (0.0, 1.0, true, 1, 1),
                (3.0, 1.0, false, 1, 0),
                (4.0, 0.4, false, 1, 0)
            ]
        );
        assert!(recorder.finish(secs(5.0)).is_empty(), "each request once");
    }

    #[test]
    fn responses_count_in_the_second_they_arrived_in_requests_in_the_second_they_were_due() {
        let recorder = Recorder::with_settle(t0(), Duration::ZERO);
        // Due in second 0, answered 1.5 s later, in second 1; a timeout is no response.
        let slow = |ms| RequestRecord {
            at: secs(0.6),
            ..request("get", ms, Outcome::Status(200), true)
        };
        recorder.record(slow(1_500));
        recorder.record(slow(100));
        recorder.record(RequestRecord {
            at: secs(0.6),
            ..request("get", 1_500, Outcome::Failed(Failure::Timeout), false)
        });
        let out = recorder.finish(secs(3.0));
        let counts: Vec<(f64, u64, Option<u64>)> = out
            .iter()
            .map(|i| {
                let b = &i.endpoints["get"];
                (
                    i.start.duration_since(t0()).unwrap().as_secs_f64(),
                    b.counts.requests,
                    b.counts.responses,
                )
            })
            .collect();
        assert_eq!(counts, vec![(0.0, 3, Some(1)), (2.0, 0, Some(1))]);
    }

    #[test]
    fn when_the_rotation_runs_does_not_move_a_request_from_its_second() {
        // The rotation ticks late and unevenly on a loaded machine; seconds stay seconds.
        let start = secs(0.3);
        let recorder = Recorder::with_settle(start, Duration::ZERO);
        assert!(recorder.rotate(secs(0.4)).is_empty());
        recorder.record(at(0.35, "a", true));
        assert_eq!(
            recorder.rotate(secs(1.0))[0].start,
            start,
            "a partial first second"
        );
        assert!(recorder.rotate(secs(2.7)).is_empty());
        recorder.record(at(0.99, "a", true));
        recorder.record(at(2.69, "a", true));
        recorder.record(at(2.7, "a", true));
        let out = recorder.rotate(secs(3.05));
        assert_eq!(
            shape(&out, "a"),
            vec![(0.3, 0.7, true, 1, 0), (2.0, 1.0, false, 2, 0)]
        );
    }
}
