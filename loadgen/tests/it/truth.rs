//! Truth tests (issue 15): the real `loadgen` drives a server whose capacity is known by
//! construction, the real `analyze` reads what it wrote, and the figures it prints must be
//! the ones theory gives, within a stated tolerance. Plus a scenario-2 cell simulated with a
//! known service time, and a golden `analysis.json` that shows any change of figure in
//! review.
//!
//! # The system: c slots, each busy for a fixed S
//!
//! [`CalibrationServer`] with `workers: Some(c)` and `delay: S` serves at most c requests at
//! once, each for exactly S; the others wait in arrival order (tokio's semaphore is fair).
//! Its capacity is μ = c/S by construction. Two small overheads are not part of S: the
//! server's timer rounds each sleep up to the next millisecond (tokio's timer wheel), and
//! the generator spends some time on each request (more on a debug build). So the true
//! throughput limit lies in [c/(S + 1 ms), c/S], and the latency the generator sees is
//! S + δ with δ ≈ 0.5–2 ms.
//!
//! ## Closed model, N users, no think time
//!
//! Each user sends its next request as soon as the previous one is answered.
//!
//! - Throughput X(N) = min(N, c)/S: below c every user is served at once; above c the c
//!   slots are always busy.
//! - Response time R(N) = S for N ≤ c, and N·S/c for N > c (mean): Little's law N = X·R
//!   with X = c/S. It is the same law the analysis checks (`little[]`), here with a known X.
//! - The p95. A request waits at most ⌈N/c⌉ − 1 service times (FIFO, c slots), so
//!   R ≤ ⌈N/c⌉·S + δ and N ≤ k·c users meet an SLO of k·S + m (δ ≪ m). The p95 is at
//!   least about the mean N·S/c, so N > c·SLO/S users break it. In between it depends on
//!   how the slots' phases fell: in step (each batch of c starting together, which the
//!   slots keep once they fall into it) R is ⌊N/c⌋·S or ⌈N/c⌉·S and the p95 the latter;
//!   spread evenly, every request takes N·S/c. An SLO between k·S and (k + 1/c)·S makes the
//!   two bounds meet: with c = 4, S = 100 ms and an SLO of 220 ms, 8 users hold (p95 at most
//!   200 ms + δ, 20 ms to spare) and 9 break (mean 225 ms; in step 300 ms). The margin is
//!   at most S/c = 1/μ, and μ must stay high enough for the 110 samples the analysis
//!   wants for a p95 (4 s slices at 40/s: 160). Measured (debug build, five runs): p95
//!   202–208 ms in the slices where 7 and 8 users ran, 226–305 ms once 9 did.
//! - A ramp is cut into slices (a tenth of the ramp, at least 3 s) of w users of the linear
//!   level ℓ each, and a slice's load is ℓ at its midpoint. Goose starts the first user at
//!   once and one every T/N after, so ⌊ℓ⌋ + 1 users run: the population first exceeds the
//!   k·c users that surely hold at ℓ = k·c (a little later for the time Goose takes to
//!   start), and reaches the k·c + 1 that surely break there too. The slice that holds that
//!   moment breaks the SLO, or the next one does when only a sliver of it is past it; so
//!   the first breach lies between k·c − w/2 and k·c + ½ + w, the last slice within the
//!   SLO one slice below it, and every slice within the SLO at or below k·c + ½. (The ½:
//!   should the analysis give a slice the users that really ran, the population would
//!   cross at a load of k·c + ½; the windows hold either way.) That ⌊ℓ⌋ + 1 is on average
//!   half a user above the load the analysis gives a slice is a defect these tests found:
//!   Little's law shows it, see `closed_ramp_obeys_littles_law`.
//! - The Universal Scalability Law fitted to X(N) = min(N, c)/S: the curve bends because
//!   requests queue for the c slots, which is contention, so σ > 0 (and σ > κ); it
//!   flattens at c/S, so the fit's peak (κ > 0) or its asymptote λ/σ (κ ≤ 0) is near c/S.
//!   λ is not judged: a USL curve cannot turn a sharp corner, and fitted to min(N, c)/S it
//!   puts λ well above 1/S even on exact data (the golden run: 15.3/s against 10/s).
//!
//! ## Open model, arrivals at λ per second
//!
//! loadgen spaces arrivals evenly and measures each request from its due time, so this is
//! a D/D/c queue: for λ < μ no request waits and R = S; for λ > μ the backlog grows at
//! λ − μ, so after t seconds a request waits (λ − μ)·t/μ: a hold of H seconds at λ = 1.2·μ
//! has a p95 near 0.2·0.95·H s, far above an SLO of 2.2·S. The highest rate within the SLO
//! is therefore the highest level tried below μ, never one above, and its throughput is λ
//! (≤ μ). A search (`--profile search`) with levels l₀, l₀ + Δ, … recovers μ to within Δ,
//! from below. However many arrive, no point completes more than μ a second.
//!
//! ## A worker cell (scenario 2) of c slots and a fixed service time S
//!
//! The real worker runs ffmpeg, whose service time is not known in advance, so the cell is
//! simulated: tasks arrive on loadgen's own staircase (`Injection::due`, polled every 250 ms
//! as `scenario2::drive` does), c slots serve each for exactly S, and the queue is sampled
//! each second. The run directory holds what a real run's holds (tasks.csv, queue.csv, the
//! manifest with its worker pool), and the real `analyze` computes the figures from it.
//! Theory (D/D/c again): a step at a rate below μ = 60·c/S per minute keeps the queue
//! empty; a step above it grows the queue at (rate − μ) and completes exactly μ per minute.
//! So the first growing step is the first rate above μ, the highest stable step is the last
//! below, and μ lies between them; and each step completes what arrived S earlier,
//! min(rate, μ) a minute but for its first S.
//!
//! ## Tolerances
//!
//! Each constant below says what was measured to choose it. The cases run under the
//! module's shared lock (`helpers::exclusive`), one load at a time, so that on a 2-core
//! machine no two loads distort each other; a machine busy with other work still slows the
//! server's timers and the generator, which the tolerances allow for within limits (other
//! processes compiling on both cores can break a 20 ms margin).
//!
//! Two tests fail on purpose until the analysis is fixed, each saying why:
//! `closed_ramp_obeys_littles_law` and `open_search_throughput_never_exceeds_c_over_s`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use loadgen::calibration::{Behaviour, CalibrationServer};
use loadgen::scenario2::{DriveLog, QueueSample};
use rundir::short_run_id as short_id;
use rundir::{
    EndpointSummary, HostInfo, LatencyLogWriter, LatencySummary, LoadModel, Manifest, MetricRow,
    MetricsWriter, QueuedTask, RequestCounts, RequestsRow, RequestsWriter, RunDir, RunId,
    StackKind, Stage, Summary, TaskOutcome, TaskRun, TasksRow, ToolVersions,
};
use scenarios::scenario2::{Cell, Injection, Mode};
use serde_json::Value;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------
// The systems and the cases.
// ---------------------------------------------------------------------------------------

/// A server of `slots` slots, each request busy for `service`.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    pub slots: usize,
    pub service: Duration,
}

impl Slots {
    /// μ = c/S, requests per second.
    pub fn capacity(&self) -> f64 {
        self.slots as f64 / self.service.as_secs_f64()
    }

    pub fn service_ms(&self) -> f64 {
        self.service.as_secs_f64() * 1000.0
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour {
            delay: self.service,
            stall: None,
            workers: Some(self.slots),
        }
    }

    /// Theory's mean response time at N users, ms.
    pub fn closed_response_ms(&self, users: f64) -> f64 {
        self.service_ms() * (users / self.slots as f64).max(1.0)
    }

    /// Theory's throughput at N users, requests per second.
    pub fn closed_throughput(&self, users: f64) -> f64 {
        users.min(self.slots as f64) / self.service.as_secs_f64()
    }
}

/// The CI system: c = 4 slots of S = 100 ms, μ = 40 requests/s. 100 ms is long next to the
/// millisecond of timer rounding and generator overhead (1 %); 4 slots keep the margin
/// between the users that surely hold the SLO and those that surely break it at S/c =
/// 25 ms (8 slots halve it); and 40 requests/s is light for a 2-core machine running the
/// generator, the server and the tests, yet gives a 4 s slice the 110 requests the
/// analysis needs for a p95.
pub const CI_SYSTEM: Slots = Slots {
    slots: 4,
    service: Duration::from_millis(100),
};

/// The SLO's p95 for the CI cases: 2.2·S, between the most 8 users can take (2·S) and the
/// mean of 9 (2.25·S), so that 8 users hold and 9 break whatever the slots' phases (see the
/// module documentation); an open hold below μ (R = S + δ) holds with 120 ms to spare.
pub const CI_SLO_P95_MS: f64 = 220.0;

/// A closed-model ramp: 0 → `users` over `ramp_s`, then a hold of `hold_s`.
#[derive(Debug, Clone, Copy)]
pub struct ClosedRamp {
    pub system: Slots,
    pub users: u32,
    pub ramp_s: u32,
    pub hold_s: u32,
    pub slo_p95_ms: f64,
}

