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
async fn a_target_that_dies_mid_run_stops_the_run_as_interrupted_and_exits_3() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(QUICK).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let command_line = format!(
        "run get --host {url} --rate 50 --duration 30s --threshold errors<5% --timeout 2s --out {out}",
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
        Some(3),
        "a lost target is not a result: {}",
        text(&output)
    );
    let run = read_run(&only_run(out.path()));
    assert!(run.manifest.ended_at.is_some());
    assert!(run.summary.interrupted && !run.summary.passed);
    let why = run.summary.interruption.clone().unwrap_or_default();
    assert!(why.contains("stopped answering"), "{why}");
    let total = &run.summary.total;
    assert!(
        total.requests < 1500,
        "stopped a few seconds after the death, not at the plan's end: {} requests",
        total.requests
    );
    assert!(total.errors > 100, "{} errors", total.errors);
    // Every endpoint: an arrival due when the run stopped, with every slot waiting on the
    // dead target, is an `unsent` request.
    let by_endpoint = requests_by_endpoint(&run.requests);
    assert!(
        by_endpoint.keys().all(|e| e == "get" || e == "unsent"),
        "{by_endpoint:?}"
    );
    let (requests, errors) = by_endpoint
        .values()
        .fold((0, 0), |(r, e), (rr, ee)| (r + rr, e + ee));
    assert_eq!((requests, errors), (total.requests, total.errors));
    assert!(
        run.requests.iter().any(|r| r.counts.errors_other > 0),
        "refused connections count as errors"
    );
}

/// A port nothing listens on (bound, then closed).
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_answer_ends_the_invocation_before_any_load_with_exit_3() {
    let out = tempfile::tempdir().unwrap();
    let output = loadgen_async(&format!(
        "run get --host {url} --users 2 --duration 5s --out {out}",
        url = dead_url(),
        out = out.path().display()
    ))
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not answering") && stderr.contains("--no-health-check"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no run directory for a run that never started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_redirects_is_named_by_where_it_redirects_before_any_load() {
    // An HTTP listener that sends everything to HTTPS, as the AWS balancer's port 80 does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await;
            let answer = "HTTP/1.1 301 Moved Permanently\r\nlocation: https://api.example.test/health\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let out = tempfile::tempdir().unwrap();
    let output = loadgen_async(&format!(
        "run get --host {url} --users 2 --duration 5s --out {out}",
        out = out.path().display()
    ))
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("301") && stderr.contains("https://api.example.test/health"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_back_off_and_send_no_bytes() {
    let out = tempfile::tempdir().unwrap();
    // Past the health check, the closed model meets a dead port: each user backs off
    // (50 ms doubling to 1 s) instead of looping on refusals, and the run stops as lost.
    let output = loadgen_async(&format!(
        "run get --host {url} --users 2 --duration 20s --no-health-check --out {out}",
        url = dead_url(),
        out = out.path().display()
    ))
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    let total = &run.summary.total;
    println!(
        "{} requests refused in {} ms",
        total.requests, run.summary.duration_ms
    );
    // Without the back-off, two users refused on loopback send thousands a second.
    let per_user_second =
        total.requests as f64 / 2.0 / (run.summary.duration_ms as f64 / 1000.0).max(1.0);
    assert!(
        per_user_second < 10.0,
        "{per_user_second:.1} requests/s per user"
    );
    assert_eq!(total.errors, total.requests);
    assert_eq!(total.bytes_sent, 0, "nothing is sent without a connection");
    assert!(run.summary.interrupted && !run.summary.passed);
}

/// A run killed with SIGKILL leaves what it measured: the files' headers are written at
/// the start and every second's rows as it is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_keeps_the_seconds_it_measured() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(QUICK).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "get", "--host", &server.url(), "--rate", "20"])
        .args(["--duration", "60s", "--out", out.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Enough served for several seconds to settle (SETTLE is 2 s).
    let started = std::time::Instant::now();
    while server.truth().len() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "loadgen never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let dir = rundir::RunDir::open(&only_run(out.path())).unwrap();
    let manifest = dir.read_manifest().unwrap();
    assert_eq!(manifest.ended_at, None, "killed: the manifest has no end");
    let requests = rundir::read_requests(std::io::BufReader::new(
        std::fs::File::open(dir.requests_path()).unwrap(),
    ))
    .expect("requests.csv reads, header first");
    let recorded: u64 = requests.iter().map(|r| r.counts.requests).sum();
    assert!(recorded >= 20, "{recorded} requests on disk after the kill");
    let log = std::fs::read(dir.latency_log_path()).unwrap();
    let intervals = rundir::read_intervals(&log).expect("latency.hlog reads");
    assert!(
        !intervals.is_empty(),
        "latency intervals on disk after the kill"
    );
    if let Some(tools) = crate::truth::Tools::for_test("a_killed_run_keeps_the_seconds_it_measured")
    {
        let output = Command::new(tools.analyze)
            .args(["--runs-dir", out.path().to_str().unwrap(), "--since", "1h"])
            .output()
            .unwrap();
        let printed = text(&output);
        assert!(output.status.success(), "{printed}");
        assert!(
            printed.contains("no summary.json"),
            "marked incomplete: {printed}"
        );
    }
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
