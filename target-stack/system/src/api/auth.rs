//! `POST /api/auth/signup` and `POST /api/auth/login`.

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::AppJson;
use super::limits::Refusal;
use super::throttle::client_address;
use super::{ApiError, AppState, ErrorBody};
use crate::db::{DbError, NewUser};
use crate::domain::{Email, Label, LabelKind, Password};

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    first_name: String,
    last_name: String,
    email: String,
    password1: String,
    password2: String,
    city: String,
    country: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created", body = MessageResponse),
        (status = 400, description = "Duplicate e-mail, passwords differ, a common or short password, invalid or missing field", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked; retry after the Retry-After seconds", body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    AppJson(request): AppJson<SignupRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), Refusal> {
    let email =
        Email::parse(&request.email).map_err(|e| ApiError::bad_request("invalid_email", e.0))?;
    if request.password1 != request.password2 {
        return Err(ApiError::bad_request(
            "passwords_differ",
            "password1 and password2 must be the same",
        )
        .into());
    }
    let password = Password::parse(&request.password1)
        .map_err(|e| ApiError::bad_request("weak_password", e.0))?;
    let first_name = Label::parse(LabelKind::FirstName, &request.first_name)?;
    let last_name = Label::parse(LabelKind::LastName, &request.last_name)?;
    let city = Label::parse(LabelKind::City, &request.city)?;
    let country = Label::parse(LabelKind::Country, &request.country)?;

    let password_hash = state
        .hashing
        .hash(password)
        .await?
        .map_err(ApiError::internal)?;
    let user = NewUser {
        email: &email,
        password_hash: &password_hash,
        first_name: &first_name,
        last_name: &last_name,
        city: &city,
        country: &country,
    };
    match state.backends.db.insert_user(&user).await {
        Ok(id) => {
            tracing::info!(user_id = id, "user signed up");
            Ok((
                StatusCode::CREATED,
                Json(MessageResponse {
                    message: "account created; log in at /api/auth/login".into(),
                }),
            ))
        }
        Err(DbError::Conflict) => Err(ApiError::bad_request(
            "email_taken",
            format!("an account with {} already exists", email.as_str()),
        )
        .into()),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A bearer token", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        (status = 429, description = "Too many attempts for this account or from this address; retry after the Retry-After seconds", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked; retry after the Retry-After seconds", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Refusal> {
    // Throttles first: they cost a map lookup, the rest costs a database query and a hash.
    let address = client_address(
        peer.map(|Extension(ConnectInfo(peer))| peer),
        &headers,
        state.limits.trust_forwarded_for,
    );
    state
        .login_throttle
        .admit(&request.email, address, std::time::Instant::now())?;
    let user = match Email::parse(&request.email) {
        Ok(email) => state
            .backends
            .db
            .user_by_email(&email)
            .await
            .map_err(ApiError::from)?,
        Err(_) => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let wrong = || ApiError::unauthorized("wrong e-mail or password");
    if !state.hashing.verify(request.password, hash).await? {
        return Err(wrong().into());
    }
    let user = user.ok_or_else(wrong)?;
    Ok(Json(LoginResponse {
        access_token: state.tokens.issue(user.id),
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
    }))
}