/// The CI closed ramp: 0 → 12 users in 41 s (its 40 whole seconds make ten 4 s slices of
/// 1.17 users each, 160 requests at μ), then 5 s at 12 users (R = 3·S = 300 ms, a breach);
/// 46 s of load.
pub const CI_CLOSED: ClosedRamp = ClosedRamp {
    system: CI_SYSTEM,
    users: 12,
    ramp_s: 41,
    hold_s: 5,
    slo_p95_ms: CI_SLO_P95_MS,
};

impl ClosedRamp {
    /// The `loadgen run get` arguments: the ramp profile (3 min ramp, hold `--duration`)
    /// compressed by `--time-scale`.
    pub fn loadgen_args(&self) -> Vec<String> {
        let scale = f64::from(self.ramp_s) / 180.0;
        let hold = f64::from(self.hold_s) / scale;
        vec![
            "--profile".into(),
            "ramp".into(),
            "--users".into(),
            self.users.to_string(),
            "--time-scale".into(),
            format!("{scale}"),
            "--duration".into(),
            format!("{hold:.3}s"),
            "--param".into(),
            "path=/".into(),
        ]
    }

    /// Theory's knee: the most users that surely hold the SLO (k·c, k = ⌊SLO/S⌋: no
    /// request waits more than k − 1 services) and the fewest that surely break it (the
    /// first N whose mean N·S/c is over the SLO).
    pub fn knee_users(&self) -> (f64, f64) {
        let ratio = self.slo_p95_ms / self.system.service_ms();
        let c = self.system.slots as f64;
        (ratio.floor() * c, (ratio * c).floor() + 1.0)
    }

    /// Users per ramp slice, as the analysis cuts it (a tenth of the ramp, at least 3 s).
    pub fn slice_users(&self) -> f64 {
        // The whole seconds inside a ramp that starts mid-second: one fewer than its length.
        let slice_s = (f64::from(self.ramp_s - 1) / 10.0).floor().max(3.0);
        f64::from(self.users) * slice_s / f64::from(self.ramp_s)
    }
}

/// An open-model search: ramp-and-hold runs at `start`, `start + step`, … until one breaks
/// the SLO.
#[derive(Debug, Clone, Copy)]
pub struct OpenSearch {
    pub system: Slots,
    pub start: f64,
    pub step: f64,
    pub max: f64,
    /// Each level's ramp (the profile's 3 min, scaled).
    pub ramp_s: f64,
    pub hold_s: f64,
    pub slo_p95_ms: f64,
}

/// The CI search: 16, 32, 48 requests/s against μ = 40: 16 and 32 hold, 48 breaks; 3.6 s
/// ramps and 5 s holds. 32 (0.8·μ) leaves room below μ for a loaded machine, whose late
/// timers lower the real limit (a machine busy compiling served 4 slots of 40 ms at 93/s,
/// not 100). 48 grows a backlog of 8 a second: 40 in the hold, 1 s of wait. The hold at 16
/// has 64 requests in its whole seconds, too few for a p95: the analysis leaves it out of
/// the curve, and the knee must not change for that.
pub const CI_SEARCH: OpenSearch = OpenSearch {
    system: CI_SYSTEM,
    start: 16.0,
    step: 16.0,
    max: 64.0,
    ramp_s: 3.6,
    hold_s: 5.0,
    slo_p95_ms: CI_SLO_P95_MS,
};

impl OpenSearch {
    pub fn loadgen_args(&self) -> Vec<String> {
        let scale = self.ramp_s / 180.0;
        let hold = self.hold_s / scale;
        vec![
            "--profile".into(),
            "search".into(),
            "--rate".into(),
            format!("{}", self.start),
            "--search-step".into(),
            format!("{}", self.step),
            "--search-max".into(),
            format!("{}", self.max),
            "--slo-p95".into(),
            format!("{}ms", self.slo_p95_ms),
            "--time-scale".into(),
            format!("{scale}"),
            "--duration".into(),
            format!("{hold:.3}s"),
            "--param".into(),
            "path=/".into(),
        ]
    }

    /// Theory: the highest level tried below μ (the best within the SLO) and the first at
    /// or above it (the breach).
    pub fn expected_levels(&self) -> (Option<f64>, Option<f64>) {
        let mu = self.system.capacity();
        let mut below = None;
        let mut level = self.start;
        while level <= self.max + 1e-9 {
            if level < mu {
                below = Some(level);
            } else {
                return (below, Some(level));
            }
            level += self.step;
        }
        (below, None)
    }
}

// ---------------------------------------------------------------------------------------
// Running the real binaries.
// ---------------------------------------------------------------------------------------

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The binaries: loadgen (this package's) and analyze, built beside it by
/// `cargo test --workspace` (or `cargo build -p analyzer --bin analyze`).
#[derive(Debug, Clone)]
pub struct Tools {
    pub loadgen: PathBuf,
    pub analyze: PathBuf,
}

impl Tools {
    /// Both binaries, or why not.
    pub fn find() -> Result<Tools, String> {
        let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
        let analyze = std::env::var_os("AFORO_ANALYZE")
            .map(PathBuf::from)
            .unwrap_or_else(|| loadgen.with_file_name("analyze"));
        if analyze.is_file() {
            Ok(Tools { loadgen, analyze })
        } else {
            Err(format!(
                "{} is not built: `cargo build -p analyzer --bin analyze` (`cargo test \
                 --workspace` builds it), or set AFORO_ANALYZE",
                analyze.display()
            ))
        }
    }

    /// For tests: the binaries, or None after a loud notice (a failure under CI=true).
    pub fn for_test(test: &str) -> Option<Tools> {
        match Tools::find() {
            Ok(tools) => Some(tools),
            Err(why) => {
                assert!(!in_ci(), "CI=true but {why}");
                eprintln!("\n*** SKIPPED {test}: {why} ***\n");
                None
            }
        }
    }
}

/// CPU seconds (user + system) a process used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub user_s: f64,
    pub system_s: f64,
}

impl Cpu {
    pub fn total_s(&self) -> f64 {
        self.user_s + self.system_s
    }
}

/// What a child process did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub cpu: Cpu,
    pub wall: Duration,
}

