//! Errors as the API reports them: `{"error": "<code>", "message": "<text>"}` with a status.
//!
//! Client mistakes say what was wrong and how to fix it. Server faults are logged with
//! their whole cause chain and reported only as "internal", so internals never leak.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::Invalid;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `email_taken`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A dependency (database, storage, queue) failed: log the cause, tell the client little.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::bad_request("invalid_field", invalid.0)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::bad_request("invalid_request", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_parameters", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        if rejection.status().is_client_error() {
            Self::bad_request("invalid_path", rejection.body_text())
        } else {
            // A route and its handler disagree on the parameters: a bug, not the client's.
            Self::internal(anyhow::anyhow!(rejection.body_text()))
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> Self {
        match error {
            // The API writes rows that refer to the caller (its video, its vote) and to rows
            // it has just checked; a published video is never deleted. A missing reference
            // is then the caller: its account was deleted while its token is still valid.
            crate::db::DbError::MissingReference => Self::unauthorized(
                "the account this access token was issued to no longer exists; sign up again",
            ),
            error => Self::internal(error),
        }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::queue::QueueError> for ApiError {
    fn from(error: crate::queue::QueueError) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The answer to a path no route matches (the router's fallback).
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no endpoint {method} {}; /api/openapi.json lists them",
        uri.path()
    ))
}

/// Middleware (outermost): an error answer that is not JSON yet — axum's own 405, a panic
/// caught as 500, a layer's 408/413 — gets the JSON shape of every other error, keeping its
/// status and headers.
pub async fn json_errors(method: Method, response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, message) = match status {
        // axum adds `Allow` outside the layers, so it is not here yet to quote.
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("this endpoint does not take {method}; the Allow header lists those it takes"),
        ),
        StatusCode::NOT_FOUND => ("not_found", "there is no such resource".to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than this endpoint accepts".to_string(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request was not received in time; send it again".to_string(),
        ),
        s if s.is_server_error() => (
            "internal",
            "internal error; the server log has the details".to_string(),
        ),
        s => (
            "invalid_request",
            s.canonical_reason().unwrap_or("bad request").to_string(),
        ),
    };
    let body = ErrorBody {
        error: code.to_string(),
        message,
    };
    let bytes = serde_json::to_vec(&body).expect("an ErrorBody serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
