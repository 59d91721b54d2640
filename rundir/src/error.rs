//! `RunDirError`: every way reading or writing a run directory can fail, naming the file.
//!
//! Readers of streams (`read_requests`, `read_intervals`) do not know the path they read, so
//! their errors name the conventional file name; [`RunDirError::with_path`] puts the real one in.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An error reading or writing a run directory. `Display` names the file, the line where it
/// applies, what is wrong and, where possible, what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The operating system refused a read, write, rename or directory listing.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        /// What was being attempted, e.g. "read", "create the run directory".
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// `RunDir::create` found the directory already there; runs never share a directory.
    #[error(
        "{}: already exists; a run needs a fresh directory (choose another run id or remove it)",
        path.display()
    )]
    AlreadyExists { path: PathBuf },

    /// A JSON file is not valid JSON or does not have the expected fields
    /// (serde_json's message includes the line and column).
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// The file declares a `format_version` newer than [`crate::FORMAT_VERSION`].
    #[error(
        "{}: format_version {found} was written by a newer aforo (this one reads up to {supported}); upgrade aforo to read it",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A file's content does not follow its format (CSV, interval log, empty file, ...).
    #[error("{}", Located { path, line: *line, column: column.as_deref(), message })]
    Malformed {
        path: PathBuf,
        /// 1-based line number, when the problem is on one line.
        line: Option<usize>,
        /// Column name (CSV), when the problem is in one field.
        column: Option<String>,
        message: String,
    },

    /// A value cannot be written in the file's format (an endpoint name with a comma, a
    /// timestamp that is not a whole second, ...): a bug in the writer's caller.
    #[error("{}: cannot write {what} {value:?}: {reason}", path.display())]
    Unwritable {
        path: PathBuf,
        what: &'static str,
        value: String,
        reason: String,
    },

    /// A string is not a valid run id (see [`crate::RunId::parse`]).
    #[error("invalid run id {value:?}: {reason}")]
    InvalidRunId { value: String, reason: &'static str },
}

impl RunDirError {
    /// Replaces the file named in the error (readers of streams only know the conventional
    /// file name) with `path`.
    pub fn with_path(mut self, new: &Path) -> Self {
        match &mut self {
            RunDirError::Io { path, .. }
            | RunDirError::AlreadyExists { path }
            | RunDirError::Json { path, .. }
            | RunDirError::NewerFormat { path, .. }
            | RunDirError::Malformed { path, .. }
            | RunDirError::Unwritable { path, .. } => *path = new.to_path_buf(),
            RunDirError::InvalidRunId { .. } => {}
        }
        self
    }

    pub(crate) fn io(path: impl AsRef<Path>, action: &'static str, source: io::Error) -> Self {
        RunDirError::Io {
            path: path.as_ref().to_path_buf(),
            action,
            source,
        }
    }

    pub(crate) fn malformed(
        path: impl AsRef<Path>,
        line: Option<usize>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        RunDirError::Malformed {
            path: path.as_ref().to_path_buf(),
            line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Formats `path: line N, column C: message`, leaving out what is unknown.
struct Located<'a> {
    path: &'a Path,
    line: Option<usize>,
    column: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_names_file_line_and_column() {
        let e = RunDirError::malformed("requests.csv", Some(7), Some("errors_4xx"), "not a number");
        assert_eq!(
            e.to_string(),
            "requests.csv: line 7, column errors_4xx: not a number"
        );
        let e = RunDirError::malformed("latency.hlog", None, None, "empty file");
        assert_eq!(e.to_string(), "latency.hlog: empty file");
    }

    #[test]
    fn with_path_replaces_the_conventional_name() {
        let e = RunDirError::malformed("latency.hlog", Some(3), None, "bad")
            .with_path(Path::new("runs/x/latency.hlog"));
        assert_eq!(e.to_string(), "runs/x/latency.hlog: line 3: bad");
    }
}
