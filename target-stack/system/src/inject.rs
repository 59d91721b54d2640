//! Synthetic work for the worker path: real, decodable videos of a chosen size, stored once,
//! and tasks queued straight into the queue, bypassing the web layer. `target-stack enqueue`
//! uses it for a quick stress; loadgen's scenario 2 uses it for its measured runs.
//!
//! Each task gets its own video row (owned by one synthetic user) so that the worker does
//! exactly what it does for an upload; the rows share one stored original, as the worker
//! only reads it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::Backends;
use crate::auth::hash_password;
use crate::clock::now_ms;
use crate::db::{DbError, NewUser, NewVideo};
use crate::domain::{Email, Label, LabelKind, Password};
use crate::queue::TaskMessage;
use rundir::{InjectReply, InjectRequest};

/// The synthetic tasks' owner. `.invalid` is reserved: no real user can have it.
pub const SYNTHETIC_EMAIL: &str = "synthetic-load@aforo.invalid";

/// How a video of a given size is made: realistic bitrates, so the size comes from bitrate ×
/// duration rather than padding, and the worker decodes as much as it would for a real one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoPlan {
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub duration_secs: f64,
    pub bitrate_bps: u64,
}

/// A phone-like 1080p stream runs at about 8 Mbit/s.
const FULL_HD_BITRATE: u64 = 8_000_000;

impl VideoPlan {
    /// 1080p at about 8 Mbit/s for sizes of 2 s or more at that rate (a 50 MB video lasts
    /// 50 s); smaller sizes become 2 s clips at 360p and whatever bitrate fills them.
    pub fn for_size(bytes: u64) -> Self {
        let bits = bytes.saturating_mul(8);
        let duration_secs = (bits as f64 / FULL_HD_BITRATE as f64).clamp(2.0, 600.0);
        let bitrate_bps = (bits as f64 / duration_secs) as u64;
        let (width, height) = if bitrate_bps >= FULL_HD_BITRATE / 2 {
            (1920, 1080)
        } else {
            (640, 360)
        };
        Self {
            bytes,
            width,
            height,
            duration_secs,
            bitrate_bps,
        }
    }

    /// The ffmpeg arguments that write this video to `output`: a moving test pattern with
    /// noise (so the encoder really spends the bits), constant bitrate H.264 + faststart.
    pub fn ffmpeg_arguments(&self, output: &Path) -> Vec<String> {
        let rate = format!("{}", self.bitrate_bps);
        let buffer = format!("{}", self.bitrate_bps / 2);
        [
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!(
                "testsrc2=size={}x{}:rate=30:duration={:.3}",
                self.width, self.height, self.duration_secs
            ),
            "-vf",
            "noise=alls=20:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            &rate,
            "-minrate",
            &rate,
            "-maxrate",
            &rate,
            "-bufsize",
            &buffer,
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([output.display().to_string()])
        .collect()
    }
}

/// Returns a video of about `bytes` (within a few percent) from `cache_dir`, generating it
/// with ffmpeg the first time.
pub async fn cached_video(ffmpeg: &Path, bytes: u64, cache_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = cache_dir.join(format!("synthetic-{bytes}.mp4"));
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(path);
    }
    tokio::fs::create_dir_all(cache_dir)
        .await
        .with_context(|| format!("cannot create {}", cache_dir.display()))?;
    let plan = VideoPlan::for_size(bytes);
    // Written beside and renamed, so an interrupted run never leaves half a video cached.
    let partial = cache_dir.join(format!("synthetic-{bytes}.partial.mp4"));
    let output = tokio::process::Command::new(ffmpeg)
        .args(plan.ffmpeg_arguments(&partial))
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| {
            format!(
                "cannot run {} to generate a test video; install ffmpeg or set ANB_FFMPEG",
                ffmpeg.display()
            )
        })?;
    anyhow::ensure!(
        output.status.success(),
        "ffmpeg could not generate a {bytes}-byte test video: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    tokio::fs::rename(&partial, &path).await?;
    Ok(path)
}

/// A video stored once for many tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub key: String,
    pub bytes: u64,
}

pub use rundir::QueuedTask;

/// Puts synthetic tasks on the target's own queue, with their videos in its own storage.
#[derive(Debug, Clone)]
pub struct Injector {
    backends: Backends,
    owner_id: i64,
}

