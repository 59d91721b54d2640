//! The endpoints of seed 000's app: `/health`, `/info`, `/predict`, `/load-test`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::InferenceState;
use super::model::ModelFacts;
use super::request::{self, Features, Refused};
use crate::api::ApiError;

/// The largest `/predict` body: 20 numbers at full precision take about 500 bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How long a slow request (the `slow_fraction` option) sleeps: seed 000's 0.5–2 s.
const SLOW_MIN: Duration = Duration::from_millis(500);
const SLOW_MAX: Duration = Duration::from_millis(2000);

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn bad_request(refused: Refused) -> ApiError {
    ApiError::bad_request(refused.code, refused.message)
}

#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    instance_id: String,
    model_loaded: bool,
    timestamp: String,
}

/// `GET /health`: the model is trained before the service listens, so a service that
/// answers is healthy.
pub async fn health(State(state): State<InferenceState>) -> Json<Health> {
    Json(Health {
        status: "healthy",
        instance_id: state.instance_id.to_string(),
        model_loaded: true,
        timestamp: now(),
    })
}

#[derive(Debug, Serialize)]
pub struct Info {
    instance_id: String,
    hostname: String,
    version: &'static str,
    model_loaded: bool,
    #[serde(flatten)]
    model: ModelFacts,
    slow_fraction: f64,
    max_load_test_secs: u64,
    timestamp: String,
}

/// `GET /info`: the instance and its model.
pub async fn info(State(state): State<InferenceState>) -> Json<Info> {
    Json(Info {
        instance_id: state.instance_id.to_string(),
        hostname: state.hostname.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        model_loaded: true,
        model: state.model.facts().clone(),
        slow_fraction: state.slow_fraction.get(),
        max_load_test_secs: request::MAX_LOAD_TEST.as_secs(),
        timestamp: now(),
    })
}

#[derive(Debug, Serialize)]
pub struct PredictResponse {
    prediction: u32,
    probability: f64,
    instance_id: String,
    /// Time in the handler, milliseconds to two decimals (the seed's `latency_ms`).
    latency_ms: f64,
    timestamp: String,
}

/// `POST /predict` with `{"features": [20 numbers]}`.
pub async fn predict(
    State(state): State<InferenceState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PredictResponse>, ApiError> {
    let started = Instant::now();
    let body = body.map_err(unreadable_body)?;
    let Features(row) = Features::from_json(&body).map_err(bad_request)?;
    let fraction = state.slow_fraction.get();
    if fraction > 0.0 && rand::random::<f64>() < fraction {
        let extra = rand::random_range(SLOW_MIN.as_secs_f64()..=SLOW_MAX.as_secs_f64());
        tokio::time::sleep(Duration::from_secs_f64(extra)).await;
    }
    // Fifty trees of depth ~10 on one row take microseconds: cheaper than a hop to the
    // blocking pool, so the prediction runs here (target-stack/README.md has the figures).
    let prediction = state.model.predict(&row);
    Ok(Json(PredictResponse {
        prediction: prediction.class,
        probability: prediction.probability,
        instance_id: state.instance_id.to_string(),
        latency_ms: (started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        timestamp: now(),
    }))
}

fn unreadable_body(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than {MAX_BODY_BYTES} bytes; send only \
                 {{\"features\": [20 numbers]}} (about 500 bytes)"
            ),
        )
    } else {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "could not read the request body ({}); send it again",
                rejection.body_text()
            ),
        )
    }
}

#[derive(Debug, Deserialize)]
pub struct LoadTestQuery {
    duration: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LoadTestResponse {
    message: String,
    instance_id: String,
    duration_secs: f64,
    /// Rounds of the busy loop: a measure of the CPU the instance got.
    iterations: u64,
}

/// `GET /load-test?duration=S`: keeps one CPU busy for S seconds (at most
/// [`request::MAX_LOAD_TEST`]), off the async workers so other requests are still served.
pub async fn load_test(
    State(state): State<InferenceState>,
    query: Result<Query<LoadTestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LoadTestResponse>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(
            "invalid_parameters",
            format!("{}; use /load-test?duration=SECONDS", e.body_text()),
        )
    })?;
    let duration = request::load_test_duration(query.duration.as_deref()).map_err(bad_request)?;
    let iterations = tokio::task::spawn_blocking(move || burn(duration))
        .await
        .map_err(ApiError::internal)?;
    let seconds = duration.as_secs_f64();
    Ok(Json(LoadTestResponse {
        message: format!("Load test completed for {seconds} seconds"),
        instance_id: state.instance_id.to_string(),
        duration_secs: seconds,
        iterations,
    }))
}

/// Busy work until `duration` has passed: the seed's `sum(i*i for i in range(10000))` in a
/// loop. Returns the rounds done.
pub fn burn(duration: Duration) -> u64 {
    let started = Instant::now();
    let mut rounds = 0u64;
    let mut sink = 0u64;
    while started.elapsed() < duration {
        for i in 0..10_000u64 {
            sink = sink.wrapping_add(std::hint::black_box(i * i));
        }
        rounds += 1;
    }
    std::hint::black_box(sink);
    rounds
}

/// The answer to a path no route matches.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no endpoint {method} {}; this service has GET /health, GET /info, \
         POST /predict, GET /load-test?duration=S and GET /metrics",
        uri.path()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_takes_the_time_asked_and_does_work() {
        let started = Instant::now();
        let rounds = burn(Duration::from_millis(100));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(rounds > 0);
        assert_eq!(burn(Duration::ZERO), 0);
    }
}
