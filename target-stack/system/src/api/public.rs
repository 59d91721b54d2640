//! The public side: processed videos, votes and rankings.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::MessageResponse;
use super::extract::{AppPath, AppQuery, AuthUser};
use super::media::processed_url;
use super::{ApiError, AppState, ErrorBody};
use crate::clock::rfc3339;
use crate::db::DbError;
use crate::domain::{Label, LabelKind, Page};

// The bounds documented below are those `Page::parse` and `Label::parse` enforce; the
// OpenAPI test checks they agree, so fuzzers explore exactly the accepted space and its edges.

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 4_294_967_295_i64, example = 1)]
    page: Option<i64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    per_page: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingParams {
    /// Only users of this city (case-insensitive; surrounding spaces are ignored): 1 to 100
    /// characters once trimmed, no control characters.
    // Exactly what `Label::parse(City)` takes: Rust's whitespace around, then 1 to 100
    // characters that are not control characters (Cc) and do not start or end with
    // whitespace.
    #[param(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        example = "Bogotá"
    )]
    city: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 4_294_967_295_i64, example = 1)]
    page: Option<i64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    per_page: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicVideo {
    video_id: i64,
    title: String,
    username: String,
    city: String,
    votes: i64,
    processed_at: Option<String>,
    /// Where the processed video is served (`/api/videos/{video_id}/processed`, public).
    processed_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankingEntry {
    position: i64,
    username: String,
    city: String,
    votes: i64,
}

fn page(page: Option<i64>, per_page: Option<i64>) -> Result<Page, ApiError> {
    Page::parse(page, per_page).map_err(|e| ApiError::bad_request("invalid_parameters", e.0))
}

#[utoipa::path(get, path = "/api/public/videos", tag = "public", params(PageParams),
    responses(
        (status = 200, description = "Processed videos, newest first", body = [PublicVideo]),
        (status = 400, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Vec<PublicVideo>>, ApiError> {
    let page = page(params.page, params.per_page)?;
    let videos = state.backends.db.public_videos(page).await?;
    Ok(Json(
        videos
            .into_iter()
            .map(|v| PublicVideo {
                processed_url: processed_url(&v),
                video_id: v.id,
                title: v.title,
                username: v.owner_name,
                city: v.owner_city,
                votes: v.votes,
                processed_at: v.processed_at.map(rfc3339),
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/public/videos/{video_id}/vote", tag = "public",
    security(("bearer" = [])),
    params(("video_id" = i64, Path, description = "The video's id")),
    responses(
        (status = 200, body = MessageResponse),
        (status = 400, description = "Already voted for this video, or the id is not a number", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such public video", body = ErrorBody),
    ))]
pub async fn vote(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(video_id): AppPath<i64>,
) -> Result<Json<MessageResponse>, ApiError> {
    let db = &state.backends.db;
    match db.video(video_id).await? {
        Some(video) if video.status.is_public() => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "there is no public video {video_id}"
            )));
        }
    }
    match db.insert_vote(video_id, user.id).await {
        Ok(()) => Ok(Json(MessageResponse {
            message: "vote recorded".into(),
        })),
        Err(DbError::Conflict) => Err(ApiError::bad_request(
            "already_voted",
            format!("you already voted for video {video_id}; one vote per video"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/public/rankings", tag = "public", params(RankingParams),
    responses(
        (status = 200, description = "Users by votes received, highest first", body = [RankingEntry]),
        (status = 400, body = ErrorBody),
    ))]
pub async fn rankings(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<RankingParams>,
) -> Result<Json<Vec<RankingEntry>>, ApiError> {
    let page = page(params.page, params.per_page)?;
    let city = params
        .city
        .map(|c| Label::parse(LabelKind::City, &c))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_parameters", e.0))?;
    let rows = state.backends.db.rankings(city.as_ref(), page).await?;
    Ok(Json(
        rows.into_iter()
            .zip(page.offset() + 1..)
            .map(|(row, position)| RankingEntry {
                position,
                username: row.username,
                city: row.city,
                votes: row.votes,
            })
            .collect(),
    ))
}
