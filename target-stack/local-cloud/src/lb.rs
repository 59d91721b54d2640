//! The local stack's load balancer: an imitation of an AWS Application Load Balancer with one
//! HTTP listener on loopback forwarding to one target group, the `target-stack api` instances
//! of the web group.
//!
//! What it imitates, and where (each file's documentation has the details):
//! - routing by least outstanding requests or round robin (`registry`);
//! - health checks with healthy and unhealthy thresholds, no traffic to `Initial` or
//!   `Unhealthy` targets, and ALB's fail-open when no target is healthy (`registry`,
//!   `health`);
//! - deregistration with connection draining, ending when the target's requests finish or
//!   the deregistration delay passes (`LoadBalancer::deregister`);
//! - streamed request and response bodies, `X-Forwarded-*` headers, ALB's 502/503/504
//!   answers and idle timeout (`proxy`, `body`);
//! - the `AWS/ApplicationELB` metrics, taken as one window per sampler tick (`metrics`).
//!
//! Where it knowingly differs from ALB: HTTP/1.1 only on both sides (no HTTP/2, no WebSocket
//! upgrades), no TLS, one listener and one target group with a single forward action (no
//! listener rules), one node rather than one per availability zone, no sticky sessions, no
//! slow start mode, no `X-Amzn-Trace-Id` and no access logs. A health check passes on any
//! 200..=399 status (ALB's matcher set to `200-399`; its default is `200`). Requests still
//! running when the deregistration delay ends are not cut by the balancer: they finish, or
//! fail when the stack stops the instance, which is what terminating an instance does to them
//! behind a real ALB.

mod body;
mod config;
mod health;
mod metrics;
mod proxy;
mod registry;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Algorithm, LbConfig};
pub use metrics::LbWindow;
pub use registry::{TargetState, TargetStatus};

use health::HealthClient;
use metrics::Counters;
use proxy::UpstreamClient;
use registry::Registry;

/// A running load balancer. Clones share it. It runs until [`LoadBalancer::shutdown`] (or
/// the end of the runtime); dropping every handle does not stop it.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    shared: Arc<Shared>,
}

