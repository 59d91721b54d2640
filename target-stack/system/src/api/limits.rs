//! Limits on what one request may cost: the size of a body, the pace at which it arrives,
//! and answers that tell a client to come back later (`Retry-After`).
//!
//! A body must keep a minimum pace: in every window of `body_read_timeout` it must bring
//! `body_min_bytes_per_sec` × the window's seconds (at least one byte), or the request is
//! answered 408. A stall and a trickle (a byte every few seconds) both fail, a slow but
//! honest upload does not. [`Pace`] is the pure rule; [`paced`] applies it to a body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::time::Instant;

use super::{ApiError, AppState};
use crate::auth::HashingBusy;
use crate::config::ApiLimits;

/// An error answer, or one that also says when to retry (429, 503).
#[derive(Debug)]
pub enum Refusal {
    Error(ApiError),
    RetryLater(ApiError, Duration),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self::Error(error)
    }
}

impl From<crate::domain::Invalid> for Refusal {
    fn from(invalid: crate::domain::Invalid) -> Self {
        Self::Error(invalid.into())
    }
}

impl From<HashingBusy> for Refusal {
    fn from(busy: HashingBusy) -> Self {
        Self::RetryLater(
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is checking too many passwords at once; retry after the \
                 Retry-After seconds",
            ),
            busy.retry_after,
        )
    }
}

impl From<super::throttle::Throttled> for Refusal {
    fn from(throttled: super::throttle::Throttled) -> Self {
        Self::RetryLater(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!(
                    "too many login attempts for this {}; retry after the Retry-After seconds",
                    throttled.by.name()
                ),
            ),
            throttled.retry_after,
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Error(error) => error.into_response(),
            Self::RetryLater(error, after) => {
                let mut response = error.into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(after)));
                response
            }
        }
    }
}

/// Retry-After takes whole seconds: round up, and never say 0 (an immediate retry would
/// meet the same refusal).
fn retry_secs(after: Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
}

/// The pace a request body must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    window: Duration,
    min_bytes: u64,
}

/// The body fell below its [`Pace`].
#[derive(Debug, PartialEq, Eq)]
pub struct TooSlow;

impl Pace {
    pub fn new(limits: &ApiLimits) -> Self {
        let per_window =
            limits.body_min_bytes_per_sec as f64 * limits.body_read_timeout.as_secs_f64();
        Self {
            window: limits.body_read_timeout,
            min_bytes: (per_window as u64).max(1),
        }
    }

    pub fn start(self, now: Instant) -> Meter {
        Meter {
            pace: self,
            window_end: now + self.window,
            bytes: 0,
        }
    }
}

/// One body's progress against its pace.
#[derive(Debug)]
pub struct Meter {
    pace: Pace,
    window_end: Instant,
    bytes: u64,
}

impl Meter {
    /// When the current window closes: with too few bytes by then, the body is too slow.
    pub fn deadline(&self) -> Instant {
        self.window_end
    }

    /// Closes every window that ended by `now`, failing on one that brought too little.
    pub fn at(&mut self, now: Instant) -> Result<(), TooSlow> {
        while now >= self.window_end {
            if self.bytes < self.pace.min_bytes {
                return Err(TooSlow);
            }
            self.bytes = 0;
            self.window_end += self.pace.window;
        }
        Ok(())
    }

    /// `bytes` arrived at `now`.
    pub fn received(&mut self, now: Instant, bytes: usize) -> Result<(), TooSlow> {
        self.at(now)?;
        self.bytes += bytes as u64;
        Ok(())
    }
}

/// A body that fails (and raises `too_slow`) as soon as it falls below `pace`, so whoever
/// reads it gets an error instead of waiting for ever.
pub fn paced(body: Body, pace: Pace, too_slow: Arc<AtomicBool>) -> Body {
    let mut frames = body.into_data_stream();
    Body::from_stream(async_stream::stream! {
        let mut meter = pace.start(Instant::now());
        loop {
            let next = tokio::time::timeout_at(meter.deadline(), frames.next()).await;
            let progress = match next {
                Ok(Some(Ok(bytes))) => {
                    let len = bytes.len();
                    yield Ok(bytes);
                    meter.received(Instant::now(), len)
                }
                Ok(Some(Err(error))) => {
                    yield Err(error);
                    break;
                }
                Ok(None) => break,
                Err(_) => meter.at(Instant::now()),
            };
            if progress.is_err() {
                too_slow.store(true, Ordering::Relaxed);
                yield Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body arrived too slowly",
                )));
                break;
            }
        }
    })
}

