//! A target that dies, a user who presses Ctrl-C, a threshold that fails early: the run
//! still ends with a valid directory and the right exit code.

use std::process::{Command, Stdio};
use std::time::Duration;

use loadgen::calibration::{Behaviour, CalibrationServer};

use crate::helpers::{loadgen_async, only_run, read_run, requests_by_endpoint, text};

const QUICK: Behaviour = Behaviour {
    delay: Duration::from_millis(5),
    stall: None,
    workers: None,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_mid_run_gives_errors_not_a_crash() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(QUICK).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let command_line = format!(
        "run get --host {url} --rate 50 --duration 6s --threshold errors<5% --timeout 2s --out {out}",
        url = server.url(),
        out = out.path().display()
    );
    let run = tokio::spawn(async move { loadgen_async(&command_line).await });
    // Kill it once it has served a while (not after a fixed time: a loaded machine may
    // start loadgen slowly).
    let started = std::time::Instant::now();
    while server.truth().len() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "loadgen never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let output = run.await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "the threshold fails: {}",
        text(&output)
    );
    let run = read_run(&only_run(out.path()));
    assert!(run.manifest.ended_at.is_some());
    let total = &run.summary.total;
    assert_eq!(
        total.requests, 300,
        "every scheduled arrival is accounted for"
    );
    assert!(
        total.errors > 50 && total.errors < 250,
        "{} errors",
        total.errors
    );
    assert!(!run.summary.passed);
    let (requests, errors) = requests_by_endpoint(&run.requests)["get"];
    assert_eq!((requests, errors), (total.requests, total.errors));
    assert!(
        run.requests.iter().any(|r| r.errors_other > 0),
        "refused connections count as errors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_cleanly_with_a_complete_directory() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(QUICK).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            "get",
            "--host",
            &server.url(),
            "--users",
            "3",
            "--duration",
            "60s",
        ])
        .args(["--out", out.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "no thresholds, so a clean stop exits 0: {}",
        text(&output)
    );
    let run = read_run(&only_run(out.path()));
    assert!(run.summary.interrupted, "{:?}", run.summary);
    assert!(
        run.summary
            .interruption
            .as_deref()
            .unwrap_or("")
            .contains("Ctrl-C")
    );
    assert!(run.summary.duration_ms < 30_000);
    assert!(run.summary.total.requests > 50);
    assert!(run.manifest.ended_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_early_and_exits_1() {
    let server = CalibrationServer::start(Behaviour {
        delay: Duration::from_millis(50),
        stall: None,
        workers: None,
    })
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = loadgen_async(&format!(
        "run get --host {url} --users 4 --duration 60s --threshold p95<10ms --abort-on-fail --out {out}",
        url = server.url(),
        out = out.path().display()
    ))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    assert!(run.summary.interrupted);
    let why = run.summary.interruption.clone().unwrap_or_default();
    assert!(
        why.contains("p95<10ms") && why.contains("abort-on-fail"),
        "{why}"
    );
    assert!(
        run.summary.duration_ms < 20_000,
        "stopped after {} ms",
        run.summary.duration_ms
    );
    assert!(!run.summary.thresholds[0].passed);
}
