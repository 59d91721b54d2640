//! `GET /health` (and `/api/health`): 200 only when the database, object storage and queue
//! all answer within a bound, 503 otherwise, so a load balancer takes the instance out.

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    status: &'static str,
    database: &'static str,
    storage: &'static str,
    queue: &'static str,
}

async fn check<E: std::fmt::Display>(
    name: &str,
    probe: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "health check failed");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!(dependency = name, "health check timed out");
            "timeout"
        }
    }
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = Health),
        (status = 503, description = "A dependency does not answer", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let b = &state.backends;
    let (database, storage, queue) = tokio::join!(
        check("database", b.db.ping()),
        check("storage", b.storage.ping()),
        check("queue", b.queue.ping()),
    );
    let healthy = [database, storage, queue].iter().all(|s| *s == "ok");
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if healthy { "ok" } else { "unavailable" },
        database,
        storage,
        queue,
    };
    (status, Json(body))
}