/// The state the listener, the health checkers and the handle share.
#[derive(Debug)]
struct Shared {
    address: SocketAddr,
    config: LbConfig,
    registry: Mutex<Registry>,
    counters: Counters,
    upstream: UpstreamClient,
    health_client: HealthClient,
    /// Where `register` starts health checkers; it is a plain function, not async.
    runtime: Handle,
    /// Becomes true once, on shutdown.
    stopping: watch::Sender<bool>,
    /// Client connections open now; shutdown waits for it to reach zero.
    open_connections: watch::Sender<u64>,
    accept_loop: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// The registry, held briefly and never across an `.await`.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LoadBalancer {
    /// Listens on `bind` (port 0 picks a free port; see [`LoadBalancer::address`]) and starts
    /// accepting connections on the current tokio runtime. No targets are registered yet, so
    /// every request gets 503 until one is registered and healthy. Invalid settings
    /// ([`LbConfig::validate`]) are an `InvalidInput` error.
    pub async fn start(bind: SocketAddr, config: LbConfig) -> io::Result<LoadBalancer> {
        config
            .validate()
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            address,
            upstream: proxy::upstream_client(&config),
            health_client: health::client(),
            config,
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
            runtime: Handle::current(),
            stopping: watch::Sender::new(false),
            open_connections: watch::Sender::new(0),
            accept_loop: Mutex::new(None),
        });
        let accept_loop = tokio::spawn(accept_loop(Arc::clone(&shared), listener));
        *shared
            .accept_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(accept_loop);
        tracing::info!(%address, algorithm = ?shared.config.algorithm, "load balancer listening");
        Ok(LoadBalancer { shared })
    }

    /// The address the balancer listens on.
    pub fn address(&self) -> SocketAddr {
        self.shared.address
    }

    /// Adds a target in `Initial` and starts its health checks; it gets traffic once it
    /// passes `healthy_threshold` of them. Registering a registered id and address again does
    /// nothing, unless the target is draining, which starts it over in `Initial`; the same id
    /// with another address replaces the old target.
    pub fn register(&self, id: u64, addr: SocketAddr) {
        let added = self.shared.registry().register(id, addr);
        if let Some(target) = added {
            tracing::info!(target_id = id, %addr, "load balancer target registered");
            self.shared.runtime.spawn(health::check_until_retired(
                Arc::clone(&self.shared),
                target,
            ));
        }
    }

    /// Stops sending the target new requests (`Draining`), waits until its requests in flight
    /// have finished or the deregistration delay has passed, whichever comes first, then
    /// removes it. Returns at once for an id that is not registered. If the returned future
    /// is dropped early the target stays draining; deregistering it again finishes the job.
    pub async fn deregister(&self, id: u64) {
        let Some(target) = self.shared.registry().start_draining(id) else {
            return;
        };
        tracing::info!(
            target_id = id,
            in_flight = target.in_flight(),
            "load balancer target draining"
        );
        let delay = self.shared.config.deregistration_delay;
        let drained = tokio::time::timeout(delay, target.idle()).await.is_ok();
        self.shared.registry().remove(&target);
        tracing::info!(
            target_id = id,
            drained,
            still_in_flight = target.in_flight(),
            "load balancer target deregistered"
        );
    }

    /// Every registered target in registration order, with its state and requests in flight.
    pub fn targets(&self) -> Vec<TargetStatus> {
        self.shared.registry().statuses()
    }

    /// The metrics since the previous call (or the start), and a new window from now.
    pub fn take_window(&self) -> LbWindow {
        let (requests, targets) = {
            let mut registry = self.shared.registry();
            (registry.take_requests(), registry.statuses())
        };
        let open = *self.shared.open_connections.borrow();
        self.shared.counters.take(requests, targets, open)
    }

    /// Stops accepting connections and health checks, closes idle client connections, and
    /// returns once the requests in flight have been answered and their connections closed.
    pub async fn shutdown(&self) {
        self.shared.stopping.send_replace(true);
        let accept_loop = self
            .shared
            .accept_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(accept_loop) = accept_loop {
            let _ = accept_loop.await;
        }
        let mut open = self.shared.open_connections.subscribe();
        let _ = open.wait_for(|count| *count == 0).await;
        tracing::info!(address = %self.shared.address, "load balancer stopped");
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        match accepted {
            Ok((stream, client)) => {
                shared.counters.connection_accepted();
                let open = OpenConnection::count(&shared);
                tokio::spawn(serve_connection(Arc::clone(&shared), stream, client, open));
            }
            Err(error) => {
                // Typically out of file descriptors: wait for some to be freed.
                tracing::warn!(%error, "load balancer could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one client connection until it closes, or until shutdown, when it finishes the
/// request in progress and closes.
async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    client: SocketAddr,
    _open: OpenConnection,
) {
    // Nagle's algorithm would add tens of milliseconds to measured latencies.
    let _ = stream.set_nodelay(true);
    let service = service_fn({
        let shared = Arc::clone(&shared);
        move |request| proxy::forward(Arc::clone(&shared), client, request)
    });
    let mut http = http1::Builder::new();
    // hyper runs this timer while waiting for a request head, idle keep-alive included:
    // ALB's idle timeout for client connections.
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.config.idle_timeout);
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut stopping = shared.stopping.subscribe();
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = stopping.wait_for(|stop| *stop) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%client, %error, "load balancer client connection ended with an error");
    }
}

/// Counts a client connection as open while it lives.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn count(shared: &Arc<Shared>) -> Self {
        shared.open_connections.send_modify(|open| *open += 1);
        Self(Arc::clone(shared))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.send_modify(|open| *open -= 1);
    }
}
