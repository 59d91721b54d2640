//! `RunDir`: where a run's files live, and reading and writing its JSON files safely.
//!
//! JSON files are replaced atomically (temporary file + rename), so a reader never sees half a
//! manifest, and refused when their `format_version` is newer than this crate understands.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{FORMAT_VERSION, Manifest, RunDirError, RunId, Summary};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const LATENCY_LOG_FILE: &str = "latency.hlog";
pub const REQUESTS_FILE: &str = "requests.csv";
pub const SUMMARY_FILE: &str = "summary.json";
pub const METRICS_FILE: &str = "metrics.csv";
pub const ACTIVITIES_FILE: &str = "activities.jsonl";
pub const TASKS_FILE: &str = "tasks.csv";
pub const QUEUE_FILE: &str = "queue.csv";
pub const STACK_FILE: &str = "stack.json";

/// A run's directory, `<root>/<run id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `root/<id>/` (and `root` if needed); fails if the run directory exists.
    pub fn create(root: &Path, id: &RunId) -> Result<RunDir, RunDirError> {
        fs::create_dir_all(root)
            .map_err(|e| RunDirError::io(root, "create the runs directory", e))?;
        let path = root.join(id.as_str());
        match fs::create_dir(&path) {
            Ok(()) => Ok(RunDir { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RunDirError::AlreadyExists { path })
            }
            Err(e) => Err(RunDirError::io(&path, "create the run directory", e)),
        }
    }

    /// Opens an existing run directory; it must contain a readable `manifest.json`.
    pub fn open(path: &Path) -> Result<RunDir, RunDirError> {
        open_with_manifest(path).map(|(dir, _)| dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.path.join(MANIFEST_FILE)
    }

    pub fn latency_log_path(&self) -> PathBuf {
        self.path.join(LATENCY_LOG_FILE)
    }

    pub fn requests_path(&self) -> PathBuf {
        self.path.join(REQUESTS_FILE)
    }

    pub fn summary_path(&self) -> PathBuf {
        self.path.join(SUMMARY_FILE)
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }

    pub fn activities_path(&self) -> PathBuf {
        self.path.join(ACTIVITIES_FILE)
    }

    pub fn tasks_path(&self) -> PathBuf {
        self.path.join(TASKS_FILE)
    }

    /// Writes `manifest.json` atomically, as pretty JSON.
    pub fn write_manifest(&self, m: &Manifest) -> Result<(), RunDirError> {
        write_json(&self.manifest_path(), m)
    }

    pub fn read_manifest(&self) -> Result<Manifest, RunDirError> {
        read_json(&self.manifest_path())
    }

    /// Writes `summary.json` atomically, as pretty JSON.
    pub fn write_summary(&self, s: &Summary) -> Result<(), RunDirError> {
        write_json(&self.summary_path(), s)
    }

    pub fn read_summary(&self) -> Result<Summary, RunDirError> {
        read_json(&self.summary_path())
    }

    pub fn stack_path(&self) -> PathBuf {
        self.path.join(STACK_FILE)
    }

    /// The local stack's description, when the run had one (`stack.json`).
    pub fn read_stack(&self) -> Result<Option<crate::StackDescription>, RunDirError> {
        if !self.stack_path().is_file() {
            return Ok(None);
        }
        read_json(&self.stack_path()).map(Some)
    }
}

fn open_with_manifest(path: &Path) -> Result<(RunDir, Manifest), RunDirError> {
    let dir = RunDir {
        path: path.to_path_buf(),
    };
    let manifest = dir.read_manifest()?;
    Ok((dir, manifest))
}

/// Run directories under `root` with their manifests (read once, here), oldest first by
/// `started_at`. Directories
/// without a valid manifest (e.g. a run killed before writing one, or one from a newer aforo)
/// are returned separately, with the reason, so callers can report them. Entries that are not
/// directories, and hidden ones, are ignored.
#[allow(clippy::type_complexity)] // the pairs are the documented contract
pub fn list_runs(
    root: &Path,
) -> Result<(Vec<(RunDir, Manifest)>, Vec<(PathBuf, RunDirError)>), RunDirError> {
    let entries = fs::read_dir(root).map_err(|e| RunDirError::io(root, "list", e))?;
    let mut runs = Vec::new();
    let mut broken = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| RunDirError::io(root, "list", e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !path.is_dir() {
            continue;
        }
        match open_with_manifest(&path) {
            Ok(run) => runs.push(run),
            Err(e) => broken.push((path, e)),
        }
    }
    runs.sort_by(|(a, a_manifest), (b, b_manifest)| {
        a_manifest
            .started_at
            .cmp(&b_manifest.started_at)
            .then(a.path.cmp(&b.path))
    });
    broken.sort_by(|(a, _), (b, _)| a.cmp(b));
    Ok((runs, broken))
}

/// Reads a versioned JSON file: checks `format_version` first, so a file from a newer aforo
/// gets "upgrade" rather than a confusing message about some field.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: u32,
    }
    let json_error = |source| RunDirError::Json {
        path: path.to_path_buf(),
        source,
    };
    let bytes = fs::read(path).map_err(|e| RunDirError::io(path, "read", e))?;
    let probe: Probe = serde_json::from_slice(&bytes).map_err(json_error)?;
    if probe.format_version > FORMAT_VERSION {
        return Err(RunDirError::NewerFormat {
            path: path.to_path_buf(),
            found: probe.format_version,
            supported: FORMAT_VERSION,
        });
    }
    if probe.format_version == 0 {
        return Err(RunDirError::malformed(
            path,
            None,
            None,
            "format_version 0 does not exist; versions start at 1",
        ));
    }
    serde_json::from_slice(&bytes).map_err(json_error)
}

/// Writes pretty JSON to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_json<T: Serialize + DeserializeOwned>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| RunDirError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    // serde_json writes NaN and infinities as null, which then fails to read as a number:
    // refuse to write a file we could not read back.
    if let Err(e) = serde_json::from_slice::<T>(&bytes) {
        return Err(RunDirError::Unwritable {
            path: path.to_path_buf(),
            what: "a value",
            value: String::new(),
            reason: format!("it would not read back ({e}); is a number NaN or infinite?"),
        });
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        RunDirError::io(path, "write", e)
    })
}

/// aforo's cache directory, for what is kept between runs (generated payloads, run
/// directories downloaded from S3): `AFORO_CACHE_DIR`, else `$XDG_CACHE_HOME/aforo`, else
/// `~/.cache/aforo`, else `aforo` in the system's temporary directory. `var` looks a
/// variable up: the environment at the edges, a map in tests.
pub fn cache_dir(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    var("AFORO_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .unwrap_or_else(std::env::temp_dir)
                .join("aforo")
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn the_cache_dir_follows_aforo_then_xdg_then_home() {
        let all = [
            ("AFORO_CACHE_DIR", "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_dir(lookup(&all)), PathBuf::from("/a"));
        assert_eq!(cache_dir(lookup(&all[1..])), PathBuf::from("/x/aforo"));
        assert_eq!(
            cache_dir(lookup(&all[2..])),
            PathBuf::from("/h/.cache/aforo")
        );
        assert_eq!(cache_dir(lookup(&[])), std::env::temp_dir().join("aforo"));
    }
}
