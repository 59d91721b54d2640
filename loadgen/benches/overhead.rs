//! The cost of recording: requests/second of loadgen's engine (closed model, every request
//! timed into per-endpoint HDR histograms, rotated every second) next to raw Goose (one GET
//! transaction with Goose's own metrics) against the same trivial loopback server, A/B/A/B.
//!
//! `cargo bench -p loadgen --bench overhead` (release build). Knobs: AFORO_BENCH_SECONDS
//! (default 10), AFORO_BENCH_USERS (32), AFORO_BENCH_ROUNDS (3). The server (13-byte body,
//! no delay) runs on a thread and runtime of its own; both generators share the rest of the
//! machine, so on a 2-core box the figures measure the pair, and only ratios from one run
//! are comparable.

use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use loadgen::calibration::{Behaviour, CalibrationServer};
use loadgen::engine::{self, EngineConfig, Model, Workload};
use loadgen::recorder::Recorder;
use scenarios::get::GetScenario;
use scenarios::profile::StageSpec;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The trivial server, on a thread of its own.
fn start_server() -> CalibrationServer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = CalibrationServer::start(Behaviour {
                delay: Duration::ZERO,
                stall: None,
                workers: None,
            })
            .await
            .unwrap();
            tx.send(server).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

async fn raw_goose(url: &str, users: u64, seconds: u64) {
    loadgen::calibration::raw_goose(url, users, seconds)
        .await
        .unwrap();
}

async fn loadgen_engine(url: &str, users: u64, seconds: u64) {
    let config = EngineConfig {
        host: url.to_string(),
        model: Model::Closed,
        stages: vec![StageSpec {
            name: "bench".into(),
            duration: Duration::from_secs(seconds),
            level: users as f64,
            ramp: false,
        }],
        request_timeout: Duration::from_secs(10),
        think_time: None,
        pacing: None,
        stop: Default::default(),
    };
    let recorder = Arc::new(Recorder::new(std::time::SystemTime::now()));
    let workload = Workload::Get(Arc::new(GetScenario { path: "/".into() }));
    // Rotate once a second as a real run does, so the cost of closing intervals counts.
    let rotating = Arc::clone(&recorder);
    let rotation = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let interval = rotating.rotate(std::time::SystemTime::now());
            std::hint::black_box(interval);
        }
    });
    engine::run(&config, workload, recorder, Arc::new(OnceLock::new()))
        .await
        .unwrap();
    rotation.abort();
}

/// Requests per second the server answered while `run` ran.
fn measure(
    server: &CalibrationServer,
    runtime: &tokio::runtime::Runtime,
    run: impl std::future::Future<Output = ()>,
) -> f64 {
    let before = server.truth().len();
    let started = Instant::now();
    runtime.block_on(run);
    (server.truth().len() - before) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let seconds = knob("AFORO_BENCH_SECONDS", 10);
    let users = knob("AFORO_BENCH_USERS", 32);
    let rounds = knob("AFORO_BENCH_ROUNDS", 3);
    let server = start_server();
    let url = server.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("overhead: {users} users, {seconds} s per run, {rounds} rounds, server {url}");
    println!(
        "{:>5} {:>14} {:>14} {:>7}",
        "round", "goose req/s", "loadgen req/s", "ratio"
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let goose = measure(&server, &runtime, raw_goose(&url, users, seconds));
        let ours = measure(&server, &runtime, loadgen_engine(&url, users, seconds));
        ratios.push(ours / goose);
        println!(
            "{round:>5} {goose:>14.0} {ours:>14.0} {:>7.2}",
            ours / goose
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median loadgen/goose ratio: {:.2}",
        ratios[ratios.len() / 2]
    );
}
