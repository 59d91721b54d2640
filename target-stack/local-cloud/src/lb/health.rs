//! Active health checks, one loop per registered target, as ALB runs them: every `interval`
//! a `GET health_path` with `User-Agent: ELB-HealthChecker/2.0`, on a new connection, passing
//! on a 200..=399 status within `timeout`. Only the status is read, as with ALB's default
//! matcher. The first check runs at registration, so a target with a healthy threshold of
//! `n` is in service after about `(n - 1) × interval`.
//!
//! Like ALB there is no passive checking: a request that fails with 502 does not count
//! against its target; only these checks change states. A target's loop ends when it starts
//! draining, is removed or replaced, or the balancer shuts down.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::header::USER_AGENT;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::MissedTickBehavior;

use super::Shared;
use super::registry::{CheckOutcome, Target};

pub(super) type HealthClient = Client<HttpConnector, Empty<Bytes>>;

/// A client that opens a fresh connection per check, so that a target that stopped
/// accepting connections fails at once.
pub(super) fn client() -> HealthClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// Checks `target` every interval until it is retired or the balancer stops.
pub(super) async fn check_until_retired(shared: Arc<Shared>, target: Arc<Target>) {
    let config = &shared.config;
    let mut stopping = shared.stopping.subscribe();
    let mut ticks = tokio::time::interval(config.interval);
    // A check slower than the interval delays the next one instead of bunching them.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        let passed = check(
            &shared.health_client,
            &target,
            &config.health_path,
            config.timeout,
        )
        .await;
        let outcome = shared.registry().record_check(
            &target,
            passed,
            config.healthy_threshold,
            config.unhealthy_threshold,
        );
        match outcome {
            CheckOutcome::Unchanged => {}
            CheckOutcome::Changed { from, to } => tracing::info!(
                target_id = target.id,
                addr = %target.addr,
                ?from,
                ?to,
                "load balancer target health changed"
            ),
            CheckOutcome::Retired => return,
        }
    }
}

async fn check(
    client: &HealthClient,
    target: &Target,
    health_path: &str,
    timeout: std::time::Duration,
) -> bool {
    let uri = format!("http://{}{health_path}", target.authority);
    let request = match Request::get(uri)
        .header(USER_AGENT, "ELB-HealthChecker/2.0")
        .body(Empty::new())
    {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, health_path, "health check request is invalid");
            return false;
        }
    };
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) => (200..=399).contains(&response.status().as_u16()),
        Ok(Err(error)) => {
            tracing::debug!(target_id = target.id, %error, "health check failed");
            false
        }
        Err(_) => {
            tracing::debug!(target_id = target.id, "health check timed out");
            false
        }
    }
}
