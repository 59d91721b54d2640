//! Every request belongs to the second it was due (open model) or sent (closed model),
//! whenever it finished, so the load point of the stage it was due in holds it: its
//! errors, its latency and its count. Runs the real binary against servers slower than
//! the load, so that many answers (and timeouts) come after the stage's window.
//!
//! The analyzer cuts a run into load points by the manifest's stage windows over the
//! seconds of `requests.csv` and `latency.hlog` (`analyzer/src/stages.rs`: the whole
//! seconds inside `started_at + start_offset_ms … + duration_ms`); `load_point` below is
//! that cut, so these tests see what `analyze` will.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use loadgen::calibration::{Behaviour, CalibrationServer};
use rundir::{Manifest, RequestsRow, RunDir};

use crate::helpers::{loadgen_async, only_run, read_run, text};

/// The first stage's window, in seconds since the epoch (fractional).
fn stage_window(manifest: &Manifest) -> (f64, f64) {
    let start = manifest.started_at.unix_timestamp_nanos() as f64 / 1e9;
    let stage = &manifest.stages[0];
    let from = start + stage.start_offset_ms as f64 / 1000.0;
    (from, from + stage.duration_ms as f64 / 1000.0)
}

/// The analyzer's load point of a hold stage: the whole seconds inside it, `[from, to)`,
/// computed as `analyzer/src/stages.rs` does.
fn load_point(manifest: &Manifest) -> (i64, i64) {
    let start_ms = manifest.started_at.unix_timestamp_nanos() / 1_000_000;
    let stage = &manifest.stages[0];
    let from_ms = start_ms + i128::from(stage.start_offset_ms);
    let to_ms = from_ms + i128::from(stage.duration_ms);
    (
        (from_ms + 999).div_euclid(1000) as i64,
        to_ms.div_euclid(1000) as i64,
    )
}

/// A second `[s, s + 1)` that overlaps the stage.
fn overlaps(second: i64, window: (f64, f64)) -> bool {
    (second + 1) as f64 > window.0 && (second as f64) < window.1
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    errors: u64,
    errors_other: u64,
}

/// requests.csv per second (all endpoints).
fn per_second(rows: &[RequestsRow]) -> BTreeMap<i64, Counts> {
    let mut seconds: BTreeMap<i64, Counts> = BTreeMap::new();
    for row in rows {
        let c = seconds.entry(row.timestamp.unix_timestamp()).or_default();
        c.requests += row.counts.requests;
        c.errors += row.counts.errors();
        c.errors_other += row.counts.errors_other;
    }
    seconds
}

/// latency.hlog per second: values recorded (all tags), as the analyzer's timeline files
/// them (by the interval's start). Checks that a finished run has one line per endpoint
/// and interval, in time order (late answers are merged into their second at the end).
fn latency_per_second(run: &std::path::Path) -> BTreeMap<i64, u64> {
    let dir = RunDir::open(run).unwrap();
    let log = std::fs::read(dir.latency_log_path()).unwrap();
    let mut seconds: BTreeMap<i64, u64> = BTreeMap::new();
    let mut lines = Vec::new();
    for interval in rundir::read_intervals(&log).unwrap() {
        *seconds.entry(interval.start.as_secs() as i64).or_default() += interval.histogram.len();
        lines.push((interval.start, interval.tag.clone()));
    }
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        lines, sorted,
        "one hlog line per endpoint and interval, in time order"
    );
    seconds
}

