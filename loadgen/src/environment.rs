//! What loadgen takes from its environment: read once, by the CLI, into the plans, so that
//! nothing below reads a variable (tests build it with [`Environment::from_lookup`]). The
//! `ANB_*` variables that choose the target's backends are not read here: the target-stack
//! children inherit them.

use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Environment {
    /// `AFORO_TARGET_STACK`: the target-stack binary to run.
    pub target_stack: Option<PathBuf>,
    /// `PATH`'s folders, where target-stack is looked for last.
    pub path: Vec<PathBuf>,
    /// `ANB_DATA_DIR`: scratch files of `target-stack inject` when the `ANB_*` variables
    /// choose the backends (a `--host` target).
    pub anb_data_dir: Option<PathBuf>,
    /// Where generated payloads are cached ([`rundir::cache_dir`]).
    pub cache_dir: PathBuf,
}

impl Environment {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        Environment {
            target_stack: lookup("AFORO_TARGET_STACK").map(PathBuf::from),
            path: lookup("PATH")
                .map(|path| std::env::split_paths(&path).collect())
                .unwrap_or_default(),
            anb_data_dir: lookup("ANB_DATA_DIR").map(PathBuf::from),
            cache_dir: rundir::cache_dir(&lookup),
        }
    }

    /// The process's environment.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Scratch for `target-stack inject` against a target whose backends the `ANB_*`
    /// variables choose.
    pub fn inject_scratch(&self) -> PathBuf {
        self.anb_data_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("aforo-inject"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variable_lands_in_its_field_and_none_is_required() {
        let set = Environment::from_lookup(|name| match name {
            "AFORO_TARGET_STACK" => Some("/opt/target-stack".into()),
            "PATH" => Some("/usr/bin:/bin".into()),
            "ANB_DATA_DIR" => Some("/srv/anb".into()),
            "AFORO_CACHE_DIR" => Some("/var/cache/aforo".into()),
            _ => None,
        });
        assert_eq!(set.target_stack, Some(PathBuf::from("/opt/target-stack")));
        assert_eq!(set.path, [PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        assert_eq!(set.inject_scratch(), PathBuf::from("/srv/anb"));
        assert_eq!(set.cache_dir, PathBuf::from("/var/cache/aforo"));
        let empty = Environment::from_lookup(|_| None);
        assert!(empty.target_stack.is_none() && empty.path.is_empty());
        assert!(empty.inject_scratch().ends_with("aforo-inject"));
    }
}
