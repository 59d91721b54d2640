//! Scenario 2's hand on the target's queue: a `target-stack inject` child process spoken to
//! in JSON lines (`rundir::InjectRequest` / `InjectReply`). It reaches the queue, storage
//! and database the target's workers use — the local stack's data directory, or the AWS
//! backends named by the `ANB_*` variables in loadgen's environment — so loadgen itself
//! links no server code.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use rundir::{InjectReply, InjectRequest, QueueCounts, QueuedTask, TaskRun};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A running `target-stack inject`.
#[derive(Debug)]
pub struct InjectClient {
    child: Child,
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
}

impl InjectClient {
    /// Starts the driver over `data_dir`: the local stack's, or scratch when the `ANB_*`
    /// environment chooses the backends; videos are cached in `cache`; its log goes to `log`.
    pub fn start(binary: &Path, data_dir: &Path, cache: &Path, log: &Path) -> anyhow::Result<Self> {
        let mut child = crate::target::command(binary, data_dir, log)?
            .arg("inject")
            .arg("--cache")
            .arg(cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} inject", binary.display()))?;
        let input = child.stdin.take().context("the driver's stdin")?;
        let output = BufReader::new(child.stdout.take().context("the driver's stdout")?).lines();
        Ok(Self {
            child,
            input,
            output,
        })
    }

    async fn call(&mut self, request: &InjectRequest) -> anyhow::Result<InjectReply> {
        let mut line = serde_json::to_string(request)?;
        line.push('\n');
        self.input
            .write_all(line.as_bytes())
            .await
            .context("the inject driver stopped; see its log")?;
        self.input.flush().await?;
        let answer = self
            .output
            .next_line()
            .await?
            .context("the inject driver stopped without answering; see its log")?;
        match serde_json::from_str(&answer)
            .with_context(|| format!("the inject driver answered {answer:?}"))?
        {
            InjectReply::Error { message } => bail!("the target refused: {message}"),
            reply => Ok(reply),
        }
    }

    /// Stores a video of about `size_bytes` on the target; returns its actual size.
    pub async fn prepare(&mut self, size_bytes: u64) -> anyhow::Result<u64> {
        match self.call(&InjectRequest::Prepare { size_bytes }).await? {
            InjectReply::Prepared { bytes, .. } => Ok(bytes),
            other => bail!("unexpected answer to prepare: {other:?}"),
        }
    }

    pub async fn enqueue(&mut self, count: u64) -> anyhow::Result<Vec<QueuedTask>> {
        match self.call(&InjectRequest::Enqueue { count }).await? {
            InjectReply::Enqueued { tasks } => Ok(tasks),
            other => bail!("unexpected answer to enqueue: {other:?}"),
        }
    }

    pub async fn depth(&mut self) -> anyhow::Result<QueueCounts> {
        match self.call(&InjectRequest::Depth).await? {
            InjectReply::Depth { counts } => Ok(counts),
            other => bail!("unexpected answer to depth: {other:?}"),
        }
    }

    pub async fn runs(&mut self, task_ids: Vec<String>) -> anyhow::Result<Vec<TaskRun>> {
        match self.call(&InjectRequest::Runs { task_ids }).await? {
            InjectReply::Runs { runs } => Ok(runs),
            other => bail!("unexpected answer to runs: {other:?}"),
        }
    }

    /// Ends the session (closing stdin ends the driver).
    pub async fn close(mut self) {
        let _ = self.input.shutdown().await;
        drop(self.input);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
    }
}
