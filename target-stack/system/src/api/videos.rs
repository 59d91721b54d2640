//! The owner's view of their videos: `GET /api/videos`, `GET` and `DELETE /api/videos/{id}`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{AppPath, AuthUser};
use super::media::{original_url, processed_url};
use super::{ApiError, AppState, ErrorBody};
use crate::clock::rfc3339;
use crate::db::VideoRecord;
use crate::domain::VideoStatus;

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoSummary {
    video_id: i64,
    title: String,
    status: VideoStatus,
    uploaded_at: String,
    processed_at: Option<String>,
    /// Where the processed video is served (`/api/videos/{video_id}/processed`), once
    /// processed.
    processed_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoDetail {
    video_id: i64,
    title: String,
    status: VideoStatus,
    uploaded_at: String,
    processed_at: Option<String>,
    /// Where the owner can fetch the upload (`/api/videos/{video_id}/original`).
    original_url: String,
    /// Where the processed video is served (`/api/videos/{video_id}/processed`), once
    /// processed.
    processed_url: Option<String>,
    votes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    message: String,
    video_id: i64,
}

impl VideoSummary {
    pub fn new(video: &VideoRecord) -> Self {
        Self {
            video_id: video.id,
            title: video.title.clone(),
            status: video.status,
            uploaded_at: rfc3339(video.uploaded_at),
            processed_at: video.processed_at.map(rfc3339),
            processed_url: processed_url(video),
        }
    }
}

#[utoipa::path(get, path = "/api/videos", tag = "videos", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's videos, newest first", body = [VideoSummary]),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list_mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<VideoSummary>>, ApiError> {
    let videos = state.backends.db.videos_of(user.id).await?;
    Ok(Json(videos.iter().map(VideoSummary::new).collect()))
}

/// The video, if it exists and belongs to `user`.
async fn owned_video(state: &AppState, user: AuthUser, id: i64) -> Result<VideoRecord, ApiError> {
    let video = state
        .backends
        .db
        .video(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no video {id}")))?;
    if video.owner_id != user.id {
        return Err(ApiError::forbidden(format!(
            "video {id} belongs to another user"
        )));
    }
    Ok(video)
}

#[utoipa::path(get, path = "/api/videos/{video_id}", tag = "videos", security(("bearer" = [])),
    params(("video_id" = i64, Path, description = "The video's id")),
    responses(
        (status = 200, body = VideoDetail),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(video_id): AppPath<i64>,
) -> Result<Json<VideoDetail>, ApiError> {
    let video = owned_video(&state, user, video_id).await?;
    Ok(Json(VideoDetail {
        original_url: original_url(&video),
        processed_url: processed_url(&video),
        video_id: video.id,
        title: video.title,
        status: video.status,
        uploaded_at: rfc3339(video.uploaded_at),
        processed_at: video.processed_at.map(rfc3339),
        votes: video.votes,
    }))
}

#[utoipa::path(delete, path = "/api/videos/{video_id}", tag = "videos", security(("bearer" = [])),
    params(("video_id" = i64, Path, description = "The video's id")),
    responses(
        (status = 200, body = DeletedResponse),
        (status = 400, description = "Already published for voting, or the id is not a number", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(video_id): AppPath<i64>,
) -> Result<Json<DeletedResponse>, ApiError> {
    let video = owned_video(&state, user, video_id).await?;
    let published = || {
        ApiError::bad_request(
            "video_published",
            format!("video {video_id} is published for voting and can no longer be deleted"),
        )
    };
    if video.status.is_public() || !state.backends.db.delete_unpublished_video(video_id).await? {
        return Err(published());
    }
    let storage = &state.backends.storage;
    storage.delete(&video.original_key).await?;
    if let Some(key) = &video.processed_key {
        storage.delete(key).await?;
    }
    Ok(Json(DeletedResponse {
        message: "video deleted".into(),
        video_id,
    }))
}
