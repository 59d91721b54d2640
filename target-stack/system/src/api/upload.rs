//! `POST /api/videos/upload`: multipart `video_file` (MP4, bounded size) and `title`.
//!
//! The file streams straight into object storage through a multipart upload that is only
//! committed once the whole request has been read and checked: the container signature is
//! checked on the first bytes, the size as bytes arrive, the title whenever its field comes.
//! Any failure aborts the upload, so a refused request stores nothing.
//!
//! The body must keep the minimum pace (`limits::paced`: a stalled or trickling upload gets
//! 408), the whole form is bounded by the file's limit plus a little, and the title is read
//! only up to `ANB_MAX_FORM_FIELD_BYTES` (413 past it): no field is held whole in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::multipart::{Field, Multipart};
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::AuthUser;
use super::limits::{Pace, paced, too_slow};
use super::{ApiError, AppState, ErrorBody};
use crate::clock::now_ms;
use crate::db::NewVideo;
use crate::domain::{Label, LabelKind, Mp4Structure, NotAVideo};
use crate::queue::TaskMessage;
use crate::storage::{Storage, Upload};

/// The form the endpoint takes (for the OpenAPI document).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// An MP4 file of at most 100 MB (ANB_MAX_UPLOAD_BYTES).
    #[schema(value_type = String, format = Binary)]
    video_file: Vec<u8>,
    title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    message: String,
    /// The processing task's id, carried through the queue to the worker.
    task_id: String,
    video_id: i64,
}

/// The first bytes of an ISO base media file: a box size, then `ftyp` and a major brand.
/// QuickTime (`qt  `) and still-image brands (HEIF, AVIF) share the container but are not
/// MP4 videos.
pub fn looks_like_mp4(head: &[u8]) -> bool {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let brand = &head[8..12];
    let size_ok = size == 1 || (12..=4096).contains(&size);
    let printable = brand.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    let not_mp4 = [b"qt  ", b"heic", b"heix", b"mif1", b"msf1", b"avif"];
    size_ok && printable && !not_mp4.iter().any(|b| brand == *b)
}

#[utoipa::path(post, path = "/api/videos/upload", tag = "videos", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and queued for processing", body = UploadResponse),
        (status = 400, description = "Not an MP4, too large, or no title", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 408, description = "The form arrived too slowly (ANB_BODY_READ_TIMEOUT_SECS, ANB_BODY_MIN_BYTES_PER_SEC)", body = ErrorBody),
        (status = 413, description = "The title field is larger than ANB_MAX_FORM_FIELD_BYTES", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    request: Request,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let too_slow_flag = Arc::new(AtomicBool::new(false));
    let request =
        request.map(|body| paced(body, Pace::new(&state.limits), Arc::clone(&too_slow_flag)));
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let task_id = uuid::Uuid::new_v4().to_string();
    let key = format!("originals/{task_id}.mp4");
    let storage = &state.backends.storage;

    let mut form = ReceivedForm::default();
    let limits = FormLimits {
        file_bytes: state.max_upload_bytes,
        field_bytes: state.limits.max_form_field_bytes,
    };
    if let Err(error) = form.read(&mut multipart, storage, &key, limits).await {
        form.abort().await;
        // The form's reader saw only "the stream failed": say why when the pace was it.
        if too_slow_flag.load(Ordering::Relaxed) {
            return Err(too_slow(&state.limits));
        }
        return Err(error);
    }
    let (title, upload) = form.into_parts().await?;
    let size = upload.finish().await?;

    let video_id = match state
        .backends
        .db
        .insert_video(&NewVideo {
            owner_id: user.id,
            title: &title,
            task_id: &task_id,
            original_key: &key,
        })
        .await
    {
        Ok(id) => id,
        Err(e) => {
            let _ = storage.delete(&key).await;
            return Err(e.into());
        }
    };
    let task = TaskMessage {
        task_id: task_id.clone(),
        video_id,
        original_key: key.clone(),
        enqueued_at: now_ms(),
    };
    if let Err(e) = state.backends.queue.send(&task.to_json()).await {
        // Without its task the video would wait forever: undo, and let the client retry.
        let _ = state.backends.db.delete_unpublished_video(video_id).await;
        let _ = storage.delete(&key).await;
        return Err(ApiError::internal(e));
    }
    tracing::info!(video_id, %task_id, bytes = size, "video uploaded and queued");
    Ok((
        StatusCode::CREATED,
        Json(UploadResponse {
            message: "video uploaded; processing has been queued".into(),
            task_id,
            video_id,
        }),
    ))
}

#[derive(Debug, Clone, Copy)]
struct FormLimits {
    file_bytes: u64,
    /// Every field but the file (the title).
    field_bytes: usize,
}

#[derive(Default)]
struct ReceivedForm {
    title: Option<Label>,
    upload: Option<Upload>,
}

