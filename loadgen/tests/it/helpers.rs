//! Running the loadgen binary and reading what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use rundir::{Manifest, RequestsRow, RunDir, Summary};

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The loadgen binary with `args`, output captured.
pub fn loadgen(args: &[&str]) -> Output {
    loadgen_with_env(args, &[])
}

/// The same with variables added to its environment (the local target it starts inherits
/// them).
pub fn loadgen_with_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run loadgen")
}

/// The one run directory under `out`.
pub fn only_run(out: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "expected one run directory in {}: {runs:?}",
        out.display()
    );
    runs.into_iter().next().unwrap()
}

/// Everything in a run directory, read with the hdrhistogram crate's own reader for the
/// interval log (not ours), so the file is checked as other tools will see it.
pub struct ReadRun {
    pub manifest: Manifest,
    pub summary: Summary,
    pub requests: Vec<RequestsRow>,
    /// Per tag: the sum of its interval histograms, and how many intervals.
    pub latency: BTreeMap<String, (Histogram<u64>, usize)>,
}

pub fn read_run(path: &Path) -> ReadRun {
    let dir = RunDir::open(path).expect("a valid run directory");
    let manifest = dir.read_manifest().unwrap();
    let summary = dir.read_summary().unwrap();
    let requests = rundir::read_requests(std::io::BufReader::new(
        std::fs::File::open(dir.requests_path()).unwrap(),
    ))
    .unwrap();
    let log = std::fs::read(dir.latency_log_path()).unwrap();
    let mut latency: BTreeMap<String, (Histogram<u64>, usize)> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("the hdrhistogram crate parses every line") {
            LogEntry::Interval(interval) => {
                let tag = interval
                    .tag()
                    .expect("every interval is tagged")
                    .as_str()
                    .to_string();
                let bytes = base64_decode(interval.encoded_histogram());
                let h: Histogram<u64> = deserializer.deserialize(&mut bytes.as_slice()).unwrap();
                let slot = latency
                    .entry(tag)
                    .or_insert_with(|| (Histogram::new(3).unwrap(), 0));
                slot.0.add(&h).unwrap();
                slot.1 += 1;
            }
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => {}
        }
    }
    ReadRun {
        manifest,
        summary,
        requests,
        latency,
    }
}

/// Standard base64 (the interval log's alphabet), without a dependency.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// Request counts per endpoint in requests.csv.
pub fn requests_by_endpoint(rows: &[RequestsRow]) -> BTreeMap<String, (u64, u64)> {
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in rows {
        let entry = totals.entry(row.endpoint.clone()).or_default();
        entry.0 += row.counts.requests;
        entry.1 += row.counts.errors();
    }
    totals
}

pub fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Tests that generate load take turns: on a 2-core machine two of them at once would
/// distort each other's latencies.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    LOAD.lock().await
}

pub fn exclusive_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    LOAD.blocking_lock()
}

/// [`loadgen`] from async tests, without blocking the runtime that serves the target.
/// `command_line` is split on white space (test paths have none).
pub async fn loadgen_async(command_line: &str) -> Output {
    let args: Vec<String> = command_line
        .split_whitespace()
        .map(str::to_string)
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loadgen(&args)
    })
    .await
    .expect("the loadgen thread")
}
