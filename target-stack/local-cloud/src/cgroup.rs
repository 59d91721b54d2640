//! A CPU quota per instance, so that one more instance really adds capacity on one machine
//! (as one more EC2 instance does), through whichever cgroup version the machine offers:
//! v2 (`cpu.max` in the process's own subtree) or v1 (`cpu.cfs_quota_us` under the `cpu`
//! hierarchy). Creating cgroups needs privileges; when they are missing the stack runs
//! without quotas and says so once.

use std::path::{Path, PathBuf};

/// A cgroup holding one instance's processes, removed on drop (once it is empty).
#[derive(Debug)]
pub struct CpuQuota {
    dir: PathBuf,
}

/// Where quotas can be created on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupSupport {
    V2 { parent: PathBuf },
    V1 { parent: PathBuf },
    Unavailable { why: String },
}

const PERIOD_US: u64 = 100_000;

impl CgroupSupport {
    /// Looks at the machine once. A directory that cannot be created in (no privileges,
    /// read-only mount, controller not delegated) means unavailable, with the reason.
    pub fn detect() -> Self {
        let unified = Path::new("/sys/fs/cgroup");
        if unified.join("cgroup.controllers").is_file() {
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
                })
                .unwrap_or_else(|| "/".into());
            let parent = unified.join(own.trim_start_matches('/'));
            let controllers =
                std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            if !controllers.split_whitespace().any(|c| c == "cpu") {
                return Self::Unavailable {
                    why: format!(
                        "cgroup v2: the cpu controller is not enabled for children of {} (echo +cpu > cgroup.subtree_control)",
                        parent.display()
                    ),
                };
            }
            return probe(Self::V2 { parent });
        }
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        if v1.join("cpu.cfs_quota_us").is_file() {
            return probe(Self::V1 {
                parent: v1.to_path_buf(),
            });
        }
        Self::Unavailable {
            why: "no cgroup cpu controller is mounted".into(),
        }
    }

    pub fn is_available(&self) -> bool {
        !matches!(self, Self::Unavailable { .. })
    }

    /// A cgroup named `name` limited to `cpus` CPUs, holding process `pid`.
    pub fn limit(&self, name: &str, cpus: f64, pid: u32) -> std::io::Result<CpuQuota> {
        let quota = ((cpus * PERIOD_US as f64).round() as u64).max(1000);
        let (dir, settings): (PathBuf, Vec<(&str, String)>) = match self {
            Self::V2 { parent } => (
                parent.join(name),
                vec![("cpu.max", format!("{quota} {PERIOD_US}"))],
            ),
            Self::V1 { parent } => (
                parent.join(name),
                vec![
                    ("cpu.cfs_period_us", PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", quota.to_string()),
                ],
            ),
            Self::Unavailable { why } => return Err(std::io::Error::other(why.clone())),
        };
        std::fs::create_dir_all(&dir)?;
        let group = CpuQuota { dir };
        for (file, value) in settings {
            std::fs::write(group.dir.join(file), value)?;
        }
        std::fs::write(group.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(group)
    }
}

fn probe(support: CgroupSupport) -> CgroupSupport {
    let parent = match &support {
        CgroupSupport::V2 { parent } | CgroupSupport::V1 { parent } => parent.clone(),
        CgroupSupport::Unavailable { .. } => return support,
    };
    let dir = parent.join(format!("aforo-probe-{}", std::process::id()));
    match std::fs::create_dir(&dir) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&dir);
            support
        }
        Err(e) => CgroupSupport::Unavailable {
            why: format!("cannot create a cgroup under {}: {e}", parent.display()),
        },
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // Only an empty cgroup can be removed; the instance has exited by now.
        let _ = std::fs::remove_dir(&self.dir);
    }
}
