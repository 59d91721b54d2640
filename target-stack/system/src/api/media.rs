//! The videos' files, served by the API: `GET /api/videos/{video_id}/processed` and
//! `GET /api/videos/{video_id}/original`. Responses name a video's files by these paths
//! (`processed_url`, `original_url`), never by where storage keeps them: the bucket stays
//! private and its location internal.
//!
//! Who may fetch what, from the contract: a processed video is public (it is listed at
//! `/api/public/videos` and takes votes), so its processed file needs no token; an original
//! is its owner's only (401 without a token, 403 for another user). The file streams from
//! storage as it is sent, whatever its size; a single `Range: bytes=…` is answered with 206
//! and that part (players seek with it), other ranges are ignored and the whole file sent.

use std::ops::Range;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use utoipa::ToSchema;

use super::extract::{AppPath, AuthUser};
use super::{ApiError, AppState, ErrorBody};
use crate::db::VideoRecord;

/// Where a video's processed file is served, once there is one.
pub fn processed_url(video: &VideoRecord) -> Option<String> {
    video
        .processed_key
        .as_ref()
        .map(|_| format!("/api/videos/{}/processed", video.id))
}

/// Where a video's original upload is served (to its owner).
pub fn original_url(video: &VideoRecord) -> String {
    format!("/api/videos/{}/original", video.id)
}

/// The bytes of an MP4 file (for the OpenAPI document).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct VideoFile(Vec<u8>);

#[utoipa::path(get, path = "/api/videos/{video_id}/processed", tag = "videos",
    security((), ("bearer" = [])),
    params(
        ("video_id" = i64, Path, description = "The video's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The processed video", content_type = "video/mp4", body = VideoFile),
        (status = 206, description = "The requested part of it", content_type = "video/mp4", body = VideoFile),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Not processed yet, and no token", body = ErrorBody),
        (status = 403, description = "Not processed yet, and not the owner", body = ErrorBody),
        (status = 404, description = "No such video, or not processed yet", body = ErrorBody),
        (status = 416, description = "The range starts past the end", body = ErrorBody),
    ))]
pub async fn processed(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppPath(video_id): AppPath<i64>,
) -> Result<Response, ApiError> {
    let video = find(&state, video_id).await?;
    let public = video.status.is_public();
    if !public {
        owner_only(&state, &headers, &video)?;
    }
    let key = video.processed_key.as_deref().ok_or_else(|| {
        ApiError::not_found(format!(
            "video {video_id} is {}: it has no processed file yet",
            video.status.as_str()
        ))
    })?;
    let cache = if public {
        "public, max-age=3600"
    } else {
        "private, no-store"
    };
    send_file(&state, key, &headers, cache).await
}

#[utoipa::path(get, path = "/api/videos/{video_id}/original", tag = "videos",
    security(("bearer" = [])),
    params(
        ("video_id" = i64, Path, description = "The video's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The file as uploaded", content_type = "video/mp4", body = VideoFile),
        (status = 206, description = "The requested part of it", content_type = "video/mp4", body = VideoFile),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 416, description = "The range starts past the end", body = ErrorBody),
    ))]
pub async fn original(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppPath(video_id): AppPath<i64>,
) -> Result<Response, ApiError> {
    let video = find(&state, video_id).await?;
    owner_only(&state, &headers, &video)?;
    send_file(&state, &video.original_key, &headers, "private, no-store").await
}

async fn find(state: &AppState, video_id: i64) -> Result<VideoRecord, ApiError> {
    state
        .backends
        .db
        .video(video_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no video {video_id}")))
}

fn owner_only(state: &AppState, headers: &HeaderMap, video: &VideoRecord) -> Result<(), ApiError> {
    let user = AuthUser::from_headers(headers, state)?;
    if user.id != video.owner_id {
        return Err(ApiError::forbidden(format!(
            "video {} belongs to another user",
            video.id
        )));
    }
    Ok(())
}

/// Streams an object, whole or the one range asked for.
async fn send_file(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
    cache: &'static str,
) -> Result<Response, ApiError> {
    let storage = &state.backends.storage;
    let requested = headers.get(RANGE).and_then(|v| v.to_str().ok());
    let (status, object) = match requested {
        None => (StatusCode::OK, storage.read(key, None).await),
        Some(header) => {
            let size = match storage.size(key).await {
                Ok(size) => size,
                Err(e) if e.is_not_found() => return Err(missing_object(key)),
                Err(e) => return Err(e.into()),
            };
            match RangeAnswer::of(header, size) {
                RangeAnswer::Whole => (StatusCode::OK, storage.read(key, None).await),
                RangeAnswer::Part(range) => (
                    StatusCode::PARTIAL_CONTENT,
                    storage.read(key, Some(range)).await,
                ),
                RangeAnswer::Unsatisfiable => {
                    let mut response = ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "range_not_satisfiable",
                        format!("the file has {size} bytes; ask for a range that starts in it"),
                    )
                    .into_response();
                    response.headers_mut().insert(
                        CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
                    );
                    return Ok(response);
                }
            }
        }
    };
    let object = match object {
        Ok(object) => object,
        Err(e) if e.is_not_found() => return Err(missing_object(key)),
        Err(e) => return Err(e.into()),
    };
    let mut response = Response::new(Body::from_stream(object.stream.map(|chunk| {
        chunk.inspect_err(|e| tracing::warn!(error = %e, "a file stopped streaming midway"))
    })));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        CONTENT_LENGTH,
        HeaderValue::from(object.range.end - object.range.start),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let range = &object.range;
        let value = format!("bytes {}-{}/{}", range.start, range.end - 1, object.size);
        h.insert(CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII"));
    }
    Ok(response)
}

