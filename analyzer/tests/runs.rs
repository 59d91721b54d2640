//! Selecting and loading runs: windows, ids, exact merging across runs, and bad input that
//! must be reported with the file and the fix, never a panic.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use rundir::{
    HostInfo, LatencyLogWriter, LoadModel, Manifest, RunDir, RunId, StackKind, Target, ToolVersions,
};
use time::OffsetDateTime;

/// A run that started `ago` before now, lasted 60 s, and recorded `values` (µs) as login.
fn write_run(root: &Path, ago: Duration, values: &[u64]) -> RunId {
    let started = OffsetDateTime::now_utc() - ago;
    let id = RunId::generate(started, "scenario1");
    let dir = RunDir::create(root, &id).unwrap();
    dir.write_manifest(&Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: id.clone(),
        scenario: "scenario1".into(),
        profile: "smoke".into(),
        load_model: LoadModel::Closed { max_users: 5 },
        target: Target {
            url: "http://127.0.0.1:8080".into(),
            stack: StackKind::External,
        },
        started_at: started,
        ended_at: Some(started + time::Duration::seconds(60)),
        time_scale: 1.0,
        stages: Vec::new(),
        thresholds: Vec::new(),
        tool: ToolVersions {
            aforo: "test".into(),
            goose: "0.19".into(),
            hdrhistogram: "7".into(),
        },
        host: HostInfo::current(),
        command_line: Vec::new(),
        shard: None,
    })
    .unwrap();
    let start = SystemTime::from(started);
    let mut log = LatencyLogWriter::new(
        std::fs::File::create(dir.latency_log_path()).unwrap(),
        start,
    )
    .unwrap();
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for v in values {
        h.record(*v).unwrap();
    }
    log.write_interval("login", start, Duration::from_secs(1), &h)
        .unwrap();
    id
}

fn analyze(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_analyze"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_window_takes_the_runs_it_overlaps_and_merges_their_latency_exactly() {
    let root = tempfile::tempdir().unwrap();
    let old = write_run(root.path(), Duration::from_secs(3 * 3600), &[1_000]);
    let a = write_run(root.path(), Duration::from_secs(600), &[10_000, 20_000]);
    let b = write_run(
        root.path(),
        Duration::from_secs(300),
        &[30_000, 40_000, 50_000],
    );
    let dir = root.path().to_str().unwrap();
    let (code, out, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(a.as_str()) && out.contains(b.as_str()),
        "{out}"
    );
    assert!(
        !out.contains(old.as_str()),
        "a run three hours old is outside 1h: {out}"
    );
    // Five samples across the two runs; the median of all of them is 30 ms.
    let login = out
        .lines()
        .find(|l| l.trim_start().starts_with("login"))
        .unwrap();
    let cells: Vec<&str> = login.split_whitespace().collect();
    // endpoint, samples, err %, p50, p90, p95, p99, max
    assert_eq!(cells[1], "5", "{login}");
    assert_eq!(cells[3], "30.0", "{login}");
    assert_eq!(cells[7], "50.0", "{login}");
    // The analysis is written beside the runs, with the same merged figures.
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("analysis.json")).unwrap()).unwrap();
    assert_eq!(analysis["latency"][0]["endpoint"], "login");
    let p50 = analysis["latency"][0]["p50_ms"].as_f64().unwrap();
    assert!(
        (p50 - 30.0).abs() < 0.05,
        "within the histogram's precision: {p50}"
    );
    assert_eq!(analysis["runs"].as_array().unwrap().len(), 2);

    let (code, out, _) = analyze(&["--runs-dir", dir, "--run", old.as_str()]);
    assert_eq!(code, 0);
    assert!(out.contains(old.as_str()) && !out.contains(a.as_str()));
}

#[test]
fn bad_input_is_an_error_that_names_the_file_or_the_fix() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let (code, _, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no run in the last 1h") && err.contains("--since"),
        "{err}"
    );

    let id = write_run(root.path(), Duration::from_secs(60), &[1_000]);
    let (_, _, err) = analyze(&["--runs-dir", dir, "--run", "20990101T000000Z-x-0000"]);
    assert!(
        err.contains("no run 20990101T000000Z-x-0000") && err.contains(id.as_str()),
        "{err}"
    );

    // A truncated interval log: reported with its path, not a panic.
    let log = root.path().join(id.as_str()).join("latency.hlog");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, &text[..text.len() - 20]).unwrap();
    let (code, _, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("latency.hlog") && !err.contains("panicked"),
        "{err}"
    );

    // A manifest from a newer aforo: that directory is reported, and it has no runs left.
    let manifest = root.path().join(id.as_str()).join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let (code, _, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no run in the last 1h") && err.contains("newer"),
        "{err}"
    );

    let (_, _, err) = analyze(&["--runs-dir", "/nonexistent/runs"]);
    assert!(
        err.contains("/nonexistent/runs") && err.contains("--runs-dir"),
        "{err}"
    );
}
