//! Extractors that turn raw requests into checked values or an [`ApiError`].

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};

/// `Json<T>` whose rejections (bad JSON, missing field) are 400s in our error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// `Query<T>` whose rejections are 400s in our error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `Path<T>` whose rejections (`/api/videos/abc`) are 400s in our error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// The user a valid `Authorization: Bearer <token>` names.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: i64,
}

impl AuthUser {
    /// The caller named by `headers`, for handlers where authentication depends on what is
    /// asked for (a public video's file needs none).
    pub fn from_headers(headers: &HeaderMap, state: &AppState) -> Result<Self, ApiError> {
        let header = headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <access_token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <access_token>`")
            })?;
        let id = state
            .tokens
            .verify(token.trim())
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        Ok(Self { id })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::from_headers(&parts.headers, state)
    }
}
