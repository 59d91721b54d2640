//! The HTTP API (axum): the nine endpoints of the ANB contract under `/api`, `/health` for
//! the load balancer, `/metrics` for Prometheus and `/api/openapi.json`.

mod auth;
mod error;
mod extract;
mod health;
pub mod limits;
mod media;
pub mod metrics;
pub mod openapi;
mod public;
pub mod throttle;
mod upload;
mod videos;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::routing::{get, post};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody};
pub use metrics::HttpMetrics;

use crate::Backends;
use crate::auth::{HashGate, Tokens};
use crate::config::{ApiLimits, ApiSettings};
use throttle::LoginThrottle;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub backends: Backends,
    pub tokens: Tokens,
    pub metrics: Arc<HttpMetrics>,
    pub max_upload_bytes: u64,
    pub limits: Arc<ApiLimits>,
    pub hashing: HashGate,
    pub login_throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn new(backends: Backends, tokens: Tokens, settings: &ApiSettings) -> Self {
        let limits = &settings.limits;
        let hashing = HashGate::new(limits);
        let login_throttle = LoginThrottle::new(limits);
        let mut metrics = HttpMetrics::new();
        hashing.register(metrics.registry_mut());
        login_throttle.register(metrics.registry_mut());
        Self {
            backends,
            tokens,
            metrics: Arc::new(metrics),
            max_upload_bytes: settings.max_upload_bytes,
            limits: Arc::new(limits.clone()),
            hashing,
            login_throttle: Arc::new(login_throttle),
        }
    }
}

impl axum::extract::FromRef<AppState> for Arc<HttpMetrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.metrics)
    }
}

/// Room for the upload form's boundaries, part headers and title around the file.
const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;

pub fn router(state: AppState) -> Router {
    // The upload streams its body (limits::paced, its own size checks); every other route's
    // body is read whole, bounded in size and pace, before its handler runs.
    let upload_body_limit =
        usize::try_from(state.max_upload_bytes.saturating_add(FORM_OVERHEAD_BYTES))
            .unwrap_or(usize::MAX);
    let upload = Router::new().route(
        "/videos/upload",
        post(upload::upload).layer(DefaultBodyLimit::max(upload_body_limit)),
    );
    let api = Router::new()
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
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
    let read_body = axum::middleware::from_fn_with_state(state.clone(), limits::read_body);
    let routes = Router::new()
        .nest("/api", api.layer(read_body).merge(upload))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::render))
        .fallback(error::no_route);
    outer_layers(routes, Arc::clone(&state.metrics)).with_state(state)
}

/// What every service of this binary wraps its routes in (the API, the inference service):
/// request metrics, tracing, a caught panic as 500, and the JSON error shape for answers
/// axum or a layer gives itself.
pub fn outer_layers<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    metrics: Arc<HttpMetrics>,
) -> Router<S> {
    routes
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(error::json_errors))
}

/// Serves until `shutdown` resolves, then stops taking connections and lets requests in
/// flight finish (the load balancer's connection draining relies on it).
///
/// hyper's own connection loop rather than `axum::serve`, for what that lacks: a time limit
/// on a request's headers (`header_read_timeout`), and each request told its peer address
/// (`ConnectInfo`, for the login throttle).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_read_timeout = state.limits.header_read_timeout;
    serve_router(listener, router(state), header_read_timeout, shutdown).await
}

/// [`serve`]'s connection loop for any router (the inference service uses it too): each
/// connection gets `header_read_timeout` for a request's head, `ConnectInfo`, and a graceful
/// end when `shutdown` resolves.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, _) = tokio::sync::watch::channel(false);
    let (open, _) = tokio::sync::watch::channel(0_usize);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically out of file descriptors: wait for some to be freed.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Nagle's algorithm would add tens of milliseconds to small answers.
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let mut http = http1::Builder::new();
        // hyper runs this timer while it waits for a request's head, idle keep-alive too.
        http.timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let mut stop = stopping.subscribe();
        open.send_modify(|n| *n += 1);
        let open = open.clone();
        tokio::spawn(async move {
            let connection =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            open.send_modify(|n| *n -= 1);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    let _ = open.subscribe().wait_for(|n| *n == 0).await;
    Ok(())
}
