//! Creating, opening and listing run directories; atomic JSON files.

use rundir::{RunDir, RunDirError, RunId, list_runs};
use time::macros::datetime;

use crate::examples::{example_manifest, example_summary, manifest};

fn id(s: &str) -> RunId {
    RunId::parse(s).unwrap()
}

#[test]
fn files_live_under_the_run_id() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(&root.path().join("runs"), &id("r1")).unwrap();
    let base = root.path().join("runs/r1");
    assert_eq!(dir.path(), base);
    assert_eq!(dir.manifest_path(), base.join("manifest.json"));
    assert_eq!(dir.latency_log_path(), base.join("latency.hlog"));
    assert_eq!(dir.requests_path(), base.join("requests.csv"));
    assert_eq!(dir.summary_path(), base.join("summary.json"));
    assert_eq!(dir.metrics_path(), base.join("metrics.csv"));
    assert_eq!(dir.activities_path(), base.join("activities.jsonl"));
    assert_eq!(dir.tasks_path(), base.join("tasks.csv"));
}

#[test]
fn create_refuses_an_existing_directory() {
    let root = tempfile::tempdir().unwrap();
    RunDir::create(root.path(), &id("r1")).unwrap();
    let err = RunDir::create(root.path(), &id("r1")).unwrap_err();
    assert!(matches!(err, RunDirError::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn manifest_and_summary_round_trip_and_leave_no_temporary_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &id("r1")).unwrap();
    let mut m = example_manifest();
    m.ended_at = None;
    dir.write_manifest(&m).unwrap();
    assert_eq!(dir.read_manifest().unwrap(), m);
    // Rewritten at the end of the run.
    let m = example_manifest();
    dir.write_manifest(&m).unwrap();
    assert_eq!(
        RunDir::open(dir.path()).unwrap().read_manifest().unwrap(),
        m
    );

    dir.write_summary(&example_summary()).unwrap();
    assert_eq!(dir.read_summary().unwrap(), example_summary());

    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["manifest.json", "summary.json"]);
    let text = std::fs::read_to_string(dir.manifest_path()).unwrap();
    assert!(text.starts_with("{\n  \"format_version\": 2,") && text.ends_with("}\n"));
}

#[test]
fn a_summary_that_would_not_read_back_is_not_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &id("r1")).unwrap();
    let mut s = example_summary();
    s.total.error_rate = f64::NAN;
    let err = dir.write_summary(&s).unwrap_err();
    assert!(matches!(err, RunDirError::Unwritable { .. }), "{err:?}");
    assert!(!dir.summary_path().exists());
}

#[test]
fn open_requires_a_manifest() {
    let root = tempfile::tempdir().unwrap();
    let dir = RunDir::create(root.path(), &id("r1")).unwrap();
    let msg = RunDir::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("manifest.json: cannot read"), "{msg}");
}

#[test]
fn list_runs_sorts_by_start_and_reports_broken_directories() {
    let root = tempfile::tempdir().unwrap();
    // Names sort the other way round from start times.
    let later = RunDir::create(root.path(), &id("a-later")).unwrap();
    later
        .write_manifest(&manifest("a-later", datetime!(2026-11-23 10:00 UTC)))
        .unwrap();
    let earlier = RunDir::create(root.path(), &id("b-earlier")).unwrap();
    earlier
        .write_manifest(&manifest("b-earlier", datetime!(2026-11-23 09:00 UTC)))
        .unwrap();
    let broken = RunDir::create(root.path(), &id("c-broken")).unwrap();
    std::fs::write(broken.manifest_path(), "{ not json").unwrap();
    // Neither runs nor broken runs: files and hidden directories.
    std::fs::write(root.path().join("notes.txt"), "x").unwrap();
    std::fs::create_dir(root.path().join(".cache")).unwrap();

    let (runs, bad) = list_runs(root.path()).unwrap();
    let paths: Vec<_> = runs.iter().map(|(r, _)| r.path().to_path_buf()).collect();
    assert_eq!(paths, [earlier.path(), later.path()]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, broken.path());
    assert!(matches!(bad[0].1, RunDirError::Json { .. }));
}

#[test]
fn list_runs_of_a_missing_root_names_it() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let msg = list_runs(&missing).unwrap_err().to_string();
    assert!(msg.starts_with(&missing.display().to_string()), "{msg}");
}
