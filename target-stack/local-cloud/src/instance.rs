//! One instance of a group: a `target-stack api`, `inference` or `worker` child process
//! sharing the stack's data directory (so all instances share one database, storage and
//! queue, as EC2 instances share RDS, S3 and SQS), with its CPU use measured the way
//! CloudWatch's CPUUtilization reports it and, where permitted, a CPU quota.
//!
//! CPU comes from /proc/<pid>/stat (user + system time of the instance and of its finished
//! children, e.g. ffmpeg runs, which count when they exit). 100% is the instance's quota,
//! or one core without a quota.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cgroup::{CgroupSupport, CpuQuota};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    /// Seed 000's inference service (`target-stack inference`), a web instance too.
    Inference,
    Worker,
}

impl Role {
    pub fn command(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Inference => "inference",
            Role::Worker => "worker",
        }
    }

    /// Whether instances of this role serve HTTP behind the balancer (the web group).
    pub fn is_web(self) -> bool {
        matches!(self, Role::Api | Role::Inference)
    }
}

/// How to start instances of a group.
#[derive(Debug, Clone)]
pub struct LaunchTemplate {
    pub binary: PathBuf,
    pub role: Role,
    pub data_dir: PathBuf,
    /// Extra environment (e.g. ANB_WORKER_CONCURRENCY).
    pub env: Vec<(String, String)>,
    /// CPUs per instance when cgroups allow a quota.
    pub cpus: Option<f64>,
}

#[derive(Debug)]
pub struct Instance {
    pub id: u64,
    pub role: Role,
    /// The address a web instance listens on (None for workers).
    pub address: Option<SocketAddr>,
    pub launched_at: Instant,
    child: Child,
    cpu: CpuMeter,
    _quota: Option<CpuQuota>,
}

/// The instance id as AWS shows it.
pub fn instance_name(id: u64) -> String {
    format!("i-local-{id:04}")
}

