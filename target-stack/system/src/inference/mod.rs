//! Seed 000's ML inference service, the second system under test (`target-stack inference`):
//! at start it trains a random forest on a synthetic classification set, then serves
//! `/health`, `/info`, `/predict`, `/load-test` and `/metrics` (the API's metrics, same
//! names). The local stack runs it as the web group with no worker group (`up --app
//! inference`), and the AWS template as the web launch template's role (`App=inference`).
//!
//! `dataset` and `model` are pure (the set, the forest); `request` checks what clients send;
//! `routes` are the handlers. It needs no database, storage or queue.

pub mod dataset;
pub mod model;
pub mod request;
pub mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::api::{HttpMetrics, metrics};
use crate::config::SlowFraction;
use dataset::Dataset;
use model::{Model, TREES, TrainError};

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct InferenceState {
    pub model: Arc<Model>,
    pub instance_id: Arc<str>,
    pub hostname: Arc<str>,
    pub slow_fraction: SlowFraction,
    pub metrics: Arc<HttpMetrics>,
}

impl FromRef<InferenceState> for Arc<HttpMetrics> {
    fn from_ref(state: &InferenceState) -> Self {
        Arc::clone(&state.metrics)
    }
}

impl InferenceState {
    pub fn new(model: Arc<Model>, instance_id: &str, slow_fraction: SlowFraction) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Self {
            model,
            instance_id: instance_id.into(),
            hostname: hostname.into(),
            slow_fraction,
            metrics: Arc::new(HttpMetrics::new()),
        }
    }
}

/// Seed 000's model: [`TREES`] trees on [`dataset::SAMPLES`] samples made from
/// [`dataset::SEED`].
pub fn train() -> Result<Model, TrainError> {
    Model::train(&Dataset::synthetic(dataset::SEED), TREES, dataset::SEED)
}

pub fn router(state: InferenceState) -> Router {
    let routes = Router::new()
        .route("/health", get(routes::health))
        .route("/info", get(routes::info))
        .route(
            "/predict",
            post(routes::predict).layer(DefaultBodyLimit::max(routes::MAX_BODY_BYTES)),
        )
        .route("/load-test", get(routes::load_test))
        .route("/metrics", get(metrics::render))
        .fallback(routes::no_route);
    crate::api::outer_layers(routes, Arc::clone(&state.metrics)).with_state(state)
}

/// Serves until `shutdown` resolves, with the API's connection handling
/// ([`crate::api::serve_router`]).
pub async fn serve(
    listener: TcpListener,
    state: InferenceState,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::api::serve_router(listener, router(state), header_read_timeout, shutdown).await
}
