//! The running stack's operator interface, for seed 002's commands: a small HTTP API on
//! loopback whose address `up` writes to `<data dir>/stack.json`, so `target-stack status`,
//! `scale` and `chaos kill` find the stack from the same `ANB_DATA_DIR`.
//!
//! `GET /status` (the last second's figures), `POST /groups/{group}/desired/{n}`
//! (SetDesiredCapacity), `POST /groups/{group}/kill` (SIGKILL one instance).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::telemetry::{BalancerSecond, GroupSecond, QueueSecond};

/// The figures of the last second, for `status` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StackStatus {
    /// Seconds since the stack started.
    #[serde(default)]
    pub uptime_secs: u64,
    pub groups: Vec<GroupSecond>,
    pub balancer: BalancerSecond,
    /// None when the app has no queue (`app = "inference"`) or its depth could not be read.
    #[serde(default)]
    pub queue: Option<QueueSecond>,
    /// Each group's latest policy evaluation, changed or not.
    #[serde(default)]
    pub decisions: Vec<GroupDecision>,
    /// The decisions that changed a desired capacity, oldest first (at most 10).
    pub last_decisions: Vec<String>,
    /// The latest scaling activities, oldest first (at most 10).
    #[serde(default)]
    pub activities: Vec<ActivityLine>,
}

/// What a group's policies concluded on the last tick.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupDecision {
    pub group: String,
    pub desired: u32,
    pub reason: String,
}

/// A scaling activity, shortened for display.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActivityLine {
    /// Seconds since the stack started.
    pub at_secs: u64,
    pub group: String,
    pub description: String,
}

/// Operator commands, carried out by the supervisor between ticks.
#[derive(Debug)]
pub(super) enum Command {
    /// SetDesiredCapacity (HonorCooldown off): the new desired capacity, clamped to min..max.
    SetDesired {
        group: String,
        capacity: u32,
        reply: oneshot::Sender<anyhow::Result<u32>>,
    },
    /// Chaos: SIGKILL one running instance of the group; the group replaces it.
    KillOne {
        group: String,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
}

/// A clonable handle on a running stack for operator commands.
#[derive(Debug, Clone)]
pub struct StackControl {
    status: Arc<Mutex<StackStatus>>,
    commands: mpsc::Sender<Command>,
}

impl StackControl {
    /// The handle on the supervisor that publishes `status` and reads `commands`.
    pub(super) fn new(status: Arc<Mutex<StackStatus>>, commands: mpsc::Sender<Command>) -> Self {
        Self { status, commands }
    }

    pub fn status(&self) -> StackStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets a group's desired capacity, as SetDesiredCapacity does; returns the capacity set.
    pub async fn set_desired(&self, group: &str, capacity: u32) -> anyhow::Result<u32> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SetDesired {
                group: group.to_string(),
                capacity,
                reply,
            })
            .await
            .context("the stack has stopped")?;
        answer.await.context("the stack has stopped")?
    }

    /// Kills one instance of the group at once (fault rehearsal); returns its name.
    pub async fn kill_one(&self, group: &str) -> anyhow::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::KillOne {
                group: group.to_string(),
                reply,
            })
            .await
            .context("the stack has stopped")?;
        answer.await.context("the stack has stopped")?
    }
}

/// What `<data dir>/stack.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackFile {
    pub control: String,
    pub balancer: String,
    pub pid: u32,
}

pub fn stack_file(data_dir: &Path) -> PathBuf {
    data_dir.join("stack.json")
}

type Reply<T> = Result<Json<T>, (StatusCode, String)>;

fn refused(e: anyhow::Error) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, format!("{e:#}"))
}

async fn status(State(stack): State<StackControl>) -> Json<StackStatus> {
    Json(stack.status())
}

async fn desired(
    State(stack): State<StackControl>,
    UrlPath((group, n)): UrlPath<(String, u32)>,
) -> Reply<serde_json::Value> {
    let set = stack.set_desired(&group, n).await.map_err(refused)?;
    Ok(Json(serde_json::json!({ "group": group, "desired": set })))
}

async fn kill(
    State(stack): State<StackControl>,
    UrlPath(group): UrlPath<String>,
) -> Reply<serde_json::Value> {
    let killed = stack.kill_one(&group).await.map_err(refused)?;
    Ok(Json(
        serde_json::json!({ "group": group, "killed": killed }),
    ))
}

/// Serves the operator API on a free loopback port and records where in `stack.json`.
pub async fn serve(stack: StackControl, data_dir: &Path, balancer: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let file = StackFile {
        control: format!("http://{}", listener.local_addr()?),
        balancer: balancer.to_string(),
        pid: std::process::id(),
    };
    let path = stack_file(data_dir);
    std::fs::write(&path, serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let app = axum::Router::new()
        .route("/status", get(status))
        .route("/groups/{group}/desired/{n}", post(desired))
        .route("/groups/{group}/kill", post(kill))
        .with_state(stack);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the stack's control API stopped");
        }
    });
    Ok(())
}

/// The running stack's control URL, from `<data dir>/stack.json`.
pub fn find(data_dir: &Path) -> anyhow::Result<StackFile> {
    let path = stack_file(data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running stack found ({} is missing): start one with `target-stack up`, with the same ANB_DATA_DIR",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a stack file", path.display()))
}

/// One request to the control API; the answer's body, or an error with the server's words.
pub async fn call(method: &str, url: &str) -> anyhow::Result<String> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())?;
    let response = client.request(request).await.with_context(|| {
        format!("the stack does not answer at {url}: is `target-stack up` still running?")
    })?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    anyhow::ensure!(status.is_success(), "{text}");
    Ok(text)
}
