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
        workload: rundir::Workload::default(),
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
    analyze_with(args, &[])
}

fn analyze_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_analyze"))
        .args(args)
        .envs(env.iter().copied())
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
    // endpoint, samples, err %, p50, p90, p95, p95 interval ("≥ 30.0 (few)"), p99, max
    assert_eq!(cells[1], "5", "{login}");
    assert_eq!(cells[3], "30.0", "{login}");
    assert_eq!(cells.last(), Some(&"50.0"), "{login}");
    assert!(
        login.contains("(few)"),
        "five samples cannot bound a p95: {login}"
    );
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
        text.replace(
            &format!("\"format_version\": {}", rundir::FORMAT_VERSION),
            "\"format_version\": 99",
        ),
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

/// Regression (issue 15, defect 2): a run whose latency is missing read as p50…max = 0.0 ms,
/// "within SLO"; a run with only its manifest was taken silently. Both now stop the analysis
/// (exit 2) naming the file and the fix.
#[test]
fn a_run_missing_its_measurements_is_an_error_never_zero_latency() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let id = write_run(root.path(), Duration::from_secs(60), &[1_000]);
    let run = root.path().join(id.as_str());

    // requests.csv counts answered logins, but latency.hlog is gone.
    let started = OffsetDateTime::now_utc() - time::Duration::seconds(60);
    let mut writer =
        rundir::RequestsWriter::new(std::fs::File::create(run.join("requests.csv")).unwrap())
            .unwrap();
    writer
        .write_row(&rundir::RequestsRow::new(
            started.replace_nanosecond(0).unwrap(),
            "login".into(),
            rundir::RequestCounts {
                requests: 12,
                successes: 10,
                errors_4xx: 2,
                responses: Some(12),
                ..Default::default()
            },
        ))
        .unwrap();
    writer.flush().unwrap();
    drop(writer);
    std::fs::remove_file(run.join("latency.hlog")).unwrap();
    let (code, out, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("latency.hlog") && err.contains("\"login\"") && err.contains("12"),
        "{err}"
    );
    assert!(!out.contains("0.0"), "no figure is printed: {out}");

    // Only the manifest.
    std::fs::remove_file(run.join("requests.csv")).unwrap();
    let (code, _, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("latency.hlog") && err.contains("measured nothing") && err.contains("--run"),
        "{err}"
    );
}

/// A window holding a run killed before it measured anything (only its manifest) is still
/// analysed: the other runs give the figures, and a note names the one left out.
#[test]
fn a_run_that_measured_nothing_is_left_out_of_a_window_not_the_end_of_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let good = write_run(root.path(), Duration::from_secs(120), &[1_000, 2_000]);
    let killed = write_run(root.path(), Duration::from_secs(60), &[1_000]);
    std::fs::remove_file(root.path().join(killed.as_str()).join("latency.hlog")).unwrap();
    let (code, out, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(good.as_str()), "{out}");
    assert!(
        out.contains(killed.as_str()) && out.contains("measured nothing"),
        "the note names the run left out: {out}"
    );
    // Named with --run, the same run is an error.
    let (code, _, err) = analyze(&["--runs-dir", dir, "--run", killed.as_str()]);
    assert_eq!(code, 2, "{err}");
}

/// `--since` longer than a clock can hold is a usage error, not a panic (issue 17).
#[test]
fn a_window_too_long_for_the_clock_is_refused_with_the_limit() {
    for since in ["99999999999999999999s", "1000000000h"] {
        let (code, _, err) = analyze(&["--runs-dir", ".", "--since", since]);
        assert_eq!(code, 2, "{since}: {err}");
        assert!(
            err.contains("too long") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// A run without summary.json (killed) is analysed from its per-second files, and says so.
#[test]
fn a_run_without_its_summary_is_named_in_the_notes() {
    let root = tempfile::tempdir().unwrap();
    let id = write_run(root.path(), Duration::from_secs(60), &[1_000, 2_000]);
    let dir = root.path().to_str().unwrap();
    let (code, out, err) = analyze(&["--runs-dir", dir, "--since", "1h"]);
    assert_eq!(code, 0, "{err}");
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("analysis.json")).unwrap()).unwrap();
    let notes = analysis["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["note"] == "no_summary" && n["run_id"] == id.as_str()),
        "{notes:?}"
    );
    assert!(
        out.contains(&format!("note: {id}: no summary.json")),
        "the terminal words it: {out}"
    );
}

/// `analyze --aws-stack NAME`: the names come from a stack deployed into the moto server
/// (with the real template), and the run is then fetched as an AWS run.
#[test]
fn aws_stack_names_come_from_the_deployed_stacks_outputs() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let (Ok(moto), true) = (
        std::env::var("AFORO_TEST_MOTO_URL"),
        Command::new("aws").arg("--version").output().is_ok(),
    ) else {
        assert!(
            !in_ci,
            "CI=true but the moto server or the AWS CLI is missing"
        );
        eprintln!("\n*** SKIPPED: needs AFORO_TEST_MOTO_URL and the AWS CLI ***\n");
        return;
    };
    let env = [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_REGION", "us-east-1"),
    ];
    let app = format!("an{}", std::process::id() % 100_000);
    let template =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target-stack/infra/templates/aforo.yaml");
    for args in [
        vec![
            "cloudformation".to_string(),
            "create-stack".into(),
            "--stack-name".into(),
            app.clone(),
            "--template-body".into(),
            format!("file://{}", template.display()),
            "--parameters".into(),
            format!("ParameterKey=AppName,ParameterValue={app}"),
            "ParameterKey=ArtifactBucket,ParameterValue=unused".into(),
            "ParameterKey=AmiId,ParameterValue=ami-03cf127a".into(),
        ],
        vec![
            "cloudformation".into(),
            "wait".into(),
            "stack-create-complete".into(),
            "--stack-name".into(),
            app.clone(),
        ],
    ] {
        let out = Command::new("aws").args(&args).envs(env).output().unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let root = tempfile::tempdir().unwrap();
    let id = write_run(root.path(), Duration::from_secs(120), &[10_000, 20_000]);
    let runs_dir = root.path().to_str().unwrap();
    let (code, _, err) = analyze_with(
        &[
            "--runs-dir",
            runs_dir,
            "--since",
            "1h",
            "--aws-stack",
            &app,
            "--json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("fetching CloudWatch and Auto Scaling telemetry"),
        "{err}"
    );
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("analysis.json")).unwrap()).unwrap();
    let notes = analysis["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["note"] == "fetched" && n["run_id"] == id.as_str()),
        "{notes:?}"
    );

    let (code, _, err) = analyze_with(
        &[
            "--runs-dir",
            runs_dir,
            "--since",
            "1h",
            "--aws-stack",
            "no-such-stack",
        ],
        &env,
    );
    assert_ne!(code, 0);
    assert!(err.contains("no stack named no-such-stack"), "{err}");
}
