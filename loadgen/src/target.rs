//! The default target: the local autoscaled stack (`target-stack up`: a load balancer over a
//! web group and a worker group on embedded backends, in a fresh data directory), started on
//! loopback for the run and stopped afterwards. Its CloudWatch-shaped telemetry lands in
//! `<data dir>/telemetry`, from which each run copies its own time window.
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

use crate::environment::Environment;

/// A running local target.
#[derive(Debug)]
pub struct LocalTarget {
    pub url: String,
    pub data_dir: PathBuf,
    /// The target-stack binary that runs it.
    pub binary: PathBuf,
    stack: Child,
    /// Deleted on drop unless the user keeps the data.
    _scratch: Option<tempfile::TempDir>,
}

/// Where the target-stack binary is: `explicit`, `$AFORO_TARGET_STACK`, next to loadgen
/// (also from a test binary in `target/*/deps`), or on PATH.
pub fn find_target_stack(explicit: Option<&Path>, env: &Environment) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("--target-stack {} is not a file", path.display());
    }
    if let Some(path) = &env.target_stack {
        return Ok(path.clone());
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
    candidates.extend(env.path.iter().map(|dir| dir.join("target-stack")));
    candidates.into_iter().find(|p| p.is_file()).context(
        "cannot find the target-stack binary to start the local target: build it with \
         `cargo build -p target-stack` (next to loadgen), put it on PATH, set \
         AFORO_TARGET_STACK, pass --target-stack PATH, or test a running system with --host URL",
    )
}

/// A child of loadgen in its own process group that dies with it, with the target's data
/// directory and its stderr in `log`.
pub fn command(binary: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<Command> {
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
    /// Where the stack writes metrics.csv and activities.jsonl.
    pub fn telemetry_dir(&self) -> PathBuf {
        self.data_dir.join("telemetry")
    }

    /// Starts the stack and waits until its load balancer answers `/health` with 200.
    /// `config` is a stack.toml whose sections replace the defaults (scenario 2 fixes the
    /// worker group's size and concurrency with it); `app` is what its web group runs
    /// (`anb`, the default, or `inference`).
    pub async fn start(
        binary: &Path,
        keep_data: bool,
        config: Option<&str>,
        app: Option<&str>,
    ) -> anyhow::Result<Self> {
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
        let log = data_dir.join("stack.log");
        let telemetry = data_dir.join("telemetry");
        let mut command = command(binary, &data_dir, &log)?;
        command
            .args(["up", "--bind", "127.0.0.1:0", "--telemetry"])
            .arg(&telemetry);
        if let Some(app) = app {
            command.args(["--app", app]);
        }
        if let Some(config) = config {
            let path = data_dir.join("stack.toml");
            std::fs::write(&path, config)
                .with_context(|| format!("cannot write {}", path.display()))?;
            command.arg("--config").arg(path);
        }
        let mut stack = command
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the local stack")?;
        let stdout = stack.stdout.take().context("the stack's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(120), async {
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
        .with_context(|| format!("the local stack did not start; see {}", log.display()))?;
        let target = Self {
            url,
            data_dir,
            binary: binary.to_path_buf(),
            stack,
            _scratch: scratch,
        };
        target.wait_healthy(Duration::from_secs(60)).await?;
        Ok(target)
    }

    async fn wait_healthy(&self, limit: Duration) -> anyhow::Result<()> {
        let target = scenarios::http::Target::new(&self.url, Duration::from_secs(5))
            .map_err(|e| anyhow::anyhow!("the local target's address: {e}"))?;
        let started = Instant::now();
        loop {
            let health = scenarios::http::Request::get("/health");
            if let Ok(response) = target.connection().send(health).await
                && response.status.is_success()
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!(
                    "the local target did not become healthy within {limit:?}; see {}",
                    self.data_dir.join("stack.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM: the stack drains its balancer and stops its instances. Killed after 60 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.stack.id() {
            signal(pid, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(60), self.stack.wait())
            .await
            .is_err()
        {
            let _ = self.stack.kill().await;
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