impl ReceivedForm {
    async fn read(
        &mut self,
        multipart: &mut Multipart,
        storage: &Storage,
        key: &str,
        limits: FormLimits,
    ) -> Result<(), ApiError> {
        while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
            match field.name() {
                Some("title") if self.title.is_some() => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "send exactly one title",
                    ));
                }
                Some("title") => {
                    let raw = small_field(field, "title", limits.field_bytes).await?;
                    let title = Label::parse(LabelKind::Title, &raw)
                        .map_err(|e| ApiError::bad_request("invalid_title", e.0))?;
                    self.title = Some(title);
                }
                Some("video_file") if self.upload.is_some() => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "send exactly one video_file",
                    ));
                }
                Some("video_file") => {
                    self.upload = Some(stream_video(field, storage, key, limits.file_bytes).await?);
                }
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        format!(
                            "unexpected form field {:?}; send only video_file and title",
                            other.unwrap_or("")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Both fields, or the error for the missing one (aborting a received file).
    async fn into_parts(self) -> Result<(Label, Upload), ApiError> {
        match (self.title, self.upload) {
            (Some(title), Some(upload)) => Ok((title, upload)),
            (None, upload) => {
                if let Some(upload) = upload {
                    upload.abort().await;
                }
                Err(ApiError::bad_request(
                    "missing_title",
                    "the form needs a title field",
                ))
            }
            (Some(_), None) => Err(ApiError::bad_request(
                "missing_file",
                "the form needs a video_file field (MP4)",
            )),
        }
    }

    async fn abort(self) {
        if let Some(upload) = self.upload {
            upload.abort().await;
        }
    }
}

/// A text field read up to `max_bytes`, refused (413) as soon as it grows past them.
async fn small_field(
    mut field: Field<'_>,
    name: &str,
    max_bytes: usize,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "field_too_large",
                format!("the {name} field exceeds the limit of {max_bytes} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request("invalid_request", format!("the {name} field is not UTF-8"))
    })
}

/// Streams one file field into storage, refusing it before anything is committed when it
/// is not an MP4 or grows past `max_bytes`.
async fn stream_video(
    mut field: Field<'_>,
    storage: &Storage,
    key: &str,
    max_bytes: u64,
) -> Result<Upload, ApiError> {
    let too_large = || {
        ApiError::bad_request(
            "file_too_large",
            format!("video_file exceeds the limit of {max_bytes} bytes"),
        )
    };
    let not_mp4 = || {
        ApiError::bad_request(
            "not_mp4",
            "video_file is not an MP4 video (no MP4 ftyp header)",
        )
    };

    let mut head: Vec<u8> = Vec::new();
    let mut upload: Option<Upload> = None;
    let mut structure = Mp4Structure::default();
    let result = async {
        while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
            let received = upload.as_ref().map_or(head.len(), |u| u.written() as usize);
            if (received + chunk.len()) as u64 > max_bytes {
                return Err(too_large());
            }
            match upload.as_mut() {
                Some(upload) => upload.write(&chunk).await?,
                None => {
                    head.extend_from_slice(&chunk);
                    if head.len() >= 12 {
                        if !looks_like_mp4(&head) {
                            return Err(not_mp4());
                        }
                        let mut started = storage.begin_upload(key).await?;
                        started.write(&head).await?;
                        upload = Some(started);
                    }
                }
            }
            structure.feed(&chunk).map_err(not_a_video)?;
        }
        // Without an upload the file was too short to hold a signature: not_mp4 below.
        if upload.is_some() {
            structure.finish().map_err(not_a_video)
        } else {
            Ok(())
        }
    }
    .await;
    match (result, upload) {
        (Ok(()), Some(upload)) => Ok(upload),
        (Ok(()), None) => Err(not_mp4()),
        (Err(e), upload) => {
            if let Some(upload) = upload {
                upload.abort().await;
            }
            Err(e)
        }
    }
}

/// `not_mp4` when the file is another format, `not_a_video` when it is a broken MP4.
fn not_a_video(why: NotAVideo) -> ApiError {
    let code = match why {
        NotAVideo::NoFileType => "not_mp4",
        _ => "not_a_video",
    };
    ApiError::bad_request(
        code,
        format!("video_file is not a complete MP4 video: {why}"),
    )
}

fn bad_form(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request(
        "invalid_request",
        format!("malformed multipart form: {}", error.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(size: u32, brand: &[u8; 4]) -> Vec<u8> {
        let mut h = size.to_be_bytes().to_vec();
        h.extend_from_slice(b"ftyp");
        h.extend_from_slice(brand);
        h.extend_from_slice(&[0, 0, 2, 0]);
        h
    }

    #[test]
    fn recognises_mp4_brands_and_refuses_the_rest() {
        for brand in [b"isom", b"mp42", b"avc1", b"iso5", b"M4V "] {
            assert!(looks_like_mp4(&header(32, brand)), "{brand:?}");
        }
        assert!(!looks_like_mp4(&header(32, b"qt  ")));
        assert!(!looks_like_mp4(&header(32, b"heic")));
        assert!(!looks_like_mp4(&header(0, b"isom")));
        assert!(!looks_like_mp4(b"GIF89a......"));
        assert!(!looks_like_mp4(b"\0\0\0\x20ftyp"));
    }
}