impl Injector {
    /// Finds or creates the synthetic owner.
    pub async fn new(backends: Backends) -> anyhow::Result<Self> {
        let email = Email::parse(SYNTHETIC_EMAIL).expect("a valid constant address");
        let owner_id = match backends.db.user_by_email(&email).await? {
            Some(user) => user.id,
            None => {
                // Nobody logs in as this user; the password is random and thrown away.
                let password = Password::parse(&uuid::Uuid::new_v4().to_string())
                    .expect("a uuid is a valid password");
                let hash = hash_password(password).await?;
                let label = |text: &str, kind| Label::parse(kind, text).expect("valid constant");
                let name = label("Synthetic", LabelKind::FirstName);
                let user = NewUser {
                    email: &email,
                    password_hash: &hash,
                    first_name: &name,
                    last_name: &label("Load", LabelKind::LastName),
                    city: &label("Loopback", LabelKind::City),
                    country: &label("Localhost", LabelKind::Country),
                };
                match backends.db.insert_user(&user).await {
                    Ok(id) => id,
                    // Another injector created it first.
                    Err(DbError::Conflict) => {
                        backends
                            .db
                            .user_by_email(&email)
                            .await?
                            .context("the synthetic user vanished")?
                            .id
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(Self { backends, owner_id })
    }

    /// Stores `file` once under `originals/synthetic/`.
    pub async fn upload(&self, file: &Path) -> anyhow::Result<Payload> {
        let key = format!("originals/synthetic/{}.mp4", uuid::Uuid::new_v4());
        let bytes = self
            .backends
            .storage
            .put_file(&key, file)
            .await
            .with_context(|| format!("cannot store {}", file.display()))?;
        Ok(Payload { key, bytes })
    }

    /// Queues `count` tasks for `payload`: their video rows first, then their messages in
    /// batches (SendMessageBatch on SQS), the order of an upload, so the worker never
    /// receives a task for a video it cannot find. A batch the queue refuses removes its
    /// video rows again.
    pub async fn enqueue(
        &self,
        payload: &Payload,
        count: usize,
    ) -> anyhow::Result<Vec<QueuedTask>> {
        let mut tasks = Vec::with_capacity(count);
        let mut pending: Vec<TaskMessage> = Vec::new();
        for _ in 0..count {
            let task_id = uuid::Uuid::new_v4().to_string();
            let title = Label::parse(LabelKind::Title, &format!("synthetic {}", &task_id[..8]))
                .expect("a short ASCII title is valid");
            let video_id = self
                .backends
                .db
                .insert_video(&NewVideo {
                    owner_id: self.owner_id,
                    title: &title,
                    task_id: &task_id,
                    original_key: &payload.key,
                })
                .await?;
            pending.push(TaskMessage {
                task_id,
                video_id,
                original_key: payload.key.clone(),
                enqueued_at: 0,
            });
        }
        for start in (0..pending.len()).step_by(10) {
            let end = (start + 10).min(pending.len());
            let enqueued_at = now_ms();
            for message in &mut pending[start..end] {
                message.enqueued_at = enqueued_at;
            }
            let bodies: Vec<String> = pending[start..end]
                .iter()
                .map(TaskMessage::to_json)
                .collect();
            if let Err(e) = self.backends.queue.send_batch(&bodies).await {
                // Without their messages these videos would wait forever.
                for message in &pending[start..] {
                    let _ = self
                        .backends
                        .db
                        .delete_unpublished_video(message.video_id)
                        .await;
                }
                return Err(anyhow::Error::new(e).context("cannot send the tasks to the queue"));
            }
            tasks.extend(pending[start..end].iter().map(|m| QueuedTask {
                task_id: m.task_id.clone(),
                video_id: m.video_id,
                enqueued_at: m.enqueued_at,
                bytes: payload.bytes,
            }));
        }
        Ok(tasks)
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    async fn answer(
        &self,
        request: InjectRequest,
        payload: &mut Option<Payload>,
        ffmpeg: &Path,
        cache: &Path,
    ) -> anyhow::Result<InjectReply> {
        Ok(match request {
            InjectRequest::Prepare { size_bytes } => {
                let video = cached_video(ffmpeg, size_bytes, cache).await?;
                let stored = self.upload(&video).await?;
                let reply = InjectReply::Prepared {
                    key: stored.key.clone(),
                    bytes: stored.bytes,
                };
                *payload = Some(stored);
                reply
            }
            InjectRequest::Enqueue { count } => {
                let payload = payload
                    .as_ref()
                    .context("no video prepared: send a prepare request first")?;
                InjectReply::Enqueued {
                    tasks: self.enqueue(payload, count as usize).await?,
                }
            }
            InjectRequest::Depth => {
                let depth = self.backends.queue.depth().await?;
                InjectReply::Depth {
                    counts: depth.counts(),
                }
            }
            InjectRequest::Runs { task_ids } => InjectReply::Runs {
                runs: self.backends.db.task_runs_of(&task_ids).await?,
            },
        })
    }
}

/// `target-stack inject`: answers the [`InjectRequest`]s read as JSON lines on `input` with
/// one [`InjectReply`] line each on `output`, until `input` ends. A request that fails gets
/// an `error` reply; the session goes on.
pub async fn serve_protocol(
    backends: Backends,
    ffmpeg: PathBuf,
    cache: PathBuf,
    input: impl tokio::io::AsyncBufRead + Unpin,
    mut output: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let injector = Injector::new(backends).await?;
    let mut payload = None;
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<InjectRequest>(&line) {
            Err(e) => InjectReply::Error {
                message: format!("not an inject request ({e}): {line}"),
            },
            Ok(request) => injector
                .answer(request, &mut payload, &ffmpeg, &cache)
                .await
                .unwrap_or_else(|e| InjectReply::Error {
                    message: format!("{e:#}"),
                }),
        };
        let mut text = serde_json::to_string(&reply)?;
        text.push('\n');
        output.write_all(text.as_bytes()).await?;
        output.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_bitrate_and_duration() {
        let big = VideoPlan::for_size(50_000_000);
        assert_eq!((big.width, big.height), (1920, 1080));
        assert!((big.duration_secs - 50.0).abs() < 1e-9);
        assert_eq!(big.bitrate_bps, FULL_HD_BITRATE);
        let small = VideoPlan::for_size(250_000);
        assert_eq!(
            (small.width, small.height, small.duration_secs),
            (640, 360, 2.0)
        );
        assert_eq!(small.bitrate_bps, 1_000_000);
        for plan in [big, small] {
            let expected = plan.bitrate_bps as f64 * plan.duration_secs / 8.0;
            assert!((expected - plan.bytes as f64).abs() / (plan.bytes as f64) < 1e-6);
        }
    }

    #[test]
    fn the_command_line_names_the_output_last() {
        let args = VideoPlan::for_size(500_000).ffmpeg_arguments(Path::new("/tmp/x.mp4"));
        assert_eq!(args.last().unwrap(), "/tmp/x.mp4");
        assert!(args.windows(2).any(|w| w[0] == "-b:v" && w[1] == "2000000"));
    }
}
