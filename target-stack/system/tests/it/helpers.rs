//! Shared test fixtures: a fresh set of backends per test (embedded, or PostgreSQL + S3 + SQS
//! on moto), the real API on a random port, and real MP4 files made with ffmpeg.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use target_stack::api::{self, AppState};
use target_stack::auth::{Tokens, resolve_secret};
use target_stack::{Backends, Settings};
use tempfile::TempDir;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// True when the tests run in CI, where a missing service is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing service: panics in CI, prints a loud notice otherwise.
pub fn missing(service: &str, how: &str) {
    if in_ci() {
        panic!("CI=true but {service} is not available: {how}");
    }
    eprintln!(
        "\n*** SKIPPED: {service} is not available ({how}). Run `bash .ci/run` to test it. ***\n"
    );
}

/// Sends SIGTERM to `pid` (how systemd, a balancer's owner or `up` stop a process).
pub fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
}

/// ffmpeg and ffprobe on PATH, or a skip (a failure in CI).
pub fn have_ffmpeg() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        missing("ffmpeg", "install it with `apt-get install ffmpeg`");
    }
    ok
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Embedded,
    Aws,
}

/// A private set of backends and the settings that name them.
pub struct TestEnv {
    pub flavor: Flavor,
    pub vars: HashMap<String, String>,
    pub settings: Settings,
    pub backends: Backends,
    pub dir: TempDir,
}

impl TestEnv {
    pub async fn new(flavor: Flavor) -> Option<Self> {
        Self::with(flavor, &[]).await
    }

    /// Backends of `flavor`, with extra settings (`ANB_*` variables) on top. None when the
    /// AWS services are missing outside CI.
    pub async fn with(flavor: Flavor, extra: &[(&str, &str)]) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("ANB_DATA_DIR".into(), dir.path().display().to_string());
        vars.insert("ANB_JWT_SECRET".into(), JWT_SECRET.into());
        vars.insert("ANB_RETRY_DELAY_SECS".into(), "0".into());
        if flavor == Flavor::Aws {
            vars.extend(aws_backends(extra).await?);
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings");
        let backends = Backends::connect(&settings).await.expect("backends");
        Some(Self {
            flavor,
            vars,
            settings,
            backends,
            dir,
        })
    }

    pub fn tokens(&self) -> Tokens {
        Tokens::new(
            &resolve_secret(&self.settings).unwrap(),
            self.settings.auth.token_ttl,
        )
    }

    /// Every object in storage, plus (embedded) every file under the storage directory, so
    /// that staging files left by an aborted upload show too.
    pub async fn stored_files(&self) -> Vec<String> {
        let mut all = self.backends.storage.list("").await.unwrap();
        if self.flavor == Flavor::Embedded {
            let root = self.dir.path().join("storage");
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        let rel = path.strip_prefix(&root).unwrap().display().to_string();
                        if !all.contains(&rel) {
                            all.push(rel);
                        }
                    }
                }
            }
        }
        all.sort();
        all
    }
}

