//! The default target: target-stack started on loopback for the run (one API process and
//! one worker on embedded backends, in a fresh data directory), stopped afterwards.
//!
//! The children run in their own process group, so a Ctrl-C at the terminal reaches only
//! loadgen, which stops the run cleanly and then the children with SIGTERM; and they get
//! SIGTERM themselves if loadgen dies, so nothing is left running.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running local target.
#[derive(Debug)]
pub struct LocalTarget {
    pub url: String,
    pub data_dir: PathBuf,
    api: Child,
    worker: Option<Child>,
    /// Deleted on drop unless the user keeps the data.
    _scratch: Option<tempfile::TempDir>,
}

/// Where the target-stack binary is: `explicit`, `$AFORO_TARGET_STACK`, next to loadgen
/// (also from a test binary in `target/*/deps`), or on PATH.
pub fn find_target_stack(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("--target-stack {} is not a file", path.display());
    }
    if let Some(path) = std::env::var_os("AFORO_TARGET_STACK") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("target-stack"));
        if let Some(parent) = dir.parent() {
            candidates.push(parent.join("target-stack"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("target-stack")));
    }
    candidates.into_iter().find(|p| p.is_file()).context(
        "cannot find the target-stack binary to start the local target: build it with \
         `cargo build -p target-stack` (next to loadgen), put it on PATH, set \
         AFORO_TARGET_STACK, pass --target-stack PATH, or test a running system with --host URL",
    )
}

fn command(binary: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<Command> {
    let log =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(binary);
    command
        .env("ANB_DATA_DIR", data_dir)
        .env("ANB_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .process_group(0);
    terminate_with_parent(&mut command);
    Ok(command)
}

#[allow(unsafe_code)]
fn terminate_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl LocalTarget {
    /// Starts the API and a worker and waits until `/health` answers 200.
    pub async fn start(binary: &Path, keep_data: bool) -> anyhow::Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("aforo-target-")
            .tempdir()
            .context("cannot create the local target's data directory")?;
        let data_dir = scratch.path().to_path_buf();
        let scratch = if keep_data {
            // keep() leaves the directory in place; we only remember its path.
            let _ = scratch.keep();
            None
        } else {
            Some(scratch)
        };

        // Migrate once, before two processes race to do it.
        let status = command(binary, &data_dir, &data_dir.join("migrate.log"))?
            .arg("migrate")
            .stdout(Stdio::null())
            .status()
            .await
            .with_context(|| format!("cannot run {}", binary.display()))?;
        if !status.success() {
            bail!(
                "`target-stack migrate` failed ({status}); see {}",
                data_dir.join("migrate.log").display()
            );
        }

        let mut api = command(binary, &data_dir, &data_dir.join("api.log"))?
            .args(["api", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the target's API")?;
        let stdout = api.stdout.take().context("the API's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(url.trim().to_string()));
                }
            }
            Ok(None)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .with_context(|| {
            format!(
                "the target's API did not start; see {}",
                data_dir.join("api.log").display()
            )
        })?;

        let worker = command(binary, &data_dir, &data_dir.join("worker.log"))?
            .arg("worker")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the target's worker")?;
        let mut target = Self {
            url,
            data_dir,
            api,
            worker: Some(worker),
            _scratch: scratch,
        };
        target.wait_healthy(Duration::from_secs(30)).await?;
        // A worker without ffmpeg exits at once: say so, and go on (escenario 1 does not
        // need processing, but votes need processed videos).
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(worker) = &mut target.worker
            && let Ok(Some(status)) = worker.try_wait()
        {
            eprintln!(
                "warning: the local target's worker exited ({status}); uploads stay unprocessed and \
                 votes will be skipped. See {}",
                target.data_dir.join("worker.log").display()
            );
            target.worker = None;
        }
        Ok(target)
    }

    async fn wait_healthy(&self, limit: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/health", self.url);
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!(
                    "the local target did not become healthy within {limit:?}; see {}",
                    self.data_dir.join("api.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM to both processes; they finish what is in flight. Killed after 10 s.
    pub async fn stop(mut self) {
        let mut children = vec![&mut self.api];
        if let Some(worker) = &mut self.worker {
            children.push(worker);
        }
        for child in children {
            if let Some(pid) = child.id() {
                // SAFETY-free: kill(2) through the libc wrapper on our own child.
                signal(pid, libc::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

#[allow(unsafe_code)]
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory effects; the pid is our own child's.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}
