//! The benchmark suite's server (bench/generators.py): loadgen's calibration server in a
//! process of its own, on one thread, so it can be pinned to one core. A 13-byte body;
//! optionally a fixed delay and periodic stalls.
//!
//!   bench_server [--delay-ms D] [--stall-every-ms P --stall-ms S]
//!
//! Prints its URL, then for each line read on standard input what it has served so far, as
//! JSON (requests, and the true service-time percentiles in µs); stops at end of input.

use std::time::Duration;

use loadgen::calibration::{Behaviour, CalibrationServer, Stall};

fn flag(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    let value = args.get(i + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} {value}: not a number")),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let behaviour = Behaviour {
        delay: Duration::from_millis(flag(&args, "--delay-ms").unwrap_or(0)),
        stall: flag(&args, "--stall-every-ms").map(|every| Stall {
            period: Duration::from_millis(every),
            length: Duration::from_millis(flag(&args, "--stall-ms").unwrap_or(0)),
        }),
        workers: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = CalibrationServer::start(behaviour).await.unwrap();
        println!("{}", server.url());
        // Each line on stdin asks for a snapshot; end of input stops the server.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
        while rx.recv().await.is_some() {
            let truth = server.truth();
            println!(
                "{{\"requests\": {}, \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}}}",
                truth.len(),
                truth.value_at_quantile(0.5),
                truth.value_at_quantile(0.99),
                truth.value_at_quantile(0.999)
            );
        }
    });
}