/// A fresh PostgreSQL database, S3 bucket and SQS queue + DLQ on moto.
async fn aws_backends(extra: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    let postgres = std::env::var("AFORO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let Some(moto) = std::env::var("AFORO_TEST_MOTO_URL").ok() else {
        missing(
            "the moto server (S3 + SQS)",
            "set AFORO_TEST_MOTO_URL=http://127.0.0.1:PORT",
        );
        return None;
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();

    // PostgreSQL: one database per test.
    let database = format!("aforo_test_{suffix}");
    let admin = match sqlx::PgPool::connect(&postgres).await {
        Ok(pool) => pool,
        Err(e) => {
            missing("PostgreSQL", &format!("{postgres}: {e}"));
            return None;
        }
    };
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let base = postgres
        .rsplit_once('/')
        .map_or(postgres.as_str(), |(b, _)| b);

    let mut vars = HashMap::new();
    vars.insert("DATABASE_URL".to_string(), format!("{base}/{database}"));
    vars.insert("AWS_ENDPOINT_URL".into(), moto.clone());
    vars.insert("AWS_REGION".into(), "us-east-1".into());
    vars.insert("AWS_ACCESS_KEY_ID".into(), "testing".into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "testing".into());

    // S3: a bucket (moto takes unsigned requests).
    let bucket = format!("aforo-test-{suffix}");
    let created = reqwest::Client::new()
        .put(format!("{moto}/{bucket}"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    vars.insert("ANB_STORAGE".into(), format!("s3://{bucket}/videos"));

    // SQS: a queue whose redrive policy matches the settings' max receives.
    let max_receives = extra
        .iter()
        .find(|(k, _)| *k == "ANB_QUEUE_MAX_RECEIVES")
        .map_or("3", |(_, v)| v);
    let lookup = vars.clone();
    let settings = Settings::from_lookup(|k| lookup.get(k).cloned()).unwrap();
    let sqs = target_stack::queue::sqs::client(&settings.aws).await;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("tasks-dlq-{suffix}"))
        .send()
        .await
        .expect("create DLQ");
    let dlq_url = dlq.queue_url.unwrap();
    let dlq_arn = format!("arn:aws:sqs:us-east-1:123456789012:tasks-dlq-{suffix}");
    let queue = sqs
        .create_queue()
        .queue_name(format!("tasks-{suffix}"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#),
        )
        .send()
        .await
        .expect("create queue");
    vars.insert("ANB_QUEUE".into(), queue.queue_url.unwrap());
    vars.insert("ANB_DLQ".into(), dlq_url);
    Some(vars)
}

/// The real API, on a random loopback port, over `env`'s backends.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn(env: &TestEnv) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = AppState::new(env.backends.clone(), env.tokens(), &env.settings.api);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn signup(&self, email: &str, city: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/signup"))
            .json(&serde_json::json!({
                "first_name": "Ana", "last_name": email.split('@').next().unwrap(),
                "email": email, "password1": "s3cret-pass", "password2": "s3cret-pass",
                "city": city, "country": "Colombia",
            }))
            .send()
            .await
            .unwrap()
    }

    /// Signs up and logs in; returns the bearer token.
    pub async fn user(&self, email: &str, city: &str) -> String {
        assert_eq!(self.signup(email, city).await.status(), 201);
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": "s3cret-pass"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn upload(
        &self,
        token: &str,
        title: Option<&str>,
        file: Vec<u8>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new().part(
            "video_file",
            reqwest::multipart::Part::bytes(file)
                .file_name("clip.mp4")
                .mime_str("video/mp4")
                .unwrap(),
        );
        if let Some(title) = title {
            form = form.text("title", title.to_string());
        }
        self.client
            .post(self.url("/api/videos/upload"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `len` bytes (at least 48) that pass the upload's MP4 checks (signature and box
/// structure: `ftyp`, an empty `moov`, an `mdat` to the end) without being a decodable video.
pub fn fake_mp4(len: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0, 0x20];
    bytes.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
    bytes.extend_from_slice(b"\0\0\0\x08moov");
    let mdat = len.max(48) - bytes.len();
    bytes.extend_from_slice(&(mdat as u32).to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes.resize(len.max(48), 0x5a);
    bytes
}

/// A real H.264 + AAC MP4 made by ffmpeg from its test sources.
pub fn real_mp4(dir: &Path, seconds: u32, size: &str) -> PathBuf {
    let path = dir.join(format!("source-{seconds}s-{size}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make a test video");
    path
}

/// What ffprobe says of a video: width, height, duration in seconds, and whether it has audio.
pub struct Probe {
    pub width: u64,
    pub height: u64,
    pub duration: f64,
    pub has_audio: bool,
    pub sample_aspect_ratio: String,
}

pub fn probe(path: &Path) -> Probe {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        path.display()
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let streams = json["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    Probe {
        width: video["width"].as_u64().unwrap(),
        height: video["height"].as_u64().unwrap(),
        duration: json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        has_audio: streams.iter().any(|s| s["codec_type"] == "audio"),
        sample_aspect_ratio: video["sample_aspect_ratio"]
            .as_str()
            .unwrap_or("1:1")
            .to_string(),
    }
}

/// One frame of a 1280×720 video as 8-bit luma, row by row.
pub struct Frame(Vec<u8>);

impl Frame {
    pub fn at(path: &Path, seconds: f64) -> Self {
        let output = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-ss",
                &seconds.to_string(),
                "-i",
            ])
            .arg(path)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
            .output()
            .expect("run ffmpeg");
        assert!(output.status.success());
        assert_eq!(output.stdout.len(), 1280 * 720, "not a 1280x720 frame");
        Self(output.stdout)
    }

    /// The brightest pixel in columns `x` and rows `y`.
    pub fn max_luma(&self, x: std::ops::Range<usize>, y: std::ops::Range<usize>) -> u8 {
        y.flat_map(|row| self.0[row * 1280..][x.clone()].iter().copied())
            .max()
            .unwrap()
    }
}

/// Runs a test body once per backend flavor: `embedded::name` and `aws::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = $crate::helpers::TestEnv::new($crate::helpers::Flavor::Embedded)
                        .await
                        .expect("embedded backends need no service");
                    super::$name(env).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(env) = $crate::helpers::TestEnv::new($crate::helpers::Flavor::Aws).await {
                        super::$name(env).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
