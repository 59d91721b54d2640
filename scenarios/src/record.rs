//! What a scenario reports about each request, and the one place that times requests.
//!
//! Scenarios only send requests through [`Exchange`]; it measures each from its start —
//! or, for the first request of an arrival in the open model, from when the arrival was
//! due, so a stalled target shows in the latencies instead of silently slowing the load
//! (coordinated omission) — reads the whole body, and hands a [`RequestRecord`] to the
//! [`Recorder`]. The record carries that starting instant on the wall clock
//! ([`RequestRecord::at`]): a request belongs to the second it was due or sent, however
//! long it took. Statistics are computed elsewhere.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::http::{Connection, Request};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered with this status.
    Status(u16),
    /// No answer: connection refused or reset, timeout, broken body.
    Failed(Failure),
}

pub use crate::http::Failure;

#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// The endpoint's name (a tag in the latency log): a short identifier.
    pub endpoint: &'static str,
    /// When the request was due (the first request of an open-model arrival) or sent, on
    /// the wall clock: where its latency counts from, and the second it belongs to.
    pub at: SystemTime,
    pub latency: Duration,
    pub outcome: Outcome,
    /// The status was one the contract expects for this step.
    pub success: bool,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// `instant` on the wall clock. Both clocks are read once per process and every instant is
/// placed from that pair: a request then costs no clock read for it (two vDSO calls each
/// way, a percent of the generator's time at 90k requests a second), and instants keep
/// their order even if the wall clock is stepped during the run.
pub fn wall_clock(instant: Instant) -> SystemTime {
    static ANCHOR: std::sync::OnceLock<(Instant, SystemTime)> = std::sync::OnceLock::new();
    let (mono, wall) = *ANCHOR.get_or_init(|| (Instant::now(), SystemTime::now()));
    match instant.checked_duration_since(mono) {
        Some(after) => wall + after,
        None => wall - mono.duration_since(instant),
    }
}

/// Receives every request and skipped step; implemented by the load generator.
pub trait Recorder: Send + Sync {
    fn record(&self, record: RequestRecord);
    /// A step the target cannot do right now (e.g. vote with no public video) was skipped.
    fn skip(&self, step: &'static str, reason: &'static str);
}

/// An answer as the scenario sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: Option<u16>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub success: bool,
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends a scenario's requests for one iteration, timing and recording each.
pub struct Exchange<'a> {
    connection: &'a mut Connection,
    recorder: &'a dyn Recorder,
    /// When the iteration was due (open model); taken by the first request.
    due: Option<Instant>,
    /// Requests of this exchange refused at connect, and those the target answered: a
    /// closed-model user backs off while the target refuses everything.
    refused: u32,
    answered: u32,
}

impl<'a> Exchange<'a> {
    pub fn new(
        connection: &'a mut Connection,
        recorder: &'a dyn Recorder,
        due: Option<Instant>,
    ) -> Self {
        Self {
            connection,
            recorder,
            due,
            refused: 0,
            answered: 0,
        }
    }

    /// Every request sent through this exchange was refused at connect (none answered).
    pub fn only_refused(&self) -> bool {
        self.refused > 0 && self.answered == 0
    }

    pub fn skip(&mut self, step: &'static str, reason: &'static str) {
        // A skipped arrival still consumed its due time.
        self.due = None;
        self.recorder.skip(step, reason);
    }

    /// Sends `request`, reads the whole answer, records it under `endpoint`; a success is
    /// one of the `expected` statuses.
    pub async fn send(
        &mut self,
        endpoint: &'static str,
        request: Request,
        expected: &[u16],
    ) -> Answer {
        self.send_judged(endpoint, request, |status, _| expected.contains(&status))
            .await
    }

    /// [`Exchange::send`] where `succeeded(status, body)` decides what counts as a success.
    pub async fn send_judged(
        &mut self,
        endpoint: &'static str,
        request: Request,
        succeeded: impl FnOnce(u16, &[u8]) -> bool,
    ) -> Answer {
        let bytes_sent = request.body_len();
        let started = self.due.take().unwrap_or_else(Instant::now);
        let at = wall_clock(started);
        let result = self.connection.send(request).await;
        let latency = started.elapsed();
        let (outcome, headers, body) = match result {
            Ok(response) => (
                Outcome::Status(response.status.as_u16()),
                response.headers,
                response.body,
            ),
            Err(fault) => (
                Outcome::Failed(fault.kind),
                http::HeaderMap::new(),
                Bytes::new(),
            ),
        };
        let status = match outcome {
            Outcome::Status(s) => Some(s),
            Outcome::Failed(_) => None,
        };
        let success = status.is_some_and(|s| succeeded(s, &body));
        let refused = outcome == Outcome::Failed(Failure::Connect);
        if refused {
            self.refused += 1;
        } else if status.is_some() {
            self.answered += 1;
        }
        self.recorder.record(RequestRecord {
            endpoint,
            at,
            latency,
            outcome,
            success,
            // Nothing reached the wire without a connection.
            bytes_sent: if refused { 0 } else { bytes_sent },
            bytes_received: body.len() as u64,
        });
        Answer {
            status,
            headers,
            body,
            success,
        }
    }
}
