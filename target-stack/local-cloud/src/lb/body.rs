//! The bodies the balancer streams through, frame by frame, never collected: a 100 MB upload
//! or download holds a few frames in memory, and hyper's flow control passes backpressure
//! from the slower side to the faster one.
//!
//! Each proxied request has an [`Exchange`] recording when data last moved in either
//! direction; ALB's idle timeout is measured from there (a long upload that keeps moving is
//! not idle). The response body also carries the request's [`InFlight`] mark, so a request
//! counts as outstanding until its response has been delivered, as in ALB.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::registry::InFlight;

pub(super) type BoxError = Box<dyn StdError + Send + Sync>;

/// One request's shared record of activity.
#[derive(Debug)]
pub(super) struct Exchange {
    started: Instant,
    /// Nanoseconds from `started` to the last frame that moved.
    last_activity: AtomicU64,
    client_body_failed: AtomicBool,
}

impl Exchange {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_activity: AtomicU64::new(0),
            client_body_failed: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_activity.fetch_max(nanos, Ordering::Relaxed);
    }

    /// When the exchange times out unless more data moves.
    pub fn idle_deadline(&self, idle_timeout: Duration) -> Instant {
        self.started
            + Duration::from_nanos(self.last_activity.load(Ordering::Relaxed))
            + idle_timeout
    }

    /// True when the client's request body broke (it went away mid-upload): a failure of the
    /// exchange that is not the target's fault.
    pub fn client_body_failed(&self) -> bool {
        self.client_body_failed.load(Ordering::Relaxed)
    }
}

/// The client's request body on its way to the target.
#[derive(Debug)]
pub(super) struct UpstreamBody {
    client: Incoming,
    exchange: Arc<Exchange>,
}

impl UpstreamBody {
    pub fn new(client: Incoming, exchange: Arc<Exchange>) -> Self {
        Self { client, exchange }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.client).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => this.exchange.touch(),
            Poll::Ready(Some(Err(_))) => {
                this.exchange
                    .client_body_failed
                    .store(true, Ordering::Relaxed);
            }
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.client.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.client.size_hint()
    }
}

/// What the balancer answers a client with.
#[derive(Debug)]
pub(super) enum LbBody {
    /// The target's response body.
    Proxied(ProxiedBody),
    /// A response the balancer made itself (503, 502, 504).
    Local(Full<Bytes>),
}

impl LbBody {
    pub fn local(text: String) -> Self {
        Self::Local(Full::new(Bytes::from(text)))
    }
}

/// The target's response body on its way to the client.
#[derive(Debug)]
pub(super) struct ProxiedBody {
    target: Incoming,
    exchange: Arc<Exchange>,
    idle_timeout: Duration,
    idle_timer: Pin<Box<Sleep>>,
    /// Released as soon as the body ends, not when hyper gets round to dropping it.
    in_flight: Option<InFlight>,
}

impl ProxiedBody {
    pub fn new(
        target: Incoming,
        exchange: Arc<Exchange>,
        idle_timeout: Duration,
        in_flight: InFlight,
    ) -> Self {
        let idle_timer = Box::pin(tokio::time::sleep_until(
            exchange.idle_deadline(idle_timeout),
        ));
        Self {
            target,
            exchange,
            idle_timeout,
            idle_timer,
            in_flight: Some(in_flight),
        }
    }

    /// Ready when nothing has moved for the idle timeout. The timer is moved forward lazily,
    /// when it fires, rather than on every frame.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.idle_timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.exchange.idle_deadline(self.idle_timeout);
            if deadline <= Instant::now() {
                return Poll::Ready(());
            }
            self.idle_timer.as_mut().reset(deadline);
        }
    }
}

impl Body for LbBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let proxied = match self.get_mut() {
            LbBody::Local(full) => return Pin::new(full).poll_frame(cx).map_err(Into::into),
            LbBody::Proxied(proxied) => proxied,
        };
        match Pin::new(&mut proxied.target).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                proxied.exchange.touch();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                proxied.in_flight = None;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                proxied.in_flight = None;
                Poll::Ready(None)
            }
            Poll::Pending => match proxied.poll_idle(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    proxied.in_flight = None;
                    // Failing the body makes hyper close the client connection, as ALB does
                    // when a response stalls past the idle timeout.
                    Poll::Ready(Some(Err("the target's response was idle too long".into())))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            LbBody::Local(full) => full.is_end_stream(),
            LbBody::Proxied(proxied) => proxied.target.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            LbBody::Local(full) => full.size_hint(),
            LbBody::Proxied(proxied) => proxied.target.size_hint(),
        }
    }
}