/// 408 for a body that fell below its pace.
pub fn too_slow(limits: &ApiLimits) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request body arrived too slowly: send at least {} bytes every {} s",
            Pace::new(limits).min_bytes,
            limits.body_read_timeout.as_secs_f64()
        ),
    )
}

fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body exceeds the limit of {limit} bytes for this route"),
    )
}

/// Middleware for every route but the upload: reads the body whole before the handler runs,
/// refusing one larger than `max_json_body_bytes` (413, before reading it when its length is
/// declared) or slower than the pace (408). Handlers then read a body already in memory.
pub async fn read_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.limits;
    let limit = limits.max_json_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return body_too_large(limit).into_response();
    }
    let (parts, body) = request.into_parts();
    let slow = Arc::new(AtomicBool::new(false));
    let mut frames = paced(body, Pace::new(limits), Arc::clone(&slow)).into_data_stream();
    let mut whole = Vec::new();
    while let Some(frame) = frames.next().await {
        let chunk: Bytes = match frame {
            Ok(chunk) => chunk,
            Err(_) if slow.load(Ordering::Relaxed) => return too_slow(limits).into_response(),
            Err(error) => {
                return ApiError::bad_request(
                    "invalid_request",
                    format!("could not read the request body: {error}"),
                )
                .into_response();
            }
        };
        if whole.len() + chunk.len() > limit {
            return body_too_large(limit).into_response();
        }
        whole.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(whole)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(window_secs: u64, per_sec: u64) -> Pace {
        pace_ms(window_secs * 1000, per_sec)
    }

    fn pace_ms(window_ms: u64, per_sec: u64) -> Pace {
        Pace::new(&ApiLimits {
            body_read_timeout: Duration::from_millis(window_ms),
            body_min_bytes_per_sec: per_sec,
            ..ApiLimits::default()
        })
    }

    #[test]
    fn each_window_must_bring_its_bytes() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut meter = pace(10, 100).start(t0);
        assert_eq!(meter.deadline(), t0 + s(10));
        meter.received(t0 + s(1), 600).unwrap();
        meter.received(t0 + s(9), 400).unwrap();
        // The first window brought its 1000 bytes; the second has until 20 s.
        meter.at(t0 + s(10)).unwrap();
        assert_eq!(meter.deadline(), t0 + s(20));
        meter.received(t0 + s(15), 999).unwrap();
        assert_eq!(meter.at(t0 + s(20)), Err(TooSlow));
    }

    #[test]
    fn a_trickle_fails_and_a_stall_fails_even_with_no_rate() {
        let t0 = Instant::now();
        let mut trickle = pace(5, 10).start(t0);
        for i in 0..5 {
            trickle.received(t0 + Duration::from_secs(i), 1).unwrap();
        }
        assert_eq!(trickle.at(t0 + Duration::from_secs(5)), Err(TooSlow));
        // With no minimum rate a window still needs one byte: a stall always fails.
        let mut stall = pace(5, 0).start(t0);
        stall.received(t0, 1).unwrap();
        assert_eq!(stall.at(t0 + Duration::from_secs(10)), Err(TooSlow));
        // A late chunk does not excuse the window that passed without enough.
        let mut late = pace(5, 10).start(t0);
        assert_eq!(
            late.received(t0 + Duration::from_secs(6), 1000),
            Err(TooSlow)
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_secs(Duration::ZERO), 1);
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_secs(Duration::from_millis(2500)), 3);
    }

    #[tokio::test]
    async fn a_paced_body_fails_when_it_stalls() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stream = tokio_stream_from(receiver);
        let slow = Arc::new(AtomicBool::new(false));
        let mut frames = paced(
            Body::from_stream(stream),
            pace_ms(100, 1),
            Arc::clone(&slow),
        )
        .into_data_stream();
        sender.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        assert_eq!(frames.next().await.unwrap().unwrap(), "abc");
        // Nothing more: at the window's end (0.1 s) the body fails.
        assert!(frames.next().await.unwrap().is_err());
        assert!(slow.load(Ordering::Relaxed));
        drop(sender);
    }

    fn tokio_stream_from(
        mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
        async_stream::stream! {
            while let Some(item) = receiver.recv().await {
                yield item;
            }
        }
    }
}
