//! Corrupt files give errors that say where, never panics.

use proptest::prelude::*;
use rundir::{RunDir, RunDirError, RunId, read_intervals, read_requests};

use crate::data;
use crate::examples::example_manifest;

fn tagged_log() -> String {
    String::from_utf8(data("tagged-Log.logV2.hlog")).unwrap()
}

/// Replaces line `n` (1-based) of `text`.
fn with_line(text: &str, n: usize, f: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { f(l) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn truncated_base64_line_names_the_line() {
    let log = with_line(&tagged_log(), 6, |l| l[..l.len() / 2].to_owned());
    let err = read_intervals(log.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("latency.hlog: line 6: histogram"), "{msg}");
    assert!(matches!(err, RunDirError::Malformed { line: Some(6), .. }));
}

#[test]
fn base64_cut_at_a_multiple_of_four_is_caught_too() {
    let log = with_line(&tagged_log(), 5, |l| {
        let comma = l.rfind(',').unwrap();
        l[..comma + 1 + 40].to_owned()
    });
    let msg = read_intervals(log.as_bytes()).unwrap_err().to_string();
    assert!(
        msg.starts_with("latency.hlog: line 5: histogram is truncated"),
        "{msg}"
    );
}

#[test]
fn non_numeric_timestamp_names_the_line() {
    let log = with_line(&tagged_log(), 7, |l| l.replacen("1.134", "1.1x4", 1));
    let msg = read_intervals(log.as_bytes()).unwrap_err().to_string();
    assert!(
        msg.starts_with("latency.hlog: line 7: not an interval log line"),
        "{msg}"
    );
    let log = with_line(&tagged_log(), 8, |l| l.replacen("1.134", "abc", 1));
    let msg = read_intervals(log.as_bytes()).unwrap_err().to_string();
    assert!(msg.starts_with("latency.hlog: line 8:"), "{msg}");
}

#[test]
fn empty_files_are_errors() {
    for empty in ["", "\n\n", "  \r\n"] {
        let msg = read_intervals(empty.as_bytes()).unwrap_err().to_string();
        assert!(msg.starts_with("latency.hlog: empty file"), "{msg}");
        let msg = read_requests(empty.as_bytes()).unwrap_err().to_string();
        assert!(msg.starts_with("requests.csv"), "{msg}");
    }
}

#[test]
fn manifest_with_invalid_json_names_the_file_and_position() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &RunId::parse("r").unwrap()).unwrap();
    std::fs::write(
        dir.manifest_path(),
        "{\n  \"format_version\": 1,\n  oops\n}\n",
    )
    .unwrap();
    let err = dir.read_manifest().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&dir.manifest_path().display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("line 3"), "{msg}");
    assert!(matches!(err, RunDirError::Json { .. }));
    assert!(RunDir::open(dir.path()).is_err());
}

#[test]
fn manifest_without_required_fields_names_the_field() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &RunId::parse("r").unwrap()).unwrap();
    std::fs::write(dir.manifest_path(), r#"{"format_version": 1}"#).unwrap();
    let msg = dir.read_manifest().unwrap_err().to_string();
    assert!(msg.contains("missing field `run_id`"), "{msg}");
}

#[test]
fn newer_format_version_says_upgrade() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &RunId::parse("r").unwrap()).unwrap();
    // A future format may change anything else; the version is checked first.
    let mut manifest = serde_json::to_value(example_manifest()).unwrap();
    manifest["format_version"] = 999.into();
    manifest["stages"] = "changed shape".into();
    std::fs::write(dir.manifest_path(), manifest.to_string()).unwrap();
    let err = dir.read_manifest().unwrap_err();
    assert!(
        matches!(
            err,
            RunDirError::NewerFormat {
                found: 999,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&dir.manifest_path().display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("newer aforo") && msg.contains("upgrade"),
        "{msg}"
    );

    std::fs::write(dir.summary_path(), r#"{"format_version": 999}"#).unwrap();
    assert!(matches!(
        dir.read_summary(),
        Err(RunDirError::NewerFormat { found: 999, .. })
    ));
}

#[test]
fn requests_with_a_quoted_endpoint_names_line_and_column() {
    let text = format!(
        "{}\n2026-11-23T00:31:05Z,\"a\",1,1,0,0,0,0,0,1,0\n",
        rundir::REQUESTS_HEADER
    );
    let msg = read_requests(text.as_bytes()).unwrap_err().to_string();
    assert!(
        msg.starts_with("requests.csv: line 2, column endpoint:"),
        "{msg}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Overwriting, inserting or deleting bytes anywhere in a log gives Ok or an error with a
    /// line number; it never panics.
    #[test]
    fn mangled_logs_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut log = data("tagged-Log.logV2.hlog");
        for (at, byte, kind) in edits {
            let i = at.index(log.len());
            match kind {
                0 => log[i] = byte,
                1 => log.insert(i, byte),
                _ => { log.remove(i); }
            }
        }
        if let Err(e) = read_intervals(&log) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("latency.hlog: line "), "{}", msg);
        }
    }
}
