//! The HTTP API (axum): the nine endpoints of the ANB contract under `/api`, `/health` for
//! the load balancer, `/metrics` for Prometheus and `/api/openapi.json`.

mod auth;
mod error;
mod extract;
mod health;
mod media;
mod metrics;
pub mod openapi;
mod public;
mod upload;
mod videos;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody};
pub use metrics::HttpMetrics;

use crate::Backends;
use crate::auth::Tokens;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub backends: Backends,
    pub tokens: Tokens,
    pub metrics: Arc<HttpMetrics>,
    pub max_upload_bytes: u64,
}

impl AppState {
    pub fn new(backends: Backends, tokens: Tokens, max_upload_bytes: u64) -> Self {
        Self {
            backends,
            tokens,
            metrics: Arc::new(HttpMetrics::new()),
            max_upload_bytes,
        }
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route(
            "/videos/upload",
            // The upload handler enforces its own size limit while streaming.
            post(upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/videos", get(videos::list_mine))
        .route(
            "/videos/{video_id}",
            get(videos::get_one).delete(videos::delete),
        )
        .route("/videos/{video_id}/processed", get(media::processed))
        .route("/videos/{video_id}/original", get(media::original))
        .route("/public/videos", get(public::list))
        .route("/public/videos/{video_id}/vote", post(public::vote))
        .route("/public/rankings", get(public::rankings))
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .nest("/api", api)
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::render))
        .fallback(error::no_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops taking connections and lets requests in
/// flight finish (the load balancer's connection draining relies on it).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