impl Ran {
    pub fn text(&self, what: &str) -> String {
        format!(
            "{what}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program` with `args`, output captured, and measures its own CPU time: its
/// `/proc/PID/stat` is read until it is a zombie (exited, not yet reaped, its times final),
/// and only then is it reaped. (getrusage's RUSAGE_CHILDREN would count every child of
/// this process, and other tests start children too.)
pub fn run_measured(program: &Path, args: &[String]) -> Ran {
    let started = std::time::Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let stat = PathBuf::from(format!("/proc/{}/stat", child.id()));
    let mut cpu = Cpu::default();
    while let Some((state, now)) = std::fs::read_to_string(&stat)
        .ok()
        .and_then(|text| parse_stat(&text))
    {
        cpu = now;
        if state == 'Z' {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("wait for the child");
    Ran {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        cpu,
        wall: started.elapsed(),
    }
}

/// The state and CPU times of a `/proc/…/stat` line: `pid (comm) state …`, utime and stime
/// the 14th and 15th fields, in clock ticks (USER_HZ, 100 on every Linux this runs on).
fn parse_stat(text: &str) -> Option<(char, Cpu)> {
    let close = text.rfind(')')?;
    let fields: Vec<&str> = text.get(close + 2..)?.split(' ').collect();
    let ticks = |i: usize| -> Option<f64> { Some(fields.get(i)?.parse::<f64>().ok()? / 100.0) };
    Some((
        fields.first()?.chars().next()?,
        Cpu {
            user_s: ticks(11)?,
            system_s: ticks(12)?,
        },
    ))
}

/// The command name in a `/proc/…/stat` line.
fn stat_name(text: &str) -> Option<&str> {
    Some(&text[text.find('(')? + 1..text.rfind(')')?])
}

/// CPU time of this process's threads whose name starts with `prefix` (Linux: from
/// /proc/self/task/*/stat; None elsewhere).
fn threads_cpu(prefix: &str) -> Option<Cpu> {
    let mut cpu = Cpu::default();
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if !stat_name(&text).is_some_and(|name| name.starts_with(prefix)) {
            continue;
        }
        if let Some((_, c)) = parse_stat(&text) {
            cpu.user_s += c.user_s;
            cpu.system_s += c.system_s;
            found = true;
        }
    }
    found.then_some(cpu)
}

/// One case run: what loadgen and analyze did, and the analysis.
#[derive(Debug)]
pub struct CaseRun {
    pub analysis: Value,
    pub loadgen: Ran,
    pub analyze: Ran,
    /// The server's threads.
    pub server_cpu: Option<Cpu>,
    /// The server's own measure of each request, arrival → answer, µs.
    pub server_truth: Histogram<u64>,
}

impl CaseRun {
    /// One line per process: CPU seconds and share of one core over the load.
    pub fn cpu_report(&self) -> String {
        let wall = self.loadgen.wall.as_secs_f64().max(1e-9);
        let line = |name: &str, cpu: Option<Cpu>, wall: f64| match cpu {
            Some(c) => format!(
                "{name}: {:.2} s CPU ({:.2} user + {:.2} system) over {wall:.1} s = {:.0} % of one core",
                c.total_s(),
                c.user_s,
                c.system_s,
                100.0 * c.total_s() / wall
            ),
            None => format!("{name}: CPU not measurable here"),
        };
        let truth = &self.server_truth;
        [
            format!(
                "server's own measure: {} requests, min {:.1} ms, p50 {:.1} ms (arrival → answer)",
                truth.len(),
                truth.min() as f64 / 1000.0,
                truth.value_at_quantile(0.5) as f64 / 1000.0
            ),
            line("loadgen", Some(self.loadgen.cpu), wall),
            line("calibration server", self.server_cpu, wall),
            line(
                "analyze",
                Some(self.analyze.cpu),
                self.analyze.wall.as_secs_f64(),
            ),
        ]
        .join("\n")
    }
}

/// Starts a server of `system` on a runtime of its own (named threads, so their CPU can be
/// read), runs `loadgen run get --host URL --out DIR ARGS…` against it, then
/// `analyze --runs-dir DIR --since 1h --slo-p95 SLO`; returns what the analysis says.
pub fn run_case(tools: &Tools, system: Slots, args: &[String], slo_p95_ms: f64) -> CaseRun {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("truth-server")
        .enable_all()
        .build()
        .expect("a runtime for the server");
    let server = runtime
        .block_on(CalibrationServer::start(system.behaviour()))
        .expect("the calibration server starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runs = dir.path().join("runs");
    let before = threads_cpu("truth-server");
    let mut full = vec![
        "run".to_string(),
        "get".into(),
        "--host".into(),
        server.url(),
        "--out".into(),
        runs.display().to_string(),
    ];
    full.extend_from_slice(args);
    let loadgen = run_measured(&tools.loadgen, &full);
    let after = threads_cpu("truth-server");
    let server_truth = server.truth();
    server.kill();
    drop(runtime);
    // A search exits 1 when its last level breaks the SLO, which is how a search ends.
    assert!(
        matches!(loadgen.code, Some(0 | 1)),
        "{}",
        loadgen.text("loadgen")
    );
    let out = dir.path().join("analysis.json");
    let analyze = run_measured(
        &tools.analyze,
        &[
            "--runs-dir".into(),
            runs.display().to_string(),
            "--since".into(),
            "1h".into(),
            "--out".into(),
            out.display().to_string(),
            "--slo-p95".into(),
            format!("{slo_p95_ms}ms"),
        ],
    );
    assert_eq!(analyze.code, Some(0), "{}", analyze.text("analyze"));
    let analysis = read_json(&out);
    CaseRun {
        analysis,
        loadgen,
        analyze,
        // No thread yet at the first look is no CPU yet.
        server_cpu: after.map(|a| {
            let b = before.unwrap_or_default();
            Cpu {
                user_s: a.user_s - b.user_s,
                system_s: a.system_s - b.system_s,
            }
        }),
        server_truth,
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Reading analysis.json.
// ---------------------------------------------------------------------------------------

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// A load point as the analysis states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub load: f64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub error_ratio: f64,
}

impl Point {
    /// A `stages[]` entry.
    fn of_stage(s: &Value) -> Point {
        Point {
            label: format!(
                "{} ({})",
                s["label"].as_str().unwrap_or("?"),
                short_id(s["run_id"].as_str().unwrap_or("?"))
            ),
            load: num(&s["load"], "stage load"),
            rps: num(&s["total"]["rps"], "stage rps"),
            p95_ms: s["worst_p95_ms"].as_f64(),
            mean_ms: s["total"]["mean_ms"].as_f64(),
            error_ratio: s["total"]["error_ratio"].as_f64().unwrap_or(0.0),
        }
    }

    /// A knee's stage point ({index, label, load, rps, …}).
    fn of_knee(p: &Value) -> Point {
        Point {
            label: p["label"].as_str().unwrap_or("?").to_owned(),
            load: num(&p["load"], "knee point load"),
            rps: num(&p["rps"], "knee point rps"),
            p95_ms: p["p95_ms"].as_f64(),
            mean_ms: None,
            error_ratio: p["error_ratio"].as_f64().unwrap_or(0.0),
        }
    }
}

/// The load points of the capacity curve (the load kind most points have), by load.
pub fn curve(analysis: &Value) -> Vec<Point> {
    let kind = analysis["capacity"]["load_kind"]
        .as_str()
        .unwrap_or("users");
    let mut points: Vec<Point> = analysis["stages"]
        .as_array()
        .expect("stages[]")
        .iter()
        .filter(|s| s["load_kind"].as_str() == Some(kind))
        .map(Point::of_stage)
        .filter(|p| p.load > 0.0)
        .collect();
    points.sort_by(|a, b| a.load.total_cmp(&b.load));
    points
}

/// The knee's verdict: the last point within the SLO, the first breach, and the capacity
/// claim (the point within the SLO with the highest throughput).
#[derive(Debug, Clone)]
pub struct Knee {
    pub kind: String,
    pub last_within: Option<Point>,
    pub first_breach: Option<Point>,
    pub best: Option<Point>,
}

pub fn knee(analysis: &Value) -> Knee {
    let knee = &analysis["capacity"]["knee"];
    assert!(knee.is_object(), "no knee: {}", analysis["capacity"]);
    let outcome = &knee["outcome"];
    let last_within = [&outcome["last_within_slo"], &outcome["last_stage"]]
        .into_iter()
        .find(|p| p.is_object())
        .map(Point::of_knee);
    let first_breach = outcome["first_breach"]["stage"]
        .is_object()
        .then(|| Point::of_knee(&outcome["first_breach"]["stage"]));
    Knee {
        kind: outcome["kind"].as_str().unwrap_or("?").to_owned(),
        last_within,
        first_breach,
        best: best_within_slo(analysis),
    }
}

/// The capacity claim: `capacity.knee.best_within_slo` ({index, label, load, rps, p95_ms,
/// error_ratio, samples}), the single load point within the SLO with the highest
/// throughput.
pub fn best_within_slo(analysis: &Value) -> Option<Point> {
    let best = &analysis["capacity"]["knee"]["best_within_slo"];
    best.is_object().then(|| Point::of_knee(best))
}

// ---------------------------------------------------------------------------------------
// Checks: a recovered figure against the truth, with its tolerance.
// ---------------------------------------------------------------------------------------

/// One quantity recovered by the analysis against what theory says.
#[derive(Debug, Clone)]
pub struct Check {
    pub quantity: String,
    pub truth: String,
    pub recovered: String,
    pub tolerance: String,
    pub pass: bool,
}

impl Check {
    /// `recovered` within [lo, hi].
    fn within(quantity: &str, truth: &str, recovered: f64, lo: f64, hi: f64, unit: &str) -> Check {
        Check {
            quantity: quantity.into(),
            truth: truth.into(),
            recovered: format!("{recovered:.2}{unit}"),
            tolerance: format!("[{lo:.2}, {hi:.2}]{unit}"),
            pass: recovered.is_finite() && recovered >= lo && recovered <= hi,
        }
    }

    fn holds(quantity: &str, truth: &str, recovered: String, tolerance: &str, pass: bool) -> Check {
        Check {
            quantity: quantity.into(),
            truth: truth.into(),
            recovered,
            tolerance: tolerance.into(),
            pass,
        }
    }
}

/// The checks as a table, one per line.
pub fn table(title: &str, checks: &[Check]) -> String {
    let mut out = format!("{title}\n");
    for c in checks {
        out.push_str(&format!(
            "  {:<4} {:<44} truth {:<22} recovered {:<22} tolerance {}\n",
            if c.pass { "ok" } else { "FAIL" },
            c.quantity,
            c.truth,
            c.recovered,
            c.tolerance
        ));
    }
    out
}

/// Panics naming every failed check.
pub fn assert_checks(title: &str, checks: &[Check], context: &str) {
    let text = table(title, checks);
    println!("{text}");
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.quantity.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{title}: {failed:?} off the truth\n{text}\n{context}"
    );
}

/// How far a closed ramp's figures may be from the truth. See [`CI_CLOSED_TOLERANCE`].
#[derive(Debug, Clone, Copy)]
pub struct ClosedTolerance {
    /// The plateau (the hold's throughput, N > c) below μ, as a fraction of μ: the timer's
    /// rounding and the generator's time per request.
    pub plateau_below: f64,
    /// Any point above μ, as a fraction (windows cut at whole seconds count a request or
    /// two more or less).
    pub above: f64,
    /// Little's law: |N − X·R| / N at every closed point with N ≥ `little_from_users`, the
    /// analysis's own tolerance (`LITTLE_TOLERANCE`).
    pub little: f64,
    pub little_from_users: f64,
    /// The USL's plateau (its peak, or λ/σ without one) against μ, a fraction either way.
    pub usl_plateau: f64,
}

/// Chosen from five runs of the CI ramp on the 2-core development machine (debug build,
/// 2026-12-04, load average 1.3–6 from other builds): the hold at 12 users did 38.6–39.4/s
/// (−1.5 to −3.5 % of μ; 4 slots of 40 ms on a machine busy compiling lost 7–9 %), the best
/// point within the SLO 40.0–40.5/s (a 4 s slice counts a request or two more or less), the
/// USL plateau 40.2–40.5/s (σ 0.27–0.41, κ 0.010–0.012); the first breach was at 7.61–7.90
/// users and the last point within at 6.44–6.73 (windows 7.41–9.67 and 6.24–8.5); the hold
/// met Little's law to 1 %, the ramp's slices below 3 users missed it by 22–30 % (the
/// defect in `closed_ramp_obeys_littles_law`).
pub const CI_CLOSED_TOLERANCE: ClosedTolerance = ClosedTolerance {
    plateau_below: 0.06,
    above: 0.03,
    little: 0.10,
    little_from_users: 1.0,
    usl_plateau: 0.10,
};

/// The closed ramp's figures against the truth.
pub fn closed_checks(case: &ClosedRamp, tol: &ClosedTolerance, analysis: &Value) -> Vec<Check> {
    let sys = case.system;
    let mu = sys.capacity();
    let slo = case.slo_p95_ms;
    let points = curve(analysis);
    let knee = knee(analysis);
    let mut checks = Vec::new();

    // Throughput: the hold (N > c) runs at μ; no point runs above it.
    let hold = points
        .iter()
        .rev()
        .find(|p| (p.load - f64::from(case.users)).abs() < 1e-9 && !p.label.contains("ramp"));
    checks.push(match hold {
        Some(h) => Check::within(
            &format!("plateau X at the hold of {} users", case.users),
            &format!("c/S = {mu:.1}/s"),
            h.rps,
            mu * (1.0 - tol.plateau_below),
            mu * (1.0 + tol.above),
            "/s",
        ),
        None => Check::holds(
            "plateau X at the hold",
            &format!("{mu:.1}/s"),
            "no hold point".into(),
            "-",
            false,
        ),
    });
    let top = points.iter().map(|p| p.rps).fold(0.0, f64::max);
    checks.push(Check::within(
        "highest X of any point",
        &format!("≤ c/S = {mu:.1}/s"),
        top,
        0.0,
        mu * (1.0 + tol.above),
        "/s",
    ));

    // The knee.
    let (held, broke) = case.knee_users();
    let w = case.slice_users();
    checks.push(Check::holds(
        "knee outcome",
        "knee (within, then breach)",
        knee.kind.clone(),
        "= knee",
        knee.kind == "knee",
    ));
    // See the module documentation: the population crosses from the users that surely hold
    // to those that surely break at a load between `held` and `broke − ½`; the slice that
    // holds the crossing (or the next) is the first breach.
    match &knee.first_breach {
        Some(p) => checks.push(Check::within(
            "first load over SLO (users)",
            &format!("{held:.0} hold, {broke:.0} break"),
            p.load,
            held - w / 2.0,
            broke - 0.5 + w,
            "",
        )),
        None => checks.push(Check::holds(
            "first load over SLO",
            &format!("{broke}"),
            "none".into(),
            "-",
            false,
        )),
    }
    match &knee.last_within {
        Some(p) => checks.push(Check::within(
            "last load within SLO (users)",
            &format!("{held:.0} hold, {broke:.0} break"),
            p.load,
            held - 1.5 * w,
            broke - 0.5,
            "",
        )),
        None => checks.push(Check::holds(
            "last load within SLO",
            &format!("{held}"),
            "none".into(),
            "-",
            false,
        )),
    }

    // And the knee is where the curve itself crosses: the last point within is the one
    // before the first breach, within the SLO by its own p95, the breach over it.
    // (Points with too few requests for a p95 are not judged; they are left out here too.)
    let judged: Vec<&Point> = points.iter().filter(|p| p.p95_ms.is_some()).collect();
    let at = |p: &Option<Point>| {
        p.as_ref()
            .and_then(|p| judged.iter().position(|q| (q.load - p.load).abs() < 1e-9))
    };
    let (last_at, breach_at) = (at(&knee.last_within), at(&knee.first_breach));
    let p95_of = |i: Option<usize>| i.and_then(|i| judged[i].p95_ms).unwrap_or(f64::NAN);
    checks.push(Check::holds(
        "knee: adjacent points, within then over",
        "last within ≤ SLO < first breach, next to each other",
        format!(
            "points {last_at:?} and {breach_at:?}: p95 {:.1} and {:.1} ms",
            p95_of(last_at),
            p95_of(breach_at)
        ),
        "adjacent, on either side of the SLO",
        matches!((last_at, breach_at), (Some(l), Some(b)) if b == l + 1)
            && p95_of(last_at) <= slo
            && p95_of(breach_at) > slo,
    ));

    // The capacity claim: one point, whose figures are its own.
    match &knee.best {
        Some(best) => {
            checks.push(Check::within(
                "best within SLO: X",
                &format!("c/S = {mu:.1}/s"),
                best.rps,
                mu * (1.0 - tol.plateau_below),
                mu * (1.0 + tol.above),
                "/s",
            ));
            checks.push(Check::within(
                "best within SLO: load (users)",
                &format!("c..{held:.0} (X = c/S there)"),
                best.load,
                sys.slots as f64 - w,
                broke,
                "",
            ));
            let own = points
                .iter()
                .find(|p| (p.load - best.load).abs() < 1e-9 && (p.rps - best.rps).abs() < 1e-9);
            checks.push(Check::holds(
                "best within SLO: one point's load, X and p95",
                "a point of stages[] with the same load, X, p95",
                own.map_or("no such point".into(), |p| p.label.clone()),
                "same point",
                own.is_some_and(|p| best.p95_ms.is_none_or(|b| p.p95_ms == Some(b))),
            ));
            checks.push(Check::within(
                "best within SLO: p95",
                &format!("≤ SLO {slo} ms"),
                best.p95_ms
                    .or(own.and_then(|p| p.p95_ms))
                    .unwrap_or(f64::NAN),
                0.0,
                slo,
                " ms",
            ));
        }
        None => checks.push(Check::holds(
            "best within SLO",
            &format!("{mu:.1}/s"),
            "none".into(),
            "-",
            false,
        )),
    }

    // Little's law: N = X·R at every closed point with enough users.
    let mut worst: Option<(f64, String)> = None;
    let mut judged = 0;
    for l in analysis["little"].as_array().expect("little[]") {
        if l["model"] != "closed" {
            continue;
        }
        let measured = num(&l["check"]["measured_users"], "measured_users");
        if measured < tol.little_from_users {
            continue;
        }
        judged += 1;
        let d = num(&l["check"]["relative_discrepancy"], "relative_discrepancy");
        if worst.as_ref().is_none_or(|(w, _)| d.abs() > w.abs()) {
            worst = Some((d, format!("{} (N {measured:.1})", l["label"])));
        }
    }
    checks.push(Check::holds(
        &format!("Little: |N − X·R|/N, N ≥ {}", tol.little_from_users),
        "0",
        worst
            .as_ref()
            .map_or("no point".into(), |(d, at)| format!("{:+.3} at {at}", d)),
        &format!("≤ {} over {judged} points", tol.little),
        judged >= 5 && worst.as_ref().is_some_and(|(d, _)| d.abs() <= tol.little),
    ));

    // The USL: contention, a plateau near μ, λ near 1/S.
    let fit = &analysis["usl"]["fit"];
    if fit.is_object() {
        let sigma = num(&fit["sigma"], "sigma");
        let kappa = num(&fit["kappa"], "kappa");
        let lambda = num(&fit["lambda"], "lambda");
        checks.push(Check::holds(
            "USL contention σ",
            "> 0 (requests queue for c slots)",
            format!("σ {sigma:.4}, κ {kappa:.5}, λ {lambda:.1}"),
            "σ > 0, σ > κ",
            sigma > 0.0 && sigma > kappa,
        ));
        let plateau = match fit["max_throughput"].as_f64() {
            Some(peak) => peak,
            None => lambda / sigma,
        };
        checks.push(Check::within(
            "USL plateau (peak, or λ/σ without one)",
            &format!("c/S = {mu:.1}/s"),
            plateau,
            mu * (1.0 - tol.usl_plateau),
            mu * (1.0 + tol.usl_plateau),
            "/s",
        ));
    } else {
        checks.push(Check::holds(
            "USL fit",
            "a fit",
            analysis["usl"].to_string(),
            "-",
            false,
        ));
    }
    checks
}

/// How far a search's figures may be from the truth.
#[derive(Debug, Clone, Copy)]
pub struct SearchTolerance {
    /// The best point's throughput against its level, a fraction either way.
    pub rate: f64,
    /// Any point within the SLO above μ, a fraction.
    pub above: f64,
}

/// Chosen from five runs of the CI search on the 2-core development machine (debug build,
/// 2026-12-04): every run found 32/s the best level within the SLO, at exactly 32.00/s
/// (p95 103–134 ms against 220), and broke at 48 (p95 1.25–1.39 s).
pub const CI_SEARCH_TOLERANCE: SearchTolerance = SearchTolerance {
    rate: 0.03,
    above: 0.02,
};

/// The search's figures against the truth.
pub fn search_checks(case: &OpenSearch, tol: &SearchTolerance, analysis: &Value) -> Vec<Check> {
    let mu = case.system.capacity();
    let slo = case.slo_p95_ms;
    let (below, above) = case.expected_levels();
    let below = below.expect("the search starts below μ");
    let knee = knee(analysis);
    let points = curve(analysis);
    let mut checks = Vec::new();
    checks.push(Check::holds(
        "knee outcome",
        "knee (within, then breach)",
        knee.kind.clone(),
        "= knee",
        knee.kind == "knee",
    ));
    // The levels the search ran: one run each, read from the runs' stages (a hold with too
    // few requests for a p95 is left out of the curve, not out of the runs).
    let mut levels: Vec<f64> = analysis["runs"]
        .as_array()
        .expect("runs[]")
        .iter()
        .flat_map(|r| r["stages"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["ramp"] == false)
        .filter_map(|s| s["level"].as_f64())
        .collect();
    levels.sort_by(f64::total_cmp);
    let expected: Vec<f64> = {
        let last = above.unwrap_or(case.max);
        let mut v = vec![case.start];
        while v[v.len() - 1] + case.step <= last + 1e-9 {
            v.push(v[v.len() - 1] + case.step);
        }
        v
    };
    checks.push(Check::holds(
        "levels run",
        &format!("{expected:?}: stop at the first breach"),
        format!("{levels:?}"),
        "the same",
        levels.len() == expected.len()
            && levels
                .iter()
                .zip(&expected)
                .all(|(a, b)| (a - b).abs() < 1e-6),
    ));
    match &knee.best {
        Some(best) => {
            checks.push(Check::within(
                "max rate within SLO (offered)",
                &format!("the last level below μ = {mu:.1}: {below}"),
                best.load,
                below - 1e-9,
                below + 1e-9,
                "/s",
            ));
            checks.push(Check::within(
                "max rate within SLO against μ",
                &format!("μ − step ≤ it < μ = {mu:.1}"),
                best.load,
                mu - case.step,
                mu,
                "/s",
            ));
            checks.push(Check::within(
                "best within SLO: X",
                &format!("= its level {below}/s (no queue below μ)"),
                best.rps,
                below * (1.0 - tol.rate),
                (below * (1.0 + tol.rate)).min(mu * (1.0 + tol.above)),
                "/s",
            ));
            let p95 = best
                .p95_ms
                .or_else(|| {
                    points
                        .iter()
                        .find(|p| p.load == best.load && p.rps == best.rps)
                        .and_then(|p| p.p95_ms)
                })
                .unwrap_or(f64::NAN);
            checks.push(Check::within(
                "best within SLO: p95",
                &format!("S + δ = {:.0}+ ms", case.system.service_ms()),
                p95,
                case.system.service_ms(),
                slo,
                " ms",
            ));
        }
        None => checks.push(Check::holds(
            "best within SLO",
            &format!("{below}"),
            "none".into(),
            "-",
            false,
        )),
    }
    match (&knee.first_breach, above) {
        (Some(b), Some(level)) => checks.push(Check::within(
            "first breach (offered)",
            &format!("the first level above μ: {level}"),
            b.load,
            level - 1e-9,
            level + 1e-9,
            "/s",
        )),
        (b, level) => checks.push(Check::holds(
            "first breach",
            &format!("{level:?}"),
            format!("{:?}", b.as_ref().map(|p| p.load)),
            "-",
            false,
        )),
    }
    let over = points
        .iter()
        .filter(|p| p.p95_ms.is_some_and(|v| v <= slo))
        .map(|p| p.rps)
        .fold(0.0, f64::max);
    checks.push(Check::within(
        "highest X within SLO of any point",
        &format!("≤ μ = {mu:.1}/s"),
        over,
        0.0,
        mu * (1.0 + tol.above),
        "/s",
    ));
    // The rate of every point is completed requests per second (the model's own
    // definition), which c slots cannot raise above μ, however many arrive.
    let (top, at) = points
        .iter()
        .map(|p| (p.rps, p.label.clone()))
        .fold((0.0, String::new()), |m, p| if p.0 > m.0 { p } else { m });
    checks.push(Check::holds(
        "throughput X of any point, overloaded included",
        &format!("≤ μ = {mu:.1}/s"),
        format!("{top:.2}/s at {at}"),
        &format!("≤ {:.2}/s", mu * (1.0 + tol.above)),
        top <= mu * (1.0 + tol.above),
    ));
    checks
}

// ---------------------------------------------------------------------------------------
// A simulated worker cell: c slots, each task busy for exactly S.
// ---------------------------------------------------------------------------------------

/// A saturation staircase against c slots of a fixed service time.
#[derive(Debug, Clone)]
pub struct WorkerStaircase {
    pub slots: u32,
    pub service_s: f64,
    /// Arrivals per minute, one per step.
    pub rates_per_minute: Vec<f64>,
    pub step: Duration,
    pub size_bytes: u64,
    /// The simulated run's start (fixed, so the run directory is the same every time).
    pub started: OffsetDateTime,
}

impl WorkerStaircase {
    /// μ = 60·c/S tasks per minute.
    pub fn capacity_per_minute(&self) -> f64 {
        60.0 * f64::from(self.slots) / self.service_s
    }

    pub fn injection(&self) -> Injection {
        Injection::Staircase {
            rates: self.rates_per_minute.clone(),
            step: self.step,
        }
    }

    /// The tasks and the queue samples of the run, as `scenario2::drive` would have logged
    /// them against such a worker: every 250 ms the injection says how many tasks are due,
    /// each second the queue is sampled (what was just queued counts as visible).
    pub fn simulate(&self) -> (DriveLog, Vec<TasksRow>) {
        let injection = self.injection();
        let service_ms = (self.service_s * 1000.0).round() as i64;
        let start_ms = (self.started.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut free_at = vec![0i64; self.slots as usize];
        // (enqueued, started, finished), ms since the start.
        let mut tasks: Vec<(i64, i64, i64)> = Vec::new();
        let mut log = DriveLog::default();
        let mut next_sample = 0i64;
        let mut t = 0i64;
        loop {
            let elapsed = Duration::from_millis(t as u64);
            let visible = tasks.iter().filter(|k| k.1 > t).count() as u64;
            let in_flight = tasks.iter().filter(|k| k.1 <= t && k.2 > t).count() as u64;
            let due = injection.due(elapsed, tasks.len() as u64, visible + in_flight);
            for _ in 0..due {
                let slot = (0..free_at.len())
                    .min_by_key(|&i| free_at[i])
                    .expect("at least one slot");
                let begin = free_at[slot].max(t);
                free_at[slot] = begin + service_ms;
                tasks.push((t, begin, begin + service_ms));
                log.queued.push(QueuedTask {
                    task_id: format!("task-{:05}", tasks.len()),
                    video_id: 1,
                    enqueued_at: start_ms + t,
                    bytes: self.size_bytes,
                });
            }
            let injecting = !injection.is_done(elapsed, tasks.len() as u64);
            if t >= next_sample {
                log.samples.push(QueueSample {
                    t: t as f64 / 1000.0,
                    at: self.started + Duration::from_millis(t as u64),
                    visible: visible + due,
                    in_flight,
                    enqueued: tasks.len() as u64,
                    step: injection.step_at(elapsed),
                    injecting,
                });
                next_sample += 1000;
            }
            if !injecting && visible + in_flight == 0 && due == 0 {
                log.drained = true;
                break;
            }
            t += 250;
        }
        let rows = log
            .queued
            .iter()
            .zip(&tasks)
            .map(|(queued, &(_, begin, end))| {
                let run = TaskRun {
                    task_id: queued.task_id.clone(),
                    video_id: queued.video_id,
                    worker: "worker-1".into(),
                    receive_count: 1,
                    enqueued_at: queued.enqueued_at,
                    started_at: start_ms + begin,
                    finished_at: Some(start_ms + end),
                    outcome: Some(TaskOutcome::Processed),
                };
                TasksRow::from_runs(queued, &[&run])
            })
            .collect();
        (log, rows)
    }

    /// Writes the cell's run directory under `root` as `loadgen run scenario2 --mode
    /// saturation` would (manifest, tasks.csv, queue.csv, latency.hlog, summary.json with
    /// the figures of those files); returns its id.
    pub fn write_run(&self, root: &Path) -> RunId {
        let (log, rows) = self.simulate();
        let cell = Cell {
            size_bytes: self.size_bytes,
            concurrency: self.slots,
            mode: Mode::Saturation,
        };
        let id = RunId::parse(&format!(
            "{}-{}",
            run_stamp(self.started, "scenario2"),
            cell.label()
        ))
        .expect("a valid id");
        let dir = RunDir::create(root, &id).expect("a run directory");
        let ended = rows
            .iter()
            .filter_map(|r| r.finished_at)
            .max()
            .unwrap_or(self.started);
        let ended = ended.max(self.started + self.step * self.rates_per_minute.len() as u32);
        let step_ms = self.step.as_millis() as u64;
        let manifest = Manifest {
            format_version: rundir::FORMAT_VERSION,
            run_id: id.clone(),
            scenario: "scenario2".into(),
            profile: "saturation".into(),
            load_model: LoadModel::Open {
                max_rate_per_sec: self.rates_per_minute.iter().cloned().fold(0.0, f64::max) / 60.0,
                max_in_flight: u32::MAX,
            },
            target: synthetic_target(),
            started_at: self.started,
            ended_at: Some(ended),
            time_scale: 1.0,
            stages: self
                .rates_per_minute
                .iter()
                .enumerate()
                .map(|(k, rate)| Stage {
                    name: format!("step{}", k + 1),
                    start_offset_ms: step_ms * k as u64,
                    duration_ms: step_ms,
                    users: None,
                    rate_per_sec: Some(rate / 60.0),
                    ramp: false,
                })
                .collect(),
            thresholds: Vec::new(),
            tool: synthetic_tool(),
            host: synthetic_host(),
            workload: rundir::Workload {
                upload_bytes: Some(self.size_bytes),
                worker_pool: Some(rundir::WorkerPool {
                    instances: 1,
                    concurrency: self.slots,
                }),
                ..rundir::Workload::default()
            },
            command_line: vec!["(simulated by loadgen/tests/it/truth.rs)".into()],
            shard: None,
        };
        dir.write_manifest(&manifest).expect("manifest.json");
        rundir::write_tasks(
            std::fs::File::create(dir.tasks_path()).expect("tasks.csv"),
            &rows,
        )
        .expect("tasks.csv");
        // queue.csv, latency.hlog's task_wait and task_service, and the figures from the
        // files, as loadgen writes and computes them.
        loadgen::scenario2::write_queue_csv(
            &dir.path().join(rundir::QUEUE_FILE),
            &log.samples,
            &rows,
        )
        .expect("queue.csv");
        loadgen::scenario2::write_task_histograms(&dir, SystemTime::from(self.started), &rows)
            .expect("latency.hlog");
        let worker = loadgen::scenario2::figures_of(&dir).expect("the worker's figures");
        let duration = ended - self.started;
        dir.write_summary(&Summary {
            format_version: rundir::FORMAT_VERSION,
            run_id: id.clone(),
            duration_ms: duration.whole_milliseconds() as u64,
            interrupted: false,
            interruption: None,
            model_note: None,
            endpoints: Vec::new(),
            total: capacity_model::worker::tasks_total(&rows, duration),
            skipped: Vec::new(),
            thresholds: Vec::new(),
            passed: true,
            worker: Some(worker),
        })
        .expect("summary.json");
        id
    }
}

fn synthetic_target() -> rundir::Target {
    rundir::Target {
        url: "http://127.0.0.1:9".into(),
        stack: StackKind::External,
    }
}

fn synthetic_tool() -> ToolVersions {
    ToolVersions {
        aforo: "truth".into(),
        goose: "-".into(),
        hdrhistogram: "7".into(),
    }
}

fn synthetic_host() -> HostInfo {
    HostInfo {
        cores: 2,
        os: "linux".into(),
        hostname: "truth".into(),
    }
}

/// A run id with a fixed suffix (`RunId::generate` adds a random one).
fn run_stamp(at: OffsetDateTime, scenario: &str) -> String {
    let generated = RunId::generate(at, scenario);
    let text = generated.as_str();
    format!("{}-0000", &text[..text.len() - 5])
}

/// The worker cell's figures against the truth.
pub fn worker_checks(case: &WorkerStaircase, analysis: &Value) -> Vec<Check> {
    let mu = case.capacity_per_minute();
    let cells = analysis["workers"].as_array().expect("workers[]");
    let mut checks = Vec::new();
    let Some(cell) = cells.first() else {
        return vec![Check::holds(
            "worker cell",
            "one",
            "none".into(),
            "-",
            false,
        )];
    };
    let below = case
        .rates_per_minute
        .iter()
        .copied()
        .filter(|r| *r < mu)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let above = case.rates_per_minute.iter().copied().find(|r| *r > mu);
    let saturated = cell["saturated_at_per_minute"].as_f64();
    let stable = cell["max_stable_per_minute"].as_f64();
    checks.push(Check::holds(
        "saturation arrival rate (first growing step)",
        &format!("first step above μ = {mu:.2}/min: {above:?}"),
        format!("{saturated:?}"),
        "that step",
        saturated == above,
    ));
    checks.push(Check::holds(
        "max stable arrival rate",
        &format!("last step below μ: {below:?}"),
        format!("{stable:?}"),
        "that step",
        stable == below,
    ));
    checks.push(Check::holds(
        "μ between stable and saturated",
        &format!("{mu:.2}/min"),
        format!("({stable:?}, {saturated:?}]"),
        "stable < μ ≤ saturated",
        stable.is_some_and(|s| s < mu) && saturated.is_some_and(|s| s >= mu),
    ));
    // The cell's measured throughput: the most it completed per minute in any step (at
    // saturation, μ). Not its mean X over the whole staircase, which the idle time of the
    // low steps pulls below what the stable steps themselves complete.
    let measured = cell["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            s.get("completed_per_minute")
                .or(s.get(1))
                .and_then(Value::as_f64)
        })
        .fold(0.0, f64::max);
    checks.push(Check::holds(
        "a stable rate never exceeds measured X",
        "max stable ≤ the most completed per minute",
        format!("{stable:?} vs {measured:.2}/min"),
        "≤",
        stable.is_none_or(|s| s <= measured + 1e-9),
    ));
    let service = num(&cell["service_mean_s"], "service_mean_s");
    checks.push(Check::within(
        "service time S",
        &format!("{} s", case.service_s),
        service,
        case.service_s * 0.999,
        case.service_s * 1.001,
        " s",
    ));
    // A step completes what arrived S earlier: min(rate, μ) over its length, less S of it
    // at the previous step's min(rate, μ) (0 before the first); a task more or less at each
    // end.
    let per_step = 60.0 / case.step.as_secs_f64();
    let lag = case.service_s / case.step.as_secs_f64();
    let mut previous = 0.0;
    for step in cell["steps"].as_array().into_iter().flatten() {
        let rate = step
            .get("rate_per_minute")
            .or(step.get(0))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN);
        let done = step
            .get("completed_per_minute")
            .or(step.get(1))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN);
        let truth = rate.min(mu) * (1.0 - lag) + previous * lag;
        previous = rate.min(mu);
        checks.push(Check::within(
            &format!("step at {rate:.2}/min: completed"),
            &format!("min(rate, μ), S late = {truth:.2}/min"),
            done,
            truth - 2.0 * per_step,
            truth + 2.0 * per_step,
            "/min",
        ));
    }
    let little = analysis["little"]
        .as_array()
        .expect("little[]")
        .iter()
        .find(|l| l["model"] == "workers");
    checks.push(Check::holds(
        "Little's law in the cell",
        "L = X·(W + S)",
        little.map_or("none".into(), |l| {
            format!(
                "{:+.3}",
                l["check"]["relative_discrepancy"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            )
        }),
        "holds (10 %)",
        little.is_some_and(|l| l["holds"] == true),
    ));
    checks
}

// ---------------------------------------------------------------------------------------
// A synthetic closed ramp of the same system, for the golden file.
// ---------------------------------------------------------------------------------------

/// A closed ramp 0 → `users` over `ramp_s` and a hold of `hold_s` against `system`, made
/// from theory second by second (users at the second's midpoint, X = min(N, c)/S, R in
/// {⌊N/c⌋·S, ⌈N/c⌉·S} with mean N·S/c), with the web group's CPU at the slots' utilisation.
pub fn write_synthetic_ramp(
    root: &Path,
    system: Slots,
    users: u32,
    ramp_s: u32,
    hold_s: u32,
    started: OffsetDateTime,
) -> RunId {
    let id = RunId::parse(&run_stamp(started, "get")).unwrap();
    let dir = RunDir::create(root, &id).unwrap();
    let total_s = ramp_s + hold_s;
    let ended = started + Duration::from_secs(u64::from(total_s));
    let manifest = Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: id.clone(),
        scenario: "get".into(),
        profile: "ramp".into(),
        load_model: LoadModel::Closed { max_users: users },
        target: synthetic_target(),
        started_at: started,
        ended_at: Some(ended),
        time_scale: f64::from(ramp_s) / 180.0,
        stages: vec![
            Stage {
                name: format!("ramp to {users}"),
                start_offset_ms: 0,
                duration_ms: u64::from(ramp_s) * 1000,
                users: Some(users),
                rate_per_sec: None,
                ramp: true,
            },
            Stage {
                name: format!("hold {users}"),
                start_offset_ms: u64::from(ramp_s) * 1000,
                duration_ms: u64::from(hold_s) * 1000,
                users: Some(users),
                rate_per_sec: None,
                ramp: false,
            },
        ],
        thresholds: Vec::new(),
        tool: synthetic_tool(),
        host: synthetic_host(),
        workload: rundir::Workload::default(),
        command_line: vec!["(synthesised by loadgen/tests/it/truth.rs)".into()],
        shard: None,
    };
    dir.write_manifest(&manifest).unwrap();
    let start = SystemTime::from(started);
    let mut log = LatencyLogWriter::new(
        std::io::BufWriter::new(std::fs::File::create(dir.latency_log_path()).unwrap()),
        start,
    )
    .unwrap();
    let mut requests = RequestsWriter::new(std::io::BufWriter::new(
        std::fs::File::create(dir.requests_path()).unwrap(),
    ))
    .unwrap();
    let mut metrics = MetricsWriter::new(std::io::BufWriter::new(
        std::fs::File::create(dir.metrics_path()).unwrap(),
    ))
    .unwrap();
    let mut all = Histogram::<u64>::new(3).unwrap();
    let s_us = system.service.as_micros() as u64;
    let c = system.slots as f64;
    for second in 0..total_s {
        // The users running as Goose starts them, one every ramp_s / users seconds from
        // the ramp's start (⌊t·N/T⌋ + 1), averaged over the second.
        let n = (0..20)
            .map(|i| {
                let t = f64::from(second) + (f64::from(i) + 0.5) / 20.0;
                ((t * f64::from(users) / f64::from(ramp_s)).floor() + 1.0).min(f64::from(users))
            })
            .sum::<f64>()
            / 20.0;
        let x = system.closed_throughput(n);
        let count = x.round() as u64;
        let mut h = Histogram::<u64>::new(3).unwrap();
        if n <= c {
            h.record_n(s_us, count).unwrap();
        } else {
            // A share f = N/c − ⌊N/c⌋ at ⌈N/c⌉·S, the rest at ⌊N/c⌋·S: mean N·S/c.
            let q = (n / c).floor();
            let f = n / c - q;
            let high = (count as f64 * f).round() as u64;
            h.record_n((q as u64 + 1) * s_us, high).unwrap();
            h.record_n(q as u64 * s_us, count - high).unwrap();
        }
        all.add(&h).unwrap();
        let at = start + Duration::from_secs(u64::from(second));
        log.write_interval("get", at, Duration::from_secs(1), &h)
            .unwrap();
        let at = started + Duration::from_secs(u64::from(second));
        requests
            .write_row(&RequestsRow::new(
                at,
                "get".into(),
                RequestCounts {
                    requests: count,
                    successes: count,
                    bytes_sent: count * 40,
                    bytes_received: count * 80,
                    responses: Some(count),
                    ..RequestCounts::default()
                },
            ))
            .unwrap();
        let web = vec![("AutoScalingGroupName".to_string(), "web".to_string())];
        let row = |namespace: &str,
                   metric: &str,
                   dimensions: Vec<(String, String)>,
                   value,
                   unit: &str| MetricRow {
            timestamp: at,
            namespace: namespace.into(),
            metric: metric.into(),
            dimensions,
            statistic: "Average".into(),
            value,
            unit: unit.into(),
        };
        for r in [
            row(
                "AWS/EC2",
                "CPUUtilization",
                web.clone(),
                100.0 * n.min(c) / c,
                "Percent",
            ),
            row(
                "AWS/AutoScaling",
                "GroupInServiceInstances",
                web,
                1.0,
                "None",
            ),
            row(
                "AWS/ApplicationELB",
                "HealthyHostCount",
                vec![
                    ("TargetGroup".into(), "targetgroup/web/1".into()),
                    ("LoadBalancer".into(), "app/truth/1".into()),
                ],
                1.0,
                "Count",
            ),
        ] {
            metrics.write_row(&r).unwrap();
        }
    }
    log.flush().unwrap();
    requests.flush().unwrap();
    metrics.flush().unwrap();
    let figures = EndpointSummary {
        name: "get".into(),
        requests: all.len(),
        successes: all.len(),
        errors: 0,
        error_rate: 0.0,
        rps: all.len() as f64 / f64::from(total_s),
        bytes_sent: all.len() * 40,
        bytes_received: all.len() * 80,
        latency_us: LatencySummary::of(&all),
    };
    dir.write_summary(&Summary {
        format_version: rundir::FORMAT_VERSION,
        run_id: id.clone(),
        duration_ms: u64::from(total_s) * 1000,
        interrupted: false,
        interruption: None,
        model_note: Some(
            "closed model: latency is measured from when each request was sent".into(),
        ),
        endpoints: vec![figures.clone()],
        total: EndpointSummary {
            name: "all".into(),
            ..figures
        },
        skipped: Vec::new(),
        thresholds: Vec::new(),
        passed: true,
        worker: None,
    })
    .unwrap();
    id
}

/// `analyze --run ID… --slo-p95 SLO` over `root`; the analysis as JSON.
pub fn analyze_runs(tools: &Tools, root: &Path, ids: &[&RunId], slo_p95_ms: f64) -> Value {
    let out = root.join("analysis.json");
    let mut args = vec![
        "--runs-dir".to_string(),
        root.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--slo-p95".into(),
        format!("{slo_p95_ms}ms"),
    ];
    for id in ids {
        args.push("--run".into());
        args.push(id.as_str().to_owned());
    }
    let ran = run_measured(&tools.analyze, &args);
    assert_eq!(ran.code, Some(0), "{}", ran.text("analyze"));
    read_json(&out)
}

// ---------------------------------------------------------------------------------------
// The golden file's form: masked, rounded, one line per small object.
// ---------------------------------------------------------------------------------------

/// Masks what changes from build to build (the time of the analysis, the version) and the
/// temporary directory, and rounds every fractional number to 6 significant digits, so a
/// refactoring that moves the last bits of a float does not churn the file while any
/// change of a figure does.
pub fn golden_form(mut analysis: Value, root: &Path) -> String {
    analysis["generated_at"] = Value::String("<generated_at>".into());
    analysis["aforo"] = Value::String("<version>".into());
    round(&mut analysis);
    let mut out = String::new();
    pretty(&analysis, 0, &mut out);
    out.push('\n');
    out.replace(&root.display().to_string(), "<runs>")
}

/// Fractions to 6 significant digits, object keys in order.
fn round(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            let r: f64 = format!("{x:.5e}").parse().unwrap_or(x);
            if let Some(n) = serde_json::Number::from_f64(r) {
                *v = Value::Number(n);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round),
        // Keys sorted: serde_json keeps insertion order when another crate of the build
        // enables its `preserve_order` (cfn-guard does, in a workspace-wide build).
        Value::Object(map) => {
            let mut members: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, mut value) in members {
                round(&mut value);
                map.insert(key, value);
            }
        }
        _ => {}
    }
}

/// JSON with every object or array that fits in 180 columns on one line (a second of a
/// timeline, a load point's endpoint), the rest one member per line.
fn pretty(v: &Value, indent: usize, out: &mut String) {
    let line = inline(v);
    let container = v.is_object() || v.is_array();
    if !container || indent + line.chars().count() <= 180 {
        out.push_str(&line);
        return;
    }
    let pad = " ".repeat(indent + 2);
    let (open, close, members): (char, char, Vec<(Option<&String>, &Value)>) = match v {
        Value::Object(map) => ('{', '}', map.iter().map(|(k, v)| (Some(k), v)).collect()),
        Value::Array(items) => ('[', ']', items.iter().map(|v| (None, v)).collect()),
        _ => unreachable!("containers only"),
    };
    out.push(open);
    out.push('\n');
    let count = members.len();
    for (i, (key, value)) in members.into_iter().enumerate() {
        out.push_str(&pad);
        if let Some(key) = key {
            out.push_str(&Value::String(key.clone()).to_string());
            out.push_str(": ");
        }
        pretty(value, indent + 2, out);
        out.push_str(if i + 1 < count { ",\n" } else { "\n" });
    }
    out.push_str(&" ".repeat(indent));
    out.push(close);
}

/// One line, with a space after each colon and comma.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The first lines where two texts differ, for a readable failure.
pub fn first_differences(expected: &str, actual: &str, max: usize) -> String {
    let mut out = String::new();
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut shown = 0;
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            out.push_str(&format!(
                "line {}:\n  - {}\n  + {}\n",
                i + 1,
                x.unwrap_or("<end>"),
                y.unwrap_or("<end>")
            ));
            shown += 1;
            if shown >= max {
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tests (the bench, benches/truth.rs, runs the same cases longer).
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// A run several tests read, made once. A failed run fails every test that reads it,
    /// with its message, rather than being run again by each.
    fn shared(
        cell: &'static OnceLock<Result<Option<CaseRun>, String>>,
        make: impl FnOnce() -> Option<CaseRun>,
    ) -> Option<&'static CaseRun> {
        let made = cell.get_or_init(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(make)).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the run panicked".into())
            })
        });
        match made {
            Ok(run) => run.as_ref(),
            Err(why) => panic!("the shared run failed: {why}"),
        }
    }

    /// The closed ramp is run once and read by four tests.
    fn closed_run() -> Option<&'static CaseRun> {
        static RUN: OnceLock<Result<Option<CaseRun>, String>> = OnceLock::new();
        shared(&RUN, || {
            let tools = Tools::for_test("truth (closed ramp)")?;
            let _turn = crate::helpers::exclusive_blocking();
            let run = run_case(
                &tools,
                CI_CLOSED.system,
                &CI_CLOSED.loadgen_args(),
                CI_CLOSED.slo_p95_ms,
            );
            println!("closed ramp:\n{}", run.cpu_report());
            for p in curve(&run.analysis) {
                println!(
                    "  {:<32} N {:>5.2}  X {:>6.1}/s  mean {:>6.1} ms  p95 {:>6.1} ms  (theory X {:>5.1}, R {:>5.1})",
                    p.label,
                    p.load,
                    p.rps,
                    p.mean_ms.unwrap_or(f64::NAN),
                    p.p95_ms.unwrap_or(f64::NAN),
                    CI_CLOSED.system.closed_throughput(p.load),
                    CI_CLOSED.system.closed_response_ms(p.load)
                );
            }
            Some(run)
        })
    }

    fn closed_subset(quantities: &[&str]) {
        let Some(run) = closed_run() else { return };
        let checks: Vec<Check> = closed_checks(&CI_CLOSED, &CI_CLOSED_TOLERANCE, &run.analysis)
            .into_iter()
            .filter(|c| quantities.iter().any(|q| c.quantity.starts_with(q)))
            .collect();
        assert!(!checks.is_empty(), "no check named {quantities:?}");
        assert_checks(
            "closed ramp, c = 4 × S = 100 ms",
            &checks,
            &run.loadgen.stdout,
        );
    }

    #[test]
    fn closed_ramp_throughput_plateaus_at_c_over_s() {
        closed_subset(&["plateau X", "highest X", "best within SLO"]);
    }

    #[test]
    fn closed_ramp_knee_is_where_the_queue_passes_the_slo() {
        closed_subset(&[
            "knee outcome",
            "last load within",
            "first load over",
            "knee: adjacent",
        ]);
    }

    /// Regression: a ramp slice's load was the linear level at its midpoint, but Goose
    /// starts user k at (k − 1)·T/N, so ⌊t·N/T⌋ + 1 users run: X·R exceeded the load by
    /// half a user (+22 % at 2 users) on a perfect system. The analyzer now takes the time
    /// average of the users that ran.
    #[test]
    fn closed_ramp_obeys_littles_law() {
        closed_subset(&["Little"]);
    }

    #[test]
    fn closed_ramp_usl_fit_shows_contention_and_the_plateau() {
        closed_subset(&["USL"]);
    }

    /// The open search is run once and read by two tests.
    fn search_run() -> Option<&'static CaseRun> {
        static RUN: OnceLock<Result<Option<CaseRun>, String>> = OnceLock::new();
        shared(&RUN, || {
            let tools = Tools::for_test("truth (open search)")?;
            let _turn = crate::helpers::exclusive_blocking();
            let run = run_case(
                &tools,
                CI_SEARCH.system,
                &CI_SEARCH.loadgen_args(),
                CI_SEARCH.slo_p95_ms,
            );
            println!("open search:\n{}", run.cpu_report());
            for p in curve(&run.analysis) {
                println!(
                    "  {:<34} λ {:>6.1}  X {:>6.1}/s  p95 {:>8.1} ms",
                    p.label,
                    p.load,
                    p.rps,
                    p.p95_ms.unwrap_or(f64::NAN)
                );
            }
            Some(run)
        })
    }

    fn search_subset(keep: impl Fn(&Check) -> bool) {
        let Some(run) = search_run() else { return };
        let checks: Vec<Check> = search_checks(&CI_SEARCH, &CI_SEARCH_TOLERANCE, &run.analysis)
            .into_iter()
            .filter(|c| keep(c))
            .collect();
        assert!(!checks.is_empty(), "no such check");
        assert_checks(
            "open search, c = 4 × S = 100 ms",
            &checks,
            &run.loadgen.stdout,
        );
    }

    #[test]
    fn open_search_finds_the_highest_rate_below_c_over_s() {
        search_subset(|c| !c.quantity.starts_with("throughput X of any point"));
    }

    /// Regression (issue 15): since requests are counted in the second they were due, an
    /// overloaded open hold reported its offered rate as its throughput (48/s from a server
    /// that completes at most 40/s). Throughput now counts responses by arrival second.
    #[test]
    fn open_search_throughput_never_exceeds_c_over_s() {
        search_subset(|c| c.quantity.starts_with("throughput X of any point"));
    }

    /// The CI worker cell: 2 slots of 18 s (μ = 6.67 tasks/min, the order of the real
    /// worker's) under 0.55, 0.75, 0.95, 1.15 and 1.35 μ, 5 min a step: ~20–45 tasks a step.
    fn ci_staircase() -> WorkerStaircase {
        let mu = 60.0 * 2.0 / 18.0;
        WorkerStaircase {
            slots: 2,
            service_s: 18.0,
            rates_per_minute: [0.55, 0.75, 0.95, 1.15, 1.35]
                .iter()
                .map(|f| f * mu)
                .collect(),
            step: Duration::from_secs(300),
            size_bytes: 50_000_000,
            started: OffsetDateTime::from_unix_timestamp(1_798_761_600).unwrap(), // 2027-01-01
        }
    }

    /// A first version of defect 4's fix judged a step saturated when its rate exceeded the
    /// completions counted in it; completions trail arrivals by S (and by the previous,
    /// lower step's rate at each rise), so it called the first step, at 0.55·μ, saturated.
    /// This test is what showed it.
    #[test]
    fn worker_cell_saturates_at_c_over_s() {
        let Some(tools) = Tools::for_test("worker_cell_saturates_at_c_over_s") else {
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let case = ci_staircase();
        let id = case.write_run(root.path());
        let analysis = analyze_runs(&tools, root.path(), &[&id], 1000.0);
        let checks = worker_checks(&case, &analysis);
        assert_checks(
            "worker cell, c = 2 × S = 18 s",
            &checks,
            &serde_json::to_string_pretty(&analysis["workers"]).unwrap(),
        );
    }

    /// The golden analysis: a synthetic closed ramp of the CI system and a small worker
    /// staircase, fixed in time, analysed by the real `analyze`. Any change of a figure
    /// shows as a diff of `tests/data/truth/analysis.golden.json`; regenerate with
    /// `UPDATE_GOLDEN=1 cargo test -p loadgen --test it truth::tests::golden` and review it.
    #[test]
    fn golden_analysis() {
        let Some(tools) = Tools::for_test("golden_analysis") else {
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let started = OffsetDateTime::from_unix_timestamp(1_798_761_600).unwrap();
        let ramp = write_synthetic_ramp(
            root.path(),
            CI_CLOSED.system,
            CI_CLOSED.users,
            CI_CLOSED.ramp_s,
            CI_CLOSED.hold_s,
            started,
        );
        let cell = WorkerStaircase {
            slots: 1,
            service_s: 2.0,
            rates_per_minute: vec![15.0, 24.0, 36.0],
            step: Duration::from_secs(40),
            size_bytes: 1_000_000,
            started: started + Duration::from_secs(3600),
        };
        let worker = cell.write_run(root.path());
        let analysis = analyze_runs(&tools, root.path(), &[&ramp, &worker], CI_SLO_P95_MS);
        let actual = golden_form(analysis.clone(), root.path());
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/truth/analysis.golden.json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &actual).unwrap();
            eprintln!("wrote {}", path.display());
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            let seen = std::env::temp_dir().join("analysis.golden.actual.json");
            let _ = std::fs::write(&seen, &actual);
            panic!(
                "analysis.json differs from {} (the new one is in {}); if the change is \
                 intended, rerun with UPDATE_GOLDEN=1 and review the diff\n{}",
                path.display(),
                seen.display(),
                first_differences(&expected, &actual, 20)
            );
        }
        // And the known answers, which the golden file must not drift from.
        let checks = closed_checks(
            &CI_CLOSED,
            &ClosedTolerance {
                plateau_below: 0.01,
                above: 0.01,
                little: 0.02,
                little_from_users: 1.0,
                usl_plateau: 0.10,
            },
            &analysis,
        );
        assert_checks("golden: synthetic closed ramp", &checks, "");
    }
}