/// requests.csv of a finished run: one row per endpoint and second, in time order.
fn assert_one_row_per_second(rows: &[RequestsRow]) {
    let keys: Vec<_> = rows
        .iter()
        .map(|r| (r.timestamp, r.endpoint.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "one requests.csv row per endpoint and second, in order"
    );
}

fn describe(seconds: &BTreeMap<i64, Counts>, window: (f64, f64)) -> String {
    seconds
        .iter()
        .map(|(s, c)| {
            format!(
                "  {:+6.2} s: {} requests, {} errors{}\n",
                *s as f64 - window.0,
                c.requests,
                c.errors,
                if overlaps(*s, window) {
                    ""
                } else {
                    "  ← outside the stage"
                }
            )
        })
        .collect()
}

/// One worker, 300 ms a request: 3.3 answers/s against 10 arrivals/s, so the queue grows
/// through the run. Request k (sent at 0.1·k s) is answered at about 0.3·(k + 1) s, so from
/// k ≈ 14 on it waits past the 3 s timeout (the server still spends its 300 ms on each):
/// about 26 of the 40 arrivals time out, the last ones about 3 s after the stage ends, and
/// after the recorder has handed their second to the writer (it waits 2 s for answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_requests_belong_to_the_second_they_were_due() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(Behaviour {
        delay: Duration::from_millis(300),
        stall: None,
        workers: Some(1),
    })
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    // --max-in-flight 40: never short of slots, so every arrival starts when due; the timeouts
    // are the point, so no error limit.
    let output = loadgen_async(&format!(
        "run get --host {url} --rate 10 --duration 4s --timeout 3s --max-in-flight 40 --max-errors 100% --out {out}",
        url = server.url(),
        out = out.path().display()
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let path = only_run(out.path());
    let run = read_run(&path);
    let window = stage_window(&run.manifest);
    let seconds = per_second(&run.requests);
    let (from, to) = load_point(&run.manifest);
    let mut point = Counts::default();
    for (_, c) in seconds.range(from..to) {
        point.requests += c.requests;
        point.errors += c.errors;
    }
    let total = &run.summary.total;
    let csv_requests: u64 = seconds.values().map(|c| c.requests).sum();
    let csv_errors: u64 = seconds.values().map(|c| c.errors).sum();
    let csv_other: u64 = seconds.values().map(|c| c.errors_other).sum();
    println!(
        "stage starts {} ms after started_at\n\
         summary: {} requests, {} errors; requests.csv: {csv_requests} requests, {csv_errors} errors\n\
         load point {:.2}–{:.2} s of the stage ({} s): {} requests ({:.1}/s), {} errors ({:.0}%)\n\
         per second (from the stage's start):\n{}",
        run.manifest.stages[0].start_offset_ms,
        total.requests,
        total.errors,
        from as f64 - window.0,
        to as f64 - window.0,
        to - from,
        point.requests,
        point.requests as f64 / (to - from) as f64,
        point.errors,
        point.errors as f64 * 100.0 / point.requests.max(1) as f64,
        describe(&seconds, window)
    );

    // Nothing vanishes: every arrival the schedule made is a request, in both files.
    assert_eq!(total.requests, 40, "10/s for 4 s");
    assert_eq!(
        (csv_requests, csv_errors),
        (total.requests, total.errors),
        "requests.csv and summary.json agree"
    );
    assert!(
        total.errors >= 15,
        "about 26 arrivals wait past the 3 s timeout; got {} errors",
        total.errors
    );
    assert_eq!(csv_other, csv_errors, "the errors are timeouts");

    // Every request sits in a second of the stage it was due in, the late ones included,
    // and a finished run has one line per second and endpoint.
    assert_one_row_per_second(&run.requests);
    let outside: u64 = seconds
        .iter()
        .filter(|(s, _)| !overlaps(**s, window))
        .map(|(_, c)| c.requests)
        .sum();
    assert_eq!(outside, 0, "requests outside the stage they were due in");
    let latency = latency_per_second(&path);
    let recorded: u64 = latency.values().sum();
    assert_eq!(recorded, 40, "every request has its latency (timeouts too)");
    let late_latency: u64 = latency
        .iter()
        .filter(|(s, _)| !overlaps(**s, window))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(late_latency, 0, "latencies outside the stage: {latency:?}");
    // A second may hold only answers that arrived in it (`responses`) and no request due.
    let counted: BTreeMap<i64, u64> = seconds
        .iter()
        .filter(|(_, c)| c.requests > 0)
        .map(|(s, c)| (*s, c.requests))
        .collect();
    assert_eq!(latency, counted, "per second, latencies and requests agree");

    // So the load point shows the offered rate and the errors: 10 arrivals in each whole
    // second (one more or less should an arrival fall within microseconds of a second's
    // edge), and at least 40% of them errors (16 of 30 in the earliest possible 3 s cut).
    let n = (to - from) as u64;
    assert!(n >= 3, "a 4 s stage holds 3 or 4 whole seconds");
    assert!(
        point.requests + 1 >= 10 * n && point.requests <= 10 * n + 1,
        "{} requests in {n} s of 10/s",
        point.requests
    );
    assert!(
        point.errors as f64 >= 0.4 * point.requests as f64,
        "{} errors of {} requests in the load point",
        point.errors,
        point.requests
    );
}

/// Two users against a server that takes 1.5 s: each sends at about 0 s and 1.5 s of a
/// 2 s stage, and the second answers come 1 s after the stage has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_requests_belong_to_the_second_they_were_sent() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(Behaviour {
        delay: Duration::from_millis(1500),
        stall: None,
        workers: None,
    })
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = loadgen_async(&format!(
        "run get --host {url} --users 2 --duration 2s --out {out}",
        url = server.url(),
        out = out.path().display()
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let path = only_run(out.path());
    let run = read_run(&path);
    let window = stage_window(&run.manifest);
    let seconds = per_second(&run.requests);
    println!(
        "summary: {} requests; server answered {}\nper second (from the stage's start):\n{}",
        run.summary.total.requests,
        server.truth().len(),
        describe(&seconds, window)
    );
    assert_eq!(run.summary.total.requests, 4, "2 users × 2 requests");
    assert_eq!(server.truth().len(), 4);
    let outside: u64 = seconds
        .iter()
        .filter(|(s, _)| !overlaps(**s, window))
        .map(|(_, c)| c.requests)
        .sum();
    assert_eq!(outside, 0, "requests outside the stage they were sent in");
    assert_one_row_per_second(&run.requests);
    let latency = latency_per_second(&path);
    assert!(
        latency.keys().all(|s| overlaps(*s, window)),
        "latencies outside the stage: {latency:?}"
    );
    assert_eq!(latency.values().sum::<u64>(), 4);
}

/// Ctrl-C while every slot is busy: the arrivals that were due but never sent are counted
/// as errors (endpoint `unsent`), not lost; what was sent finishes and is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_due_when_the_run_is_stopped_are_counted_not_lost() {
    let _turn = crate::helpers::exclusive().await;
    let server = CalibrationServer::start(Behaviour {
        delay: Duration::from_millis(1000),
        stall: None,
        workers: None,
    })
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "get", "--host", &server.url()])
        .args(["--rate", "20", "--max-in-flight", "2", "--duration", "60s"])
        .args(["--timeout", "5s", "--max-errors", "100%"])
        .args(["--out", out.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two rounds of answers: over 2 s of arrivals are due, at most 6 of them sent.
    let started = std::time::Instant::now();
    while server.truth().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "loadgen never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    assert!(output.status.success(), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    let by_endpoint = crate::helpers::requests_by_endpoint(&run.requests);
    println!(
        "summary: {} requests, {} errors; requests.csv by endpoint {by_endpoint:?}; server answered {}\n{}",
        run.summary.total.requests,
        run.summary.total.errors,
        server.truth().len(),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(run.summary.interrupted);
    let csv_total: u64 = by_endpoint.values().map(|(r, _)| r).sum();
    assert_eq!(csv_total, run.summary.total.requests);
    let (sent, sent_errors) = by_endpoint.get("get").copied().unwrap_or_default();
    assert_eq!(
        sent_errors, 0,
        "the server answers everything within the timeout"
    );
    assert_eq!(sent, server.truth().len(), "every request sent is recorded");
    let (unsent, unsent_errors) = by_endpoint.get("unsent").copied().unwrap_or_default();
    assert!(
        unsent >= 20,
        "over 2 s of 20/s was due with 2 slots busy for 1 s each: {unsent} unsent"
    );
    assert_eq!(unsent_errors, unsent, "an unsent arrival is an error");
}