/// The database names an object storage does not have: a fault, not the client's.
fn missing_object(key: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "the database names {key}, which is not in storage"
    ))
}

/// What to send for a `Range` header (RFC 9110 §14), given the file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No single byte range understood: the whole file, 200 (a server may ignore Range).
    Whole,
    /// These bytes, 206.
    Part(Range<u64>),
    /// A valid range that starts past the end, 416.
    Unsatisfiable,
}

impl RangeAnswer {
    pub fn of(header: &str, size: u64) -> Self {
        let Some(spec) = header.trim().strip_prefix("bytes=") else {
            return Self::Whole;
        };
        if spec.contains(',') {
            return Self::Whole; // several ranges: multipart/byteranges is not worth it
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Whole;
        };
        let number = |s: &str| -> Option<Option<u64>> {
            let s = s.trim();
            if s.is_empty() {
                Some(None)
            } else if s.bytes().all(|b| b.is_ascii_digit()) {
                // Too many digits for u64: clamp, the range is then past any file.
                Some(Some(s.parse().unwrap_or(u64::MAX)))
            } else {
                None
            }
        };
        let (Some(first), Some(last)) = (number(first), number(last)) else {
            return Self::Whole;
        };
        match (first, last) {
            (Some(first), last) => {
                if last.is_some_and(|last| last < first) {
                    return Self::Whole; // invalid: ignored
                }
                if first >= size {
                    return Self::Unsatisfiable;
                }
                let end = last.map_or(size, |last| last.saturating_add(1).min(size));
                Self::Part(first..end)
            }
            (None, Some(suffix)) => {
                if suffix == 0 || size == 0 {
                    return Self::Unsatisfiable;
                }
                Self::Part(size - suffix.min(size)..size)
            }
            (None, None) => Self::Whole,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn answers_the_ranges_players_send() {
        assert_eq!(RangeAnswer::of("bytes=0-", 100), RangeAnswer::Part(0..100));
        assert_eq!(RangeAnswer::of("bytes=0-9", 100), RangeAnswer::Part(0..10));
        assert_eq!(
            RangeAnswer::of("bytes=90-200", 100),
            RangeAnswer::Part(90..100)
        );
        assert_eq!(
            RangeAnswer::of("bytes=-10", 100),
            RangeAnswer::Part(90..100)
        );
        assert_eq!(
            RangeAnswer::of("bytes=-500", 100),
            RangeAnswer::Part(0..100)
        );
        assert_eq!(
            RangeAnswer::of("bytes=100-", 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(RangeAnswer::of("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(RangeAnswer::of("bytes=0-", 0), RangeAnswer::Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,5-6",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(
                RangeAnswer::of(ignored, 100),
                RangeAnswer::Whole,
                "{ignored}"
            );
        }
        assert_eq!(
            RangeAnswer::of("bytes=99999999999999999999999-", 100),
            RangeAnswer::Unsatisfiable
        );
    }

    proptest! {
        #[test]
        fn a_part_is_never_empty_and_never_past_the_end(header in "\\PC{0,40}", size in 0u64..10_000) {
            if let RangeAnswer::Part(range) = RangeAnswer::of(&header, size) {
                prop_assert!(range.start < range.end && range.end <= size, "{range:?}");
            }
        }

        #[test]
        fn a_bounded_range_inside_the_file_is_served_exactly(
            size in 1u64..10_000, a in 0u64..10_000, len in 1u64..10_000,
        ) {
            let first = a % size;
            let last = first + (len - 1) % (size - first);
            prop_assert_eq!(
                RangeAnswer::of(&format!("bytes={first}-{last}"), size),
                RangeAnswer::Part(first..last + 1)
            );
        }

        #[test]
        fn a_suffix_is_the_end_of_the_file(size in 1u64..10_000, n in 1u64..20_000) {
            let RangeAnswer::Part(range) = RangeAnswer::of(&format!("bytes=-{n}"), size) else {
                return Err(TestCaseError::fail("a suffix range is satisfiable"));
            };
            prop_assert_eq!(range.end, size);
            prop_assert_eq!(range.end - range.start, n.min(size));
        }
    }
}
