//! Latency accuracy against a server of known behaviour: every request takes 50 ms, and
//! every 3 s the server freezes for 500 ms.
//!
//! Theory for the open model at a constant rate: 1/6 of arrivals land in a freeze and wait
//! for its end, so their latency is uniform on [50, 550] ms and the rest take 50 ms. Hence
//! p50 = 50 ms, and the top 1/6 of the distribution is the uniform part: P(L > x) =
//! (550 − x)/500 · 1/6, so p90 = 250 ms and p99 = 520 ms. A closed model with few users
//! sends almost nothing during a freeze (each user waits on one request), so it reports far
//! lower percentiles: coordinated omission, which its summary warns about.

use std::time::Duration;

use loadgen::calibration::{Behaviour, CalibrationServer, Stall};

use crate::helpers::{only_run, read_run, text};

const STALLING: Behaviour = Behaviour {
    delay: Duration::from_millis(50),
    stall: Some(Stall {
        period: Duration::from_secs(3),
        length: Duration::from_millis(500),
    }),
    workers: None,
};

/// How far the recorded p50 may be from what the server measured serving. The suite's goal
/// is 1 ms, and `bench/generators.py` checks it on release builds (0.4 ms, 2026-12-01).
/// Here loadgen's own crates are a debug build and the server shares the test process; on
/// the 2-core CI machine of 2026-12-02 the gap was 0.8–1.2 ms, over 1 ms in 3 of 5 runs.
const P50_TOLERANCE_MS: f64 = 2.0;

async fn run_against(server: &CalibrationServer, load: &str) -> (crate::helpers::ReadRun, String) {
    let out = tempfile::tempdir().unwrap();
    // 12 s: exactly four stall periods, whatever the phase.
    let output = crate::helpers::loadgen_async(&format!(
        "run get --host {} --duration 12s --out {} {load}",
        server.url(),
        out.path().display()
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output));
    (
        read_run(&only_run(out.path())),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_sees_the_stalls_as_theory_predicts() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(STALLING).await.unwrap();
    let (run, stdout) = run_against(&server, "--rate 100").await;
    let l = run
        .summary
        .total
        .latency_us
        .as_ref()
        .expect("measured latencies");
    let truth = server.truth();
    println!(
        "open model: recorded p50 {:.2} p90 {:.1} p99 {:.1} ms; server truth p50 {:.2} ms\n{stdout}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(truth.value_at_quantile(0.5))
    );
    assert_eq!(run.summary.total.requests, 1200, "100/s for 12 s");
    let truth_p50 = ms(truth.value_at_quantile(0.5));
    assert!(
        (ms(l.p50) - truth_p50).abs() <= P50_TOLERANCE_MS,
        "p50 {} vs truth {truth_p50}",
        ms(l.p50)
    );
    assert!(
        (ms(l.p90) - 250.0).abs() <= 25.0,
        "p90 {} ms, theory 250",
        ms(l.p90)
    );
    assert!(
        (ms(l.p99) - 520.0).abs() <= 25.0,
        "p99 {} ms, theory 520",
        ms(l.p99)
    );
    // A loaded machine may start the odd arrival late; more than 1% would distort the test.
    if let Some(note) = &run.summary.model_note {
        let late: u64 = note.split(' ').next().unwrap().parse().unwrap();
        assert!(late <= 12, "{note}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_model_hides_the_stalls_and_says_so() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(STALLING).await.unwrap();
    let (run, stdout) = run_against(&server, "--users 2").await;
    let l = run
        .summary
        .total
        .latency_us
        .as_ref()
        .expect("measured latencies");
    println!(
        "closed model: p50 {:.2} p90 {:.1} p99 {:.1} ms\n{stdout}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99)
    );
    let truth_p50 = ms(server.truth().value_at_quantile(0.5));
    assert!(
        (ms(l.p50) - truth_p50).abs() <= P50_TOLERANCE_MS,
        "p50 {} vs truth {truth_p50}",
        ms(l.p50)
    );
    // Each user is stuck on one request per freeze: ~8 of ~460 requests see it.
    assert!(
        ms(l.p90) < 60.0,
        "closed p90 {} ms should look healthy",
        ms(l.p90)
    );
    let note = run.summary.model_note.expect("the closed model warns");
    assert!(note.contains("coordinated omission"), "{note}");
    assert!(stdout.contains("coordinated omission"), "{stdout}");
}
