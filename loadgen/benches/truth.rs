//! The truth tests' longer version (issue 15): the same known-answer cases as
//! `tests/it/truth.rs`, with longer ramps and holds and finer search steps, printing each
//! recovered figure beside the truth with its tolerance, pass or fail, and each process's
//! CPU.
//!
//!   cargo build -p analyzer --bin analyze --release && cargo bench -p loadgen --bench truth
//!   cargo build -p analyzer --bin analyze && cargo bench -p loadgen --bench truth --profile dev
//!
//! (analyze is looked for beside loadgen, or at `$AFORO_ANALYZE`.) Knobs:
//! `AFORO_TRUTH_ROUNDS` (1) repeats every case; `AFORO_TRUTH_SHORT=1` runs the CI sizes.
//! The exit code is 1 when any check failed. Load goes to 127.0.0.1 only.

#[allow(dead_code)]
#[path = "../tests/it/truth.rs"]
mod truth;

use std::time::Duration;

use time::OffsetDateTime;
use truth::*;

/// 0 → 12 users in 121 s (ten 12 s slices of 1.2 users, 480 requests at μ; the analysis
/// always cuts a ramp in ten, so more users would only widen the slices), 30 s at 12.
const LONG_CLOSED: ClosedRamp = ClosedRamp {
    system: CI_SYSTEM,
    users: 12,
    ramp_s: 121,
    hold_s: 30,
    slo_p95_ms: CI_SLO_P95_MS,
};

/// 22, 26, 30, 34, 38 (0.95·μ) hold, 42 breaks; 9 s ramps and 20 s holds.
const LONG_SEARCH: OpenSearch = OpenSearch {
    system: CI_SYSTEM,
    start: 22.0,
    step: 4.0,
    max: 50.0,
    ramp_s: 9.0,
    hold_s: 20.0,
    slo_p95_ms: CI_SLO_P95_MS,
};

fn main() {
    let tools = match Tools::find() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("truth bench: {why}");
            std::process::exit(2);
        }
    };
    let rounds: usize = std::env::var("AFORO_TRUTH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let short = std::env::var_os("AFORO_TRUTH_SHORT").is_some();
    let (closed, search) = if short {
        (CI_CLOSED, CI_SEARCH)
    } else {
        (LONG_CLOSED, LONG_SEARCH)
    };
    println!(
        "truth bench: {} build, {} round(s), {} sizes; loadgen {}, analyze {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        rounds,
        if short { "CI" } else { "long" },
        tools.loadgen.display(),
        tools.analyze.display()
    );
    let mut failed = 0;
    for round in 1..=rounds {
        println!("\n=== round {round} ===");
        let run = run_case(
            &tools,
            closed.system,
            &closed.loadgen_args(),
            closed.slo_p95_ms,
        );
        let checks = closed_checks(&closed, &CI_CLOSED_TOLERANCE, &run.analysis);
        println!(
            "{}",
            table(
                &format!(
                    "closed ramp 0 → {} users in {} s, hold {} s; c = {} × S = {} ms, SLO p95 {} ms",
                    closed.users,
                    closed.ramp_s,
                    closed.hold_s,
                    closed.system.slots,
                    closed.system.service_ms(),
                    closed.slo_p95_ms
                ),
                &checks
            )
        );
        print_curve(&run, &closed);
        println!("{}", run.cpu_report());
        failed += checks.iter().filter(|c| !c.pass).count();

        let run = run_case(
            &tools,
            search.system,
            &search.loadgen_args(),
            search.slo_p95_ms,
        );
        let checks = search_checks(&search, &CI_SEARCH_TOLERANCE, &run.analysis);
        println!(
            "{}",
            table(
                &format!(
                    "open search {}, {}, … by {} (ramps {} s, holds {} s); μ = {:.0}/s, SLO p95 {} ms",
                    search.start,
                    search.start + search.step,
                    search.step,
                    search.ramp_s,
                    search.hold_s,
                    search.system.capacity(),
                    search.slo_p95_ms
                ),
                &checks
            )
        );
        for p in curve(&run.analysis) {
            println!(
                "    {:<34} λ {:>6.1}/s  X {:>6.1}/s  p95 {:>8.1} ms",
                p.label,
                p.load,
                p.rps,
                p.p95_ms.unwrap_or(f64::NAN)
            );
        }
        println!("{}", run.cpu_report());
        failed += checks.iter().filter(|c| !c.pass).count();

        let cell = worker_case(short);
        let root = tempfile::tempdir().expect("a temporary directory");
        let id = cell.write_run(root.path());
        let analysis = analyze_runs(&tools, root.path(), &[&id], 1000.0);
        let checks = worker_checks(&cell, &analysis);
        println!(
            "{}",
            table(
                &format!(
                    "worker cell (simulated) c = {} × S = {} s, μ = {:.2}/min, steps {:?}/min of {} s",
                    cell.slots,
                    cell.service_s,
                    cell.capacity_per_minute(),
                    cell.rates_per_minute
                        .iter()
                        .map(|r| (r * 100.0).round() / 100.0)
                        .collect::<Vec<_>>(),
                    cell.step.as_secs()
                ),
                &checks
            )
        );
        failed += checks.iter().filter(|c| !c.pass).count();
    }
    println!(
        "\ntruth bench: {}",
        if failed == 0 {
            "every figure within its tolerance".to_string()
        } else {
            format!("{failed} figure(s) off the truth")
        }
    );
    std::process::exit(i32::from(failed > 0));
}

fn print_curve(run: &CaseRun, case: &ClosedRamp) {
    for p in curve(&run.analysis) {
        println!(
            "    {:<32} N {:>5.2}  X {:>6.1}/s  mean {:>6.1} ms  p95 {:>6.1} ms  (theory X {:>5.1}/s, R {:>5.1} ms)",
            p.label,
            p.load,
            p.rps,
            p.mean_ms.unwrap_or(f64::NAN),
            p.p95_ms.unwrap_or(f64::NAN),
            case.system.closed_throughput(p.load),
            case.system.closed_response_ms(p.load)
        );
    }
}

/// 2 slots of 18 s (μ = 6.67/min) under 0.85 … 1.15 μ by 0.05 μ (0.85, 0.9, 0.95 stable,
/// 1.05 … growing), 10 min a step; the CI size is the test's.
fn worker_case(short: bool) -> WorkerStaircase {
    let mu = 60.0 * 2.0 / 18.0;
    let (fractions, step): (&[f64], u64) = if short {
        (&[0.55, 0.75, 0.95, 1.15, 1.35], 300)
    } else {
        (&[0.85, 0.9, 0.95, 1.05, 1.1, 1.15], 600)
    };
    WorkerStaircase {
        slots: 2,
        service_s: 18.0,
        rates_per_minute: fractions.iter().map(|f| f * mu).collect(),
        step: Duration::from_secs(step),
        size_bytes: 50_000_000,
        started: OffsetDateTime::from_unix_timestamp(1_798_761_600).expect("a valid time"),
    }
}

/// `cargo clippy --all-targets` also checks this bench as a test, which compiles the truth
/// module's tests; in the test binary they take turns through its `helpers`.
#[cfg(test)]
mod helpers {
    pub fn exclusive_blocking() -> std::sync::MutexGuard<'static, ()> {
        static LOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOAD.lock().unwrap_or_else(|e| e.into_inner())
    }
}