impl Instance {
    /// Starts the process and, for a web instance, waits until it says where it listens.
    pub async fn launch(
        template: &LaunchTemplate,
        id: u64,
        cgroups: &CgroupSupport,
    ) -> anyhow::Result<Self> {
        let logs = template.data_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let log_path = logs.join(format!(
            "{}-{}.log",
            template.role.command(),
            instance_name(id)
        ));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(&template.binary);
        command.arg(template.role.command());
        if template.role.is_web() {
            command.args(["--bind", "127.0.0.1:0"]);
        }
        command
            .env("ANB_DATA_DIR", &template.data_dir)
            .env("ANB_LOG_FORMAT", "json")
            .env("ANB_INSTANCE_ID", instance_name(id))
            .envs(template.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(if template.role.is_web() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().with_context(|| {
            format!(
                "cannot start {} {}",
                template.binary.display(),
                template.role.command()
            )
        })?;
        let pid = child.id().context("the instance exited at once")?;
        let quota = match (template.cpus, cgroups.is_available()) {
            (Some(cpus), true) => match cgroups.limit(
                &format!("aforo-{}-{}", std::process::id(), instance_name(id)),
                cpus,
                pid,
            ) {
                Ok(quota) => Some(quota),
                Err(e) => {
                    tracing::warn!(error = %e, "could not give the instance a CPU quota; it runs without one");
                    None
                }
            },
            _ => None,
        };
        let address = if template.role.is_web() {
            Some(read_address(&mut child, &log_path).await?)
        } else {
            None
        };
        Ok(Self {
            id,
            role: template.role,
            address,
            launched_at: Instant::now(),
            cpu: CpuMeter::new(
                pid,
                template.cpus.filter(|_| quota.is_some()).unwrap_or(1.0),
            ),
            child,
            _quota: quota,
        })
    }

    pub fn name(&self) -> String {
        instance_name(self.id)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU use since the previous call, in percent of the instance's capacity.
    pub fn cpu_percent(&mut self) -> Option<f64> {
        self.cpu.sample()
    }

    /// False once the process has exited (crashed, killed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as an Auto Scaling group's termination does: the instance finishes what it
    /// has in flight. SIGKILL after `grace`.
    pub async fn terminate(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            send_signal(pid, libc::SIGTERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// SIGKILL at once (chaos: an instance that dies).
    pub fn kill_now(&mut self) {
        if let Some(pid) = self.child.id() {
            send_signal(pid, libc::SIGKILL);
        }
    }
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory effects; the pid is our own child's.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

async fn read_address(child: &mut Child, log: &Path) -> anyhow::Result<SocketAddr> {
    let stdout = child.stdout.take().context("the instance's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("listening on http://") {
                return url.trim().parse::<SocketAddr>().ok();
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(address)) => Ok(address),
        _ => bail!("the web instance did not start; see {}", log.display()),
    }
}

/// CPU time of a process tree between samples: the process, its live descendants (a
/// worker's ffmpeg does the work), and the children it has reaped.
#[derive(Debug)]
pub struct CpuMeter {
    pid: u32,
    capacity_cpus: f64,
    last: Option<(Instant, f64)>,
    ticks_per_second: f64,
}

impl CpuMeter {
    /// Measures `pid`; 100% is `capacity_cpus` CPUs fully used.
    pub fn new(pid: u32, capacity_cpus: f64) -> Self {
        #[allow(unsafe_code)]
        // SAFETY: sysconf reads a constant of the system and has no memory effects.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let mut meter = Self {
            pid,
            capacity_cpus,
            last: None,
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
        };
        meter.sample();
        meter
    }

    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let mut ticks = cpu_ticks(&stat)?;
        // Live descendants: a reaped one's time moves into its parent's cutime, so each
        // tick is counted once. One that exits between two reads may be missed for a
        // sample, never counted twice.
        let mut pending = children(self.pid);
        let mut seen = 0;
        while let Some(child) = pending.pop() {
            seen += 1;
            if seen > 4096 {
                break;
            }
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
                ticks += cpu_ticks(&stat).unwrap_or(0);
                pending.extend(children(child));
            }
        }
        Some(ticks as f64 / self.ticks_per_second)
    }

    /// Percent of capacity used since the previous sample (None on the first, or when the
    /// process is gone).
    pub fn sample(&mut self) -> Option<f64> {
        let now = Instant::now();
        let used = self.cpu_seconds()?;
        let previous = self.last.replace((now, used));
        let (then, before) = previous?;
        let elapsed = now.duration_since(then).as_secs_f64();
        (elapsed > 0.0)
            .then(|| ((used - before).max(0.0) / elapsed / self.capacity_cpus * 100.0).min(100.0))
    }
}

/// The children of every thread of `pid` (empty if it is gone).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// utime + stime + cutime + cstime from a /proc/<pid>/stat line. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its last ')'.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state); utime is field 14, cstime field 17.
    (11..=14).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_even_with_spaces_in_the_command_name() {
        let stat =
            "1234 (tokio (worker) 1) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 7 3 20 0 8 0";
        assert_eq!(cpu_ticks(stat), Some(250 + 50 + 7 + 3));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_uses_some_cpu() {
        let mut meter = CpuMeter::new(std::process::id(), 1.0);
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let percent = meter.sample().unwrap();
        assert!(percent > 30.0, "a busy loop shows as busy: {percent}");
    }

    #[test]
    fn a_busy_child_counts_for_its_parent() {
        // The shell stays alive (`wait`) while its child spins, as a worker waits on ffmpeg.
        let mut shell = std::process::Command::new("sh")
            .args([
                "-c",
                "sh -c 'while :; do :; done' & sleep 1.5; kill $!; wait",
            ])
            .spawn()
            .unwrap();
        let mut meter = CpuMeter::new(shell.id(), 1.0);
        std::thread::sleep(Duration::from_millis(1000));
        let percent = meter.sample().unwrap();
        shell.wait().unwrap();
        // The waiting shell alone uses nothing; the spinning child gets whatever share of a
        // core the machine leaves it (a fraction when the test suite loads both cores), so
        // "counted" means clearly above zero, not a full core.
        assert!(
            percent > 5.0,
            "the child's CPU is the instance's: {percent}"
        );
    }
}
