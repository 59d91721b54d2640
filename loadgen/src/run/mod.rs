//! One invocation of `loadgen run`: start the target if needed, run each level (one, or a
//! search's), write each run directory, print the summary, decide the exit code.
//!
//! Per run: the manifest is written first (without `ended_at`) and again at the end, with
//! the stages' offsets from when the load really started; a rotation task writes each
//! second of recording into `latency.hlog` and `requests.csv` while Goose runs (once it
//! has settled; requests that finish later still are appended as a late fragment of their
//! second and merged into it at the end, see [`crate::recorder`]); `summary.json` is
//! written last. An interrupted run (Ctrl-C, abort on a threshold, a dead target) still
//! ends with a complete, valid directory. The once-a-second rotation is `rotation`'s.

mod rotation;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use rundir::{
    HostInfo, LatencyLogWriter, LoadModel, Manifest, RequestsWriter, RunDir, RunId, StackKind,
    Stage, Summary, Target, ToolVersions,
};
use scenarios::get::GetScenario;
use scenarios::http::{self, Request, header};
use scenarios::profile::StageSpec;
use scenarios::scenario1::Scenario1;
use time::OffsetDateTime;

use crate::engine::{self, EngineConfig, Model, Workload};
use crate::plan::{RunPlan, ScenarioChoice, TargetChoice};
use crate::progress::Progress;
use crate::recorder::{Bucket, Recorder};
use crate::report::{self, RunFacts};
use crate::stop::StopSwitch;
use crate::target::{LocalTarget, find_target_stack};

pub use rotation::DEAD_AFTER;
use rotation::{RotationContext, rotate};

/// How the invocation ended.
#[derive(Debug)]
pub struct Outcome {
    pub runs: Vec<PathBuf>,
    pub passed: bool,
    /// The target stopped answering during the run (every request refused for
    /// [`DEAD_AFTER`] seconds): the run was stopped there and proves nothing.
    pub target_lost: bool,
}

pub async fn run(plan: &RunPlan) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&plan.out_dir).with_context(|| {
        format!(
            "cannot create the output directory {}",
            plan.out_dir.display()
        )
    })?;
    let (host, local) = match &plan.target {
        TargetChoice::Host { url, .. } => (url.trim_end_matches('/').to_string(), None),
        TargetChoice::AwsStack { name, .. } => bail!("--aws-stack {name} was not resolved"),
        TargetChoice::Local {
            binary,
            keep_data,
            stack_config,
        } => {
            let binary = find_target_stack(binary.as_deref(), &plan.environment)?;
            let config = read_stack_config(stack_config.as_deref())?;
            eprintln!("starting the local target ({})…", binary.display());
            let target = LocalTarget::start(
                &binary,
                *keep_data,
                config.as_deref(),
                plan.scenario.local_app(),
            )
            .await?;
            eprintln!(
                "local target up at {} (data in {})",
                target.url,
                target.data_dir.display()
            );
            (target.url.clone(), Some(target))
        }
    };
    let stack = match (&local, &plan.target) {
        (Some(t), _) => StackKind::Local {
            data_dir: Some(t.data_dir.display().to_string()),
        },
        (None, TargetChoice::Host { stack, .. }) => stack.clone(),
        (None, _) => StackKind::External,
    };
    if local.is_none() && plan.health_check {
        check_target(&host, &plan.scenario.health_path()).await?;
    }
    let workload = workload(plan)?;
    let telemetry = local.as_ref().map(LocalTarget::telemetry_dir);
    if let Some(fleet) = &plan.fleet {
        wait_for_start(fleet).await?;
    }
    let result = run_levels(plan, &host, &stack, telemetry.as_deref(), &workload).await;
    if let Some(target) = local {
        target.stop().await;
    }
    let outcome = result?;
    if let Some(location) = &plan.upload {
        for dir in &outcome.runs {
            let files = location.upload_run(dir).await?;
            eprintln!(
                "uploaded {} ({files} files) to {}",
                dir.display(),
                location.url()
            );
        }
    }
    Ok(outcome)
}

/// The User-Agent of the check before a run, so that the target's logs (and aforo's
/// calibration server) can tell it from the load.
pub const HEALTH_CHECK_AGENT: &str = "aforo-health-check";

/// Before any load: the target answers its health path. No answer (nothing listening, a
/// wrong host or port, a firewall), a 5xx or a redirect ends the invocation with an error
/// (exit 3) instead of a run of refused or redirected requests that proves nothing.
async fn check_target(host: &str, path: &str) -> anyhow::Result<()> {
    const ATTEMPTS: u32 = 3;
    let url = format!("{host}{path}");
    // The load's own client: the check passes only where the load's requests can go (the
    // same TLS roots, the same refusal to follow redirects).
    let target = http::Target::new(host, Duration::from_secs(5))
        .map_err(|e| anyhow::anyhow!("--host: {e}"))?;
    let health_check = || Request::get(path).header(header::USER_AGENT, HEALTH_CHECK_AGENT);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        // A new connection each try: one the target dropped is not held against it.
        match target.connection().send(health_check()).await {
            Ok(answer) if answer.status.is_server_error() => {
                last = format!("it answered {}", answer.status);
            }
            Ok(answer) if answer.status.is_redirection() => {
                let location = answer
                    .headers
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("no Location header")
                    .to_string();
                bail!(
                    "GET {url} answered {} → {location}: the target redirects, and loadgen \
                     follows no redirect (every load request would count as a {}). Pass --host \
                     with the address it redirects to (e.g. https:// when the balancer sends \
                     HTTP to HTTPS)",
                    answer.status,
                    answer.status.as_u16()
                );
            }
            Ok(answer) => {
                if !answer.status.is_success() {
                    eprintln!(
                        "warning: {url} answered {} before the run; the target is up, but this \
                         is not its health path (set [paths] health in --contract, or [settings] \
                         health in a scenario file)",
                        answer.status
                    );
                }
                return Ok(());
            }
            Err(fault) => last = fault.to_string(),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    bail!(
        "the target is not answering: GET {url} failed {ATTEMPTS} times ({last}). Check that \
         it is running and that --host names it; --no-health-check skips this check"
    )
}

/// A fleet's generators start together: sleep until the shared start time. One that is
/// more than 30 s late would skew the fleet's first seconds, so it does not run.
async fn wait_for_start(fleet: &crate::plan::FleetPlan) -> anyhow::Result<()> {
    let wait = fleet.start_at - OffsetDateTime::now_utc();
    if wait < -time::Duration::seconds(30) {
        bail!(
            "generator {} of {}: the fleet's start time {} passed {:.0} s ago; start the fleet again with a later --start-at",
            fleet.shard,
            fleet.fleet,
            fleet.start_at,
            -wait.as_seconds_f64()
        );
    }
    if wait > time::Duration::hours(1) {
        bail!("--start-at {} is more than an hour away", fleet.start_at);
    }
    if wait.is_positive() {
        eprintln!(
            "generator {} of {}: starting in {:.1} s",
            fleet.shard,
            fleet.fleet,
            wait.as_seconds_f64()
        );
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    Ok(())
}

/// Distinguishes this run's users from earlier runs' on the same target (their emails).
pub fn run_tag() -> String {
    format!(
        "{:x}",
        OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 ^ std::process::id() as u64
    )
}

fn workload(plan: &RunPlan) -> anyhow::Result<Workload> {
    Ok(match &plan.scenario {
        ScenarioChoice::Scenario1 {
            contract,
            weights,
            upload_size,
        } => {
            let payload: Bytes = scenarios::mp4::mp4_of_size(*upload_size)
                .with_context(|| format!("cannot make an upload payload of {upload_size} bytes"))?;
            Workload::Scenario1(Scenario1::new(
                (**contract).clone(),
                *weights,
                payload,
                &run_tag(),
            ))
        }
        ScenarioChoice::Get { path } => Workload::Get(Arc::new(GetScenario { path: path.clone() })),
        ScenarioChoice::File(file) => Workload::File(Arc::clone(file)),
    })
}

async fn run_levels(
    plan: &RunPlan,
    host: &str,
    stack: &StackKind,
    telemetry: Option<&std::path::Path>,
    workload: &Workload,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        runs: Vec::new(),
        passed: true,
        target_lost: false,
    };
    let mut best: Option<(f64, Summary)> = None;
    for level in plan.levels() {
        let single = run_level(plan, level, host, stack, workload.clone()).await?;
        if let Some(telemetry) = telemetry {
            let manifest = single.dir.read_manifest()?;
            let end = manifest.ended_at.unwrap_or_else(OffsetDateTime::now_utc);
            copy_telemetry(telemetry, &single.dir, manifest.started_at, end)
                .context("cannot copy the stack's telemetry into the run directory")?;
        }
        outcome.runs.push(single.dir.path().to_path_buf());
        outcome.passed &= single.summary.passed;
        if single.target_lost {
            outcome.target_lost = true;
            break;
        }
        let Some(search) = &plan.search else { continue };
        let hold = single.stage_figures.last().cloned().unwrap_or_default();
        let figures = report::endpoint_figures("hold", &hold, Duration::from_secs(1));
        // A hold without a single latency (every request refused) holds nothing.
        let p95_us = figures.latency_us.as_ref().map(|l| l.p95 as f64);
        let holds = hold.counts.requests > 0
            && search
                .slo
                .holds(p95_us.map(|us| us / 1000.0), figures.error_rate);
        println!(
            "search: {level} {}: p95 {} ms, errors {:.2}% during the hold → {}",
            plan.level_unit(),
            p95_us.map_or("–".to_owned(), |us| format!("{:.1}", us / 1000.0)),
            figures.error_rate * 100.0,
            if holds {
                "within the SLO"
            } else {
                "breaks the SLO"
            }
        );
        if !holds || single.summary.interrupted {
            break;
        }
        best = Some((level, single.summary));
    }
    if let Some(search) = &plan.search {
        match &best {
            Some((level, summary)) => println!(
                "search: the best level within the SLO ({}) is {level} {} at {:.1} req/s (run {})",
                search.slo,
                plan.level_unit(),
                summary.total.rps,
                summary.run_id
            ),
            None => {
                println!("search: no level held the SLO; try a lower --search-start");
                outcome.passed = false;
            }
        }
    }
    Ok(outcome)
}

/// The stack's metrics within the run's window (a second of margin each side), and its
/// scaling activities up to the run's end (those that built the stack included).
pub fn copy_telemetry(
    from: &std::path::Path,
    dir: &RunDir,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> anyhow::Result<()> {
    let margin = time::Duration::seconds(1);
    let open = |name: &str| -> anyhow::Result<std::io::BufReader<File>> {
        Ok(std::io::BufReader::new(File::open(from.join(name))?))
    };
    let metrics = rundir::read_metrics(open(rundir::METRICS_FILE)?)?;
    let mut writer = rundir::MetricsWriter::new(BufWriter::new(File::create(dir.metrics_path())?))?;
    for row in metrics
        .iter()
        .filter(|r| r.timestamp >= start - margin && r.timestamp <= end + margin)
    {
        writer.write_row(row)?;
    }
    writer.flush()?;
    let activities = rundir::read_activities(open(rundir::ACTIVITIES_FILE)?)?;
    let mut out = BufWriter::new(File::create(dir.activities_path())?);
    for activity in activities.iter().filter(|a| a.start_time <= end + margin) {
        rundir::write_activity(&mut out, activity)?;
    }
    std::io::Write::flush(&mut out)?;
    // What the stack ran as; a stack from before this file existed has none.
    let stack = from.join(rundir::STACK_FILE);
    if stack.is_file() {
        std::fs::copy(&stack, dir.stack_path())?;
    }
    Ok(())
}

struct SingleRun {
    dir: RunDir,
    summary: Summary,
    target_lost: bool,
    /// Totals of all endpoints per stage.
    stage_figures: Vec<Bucket>,
}

/// The manifest's stages; the first starts `first` after the run's start.
fn manifest_stages(stages: &[StageSpec], model: Model, first: Duration) -> Vec<Stage> {
    let mut offset = first;
    stages
        .iter()
        .map(|s| {
            let stage = Stage {
                name: s.name.clone(),
                start_offset_ms: offset.as_millis() as u64,
                duration_ms: s.duration.as_millis() as u64,
                users: matches!(model, Model::Closed).then_some(s.level.round() as u32),
                rate_per_sec: matches!(model, Model::Open { .. }).then_some(s.level),
                ramp: s.ramp,
            };
            offset += s.duration;
            stage
        })
        .collect()
}

async fn run_level(
    plan: &RunPlan,
    level: f64,
    host: &str,
    stack: &StackKind,
    workload: Workload,
) -> anyhow::Result<SingleRun> {
    let stages = engine::effective_stages(&plan.stages(level), plan.model);
    let started = OffsetDateTime::now_utc();
    let mut id = RunId::generate(started, plan.scenario.name());
    if plan.search.is_some() {
        id = RunId::parse(&format!("{id}-x{level}"))?;
    }
    let dir = RunDir::create(&plan.out_dir, &id)?;
    let peak = stages.iter().map(|s| s.level).fold(0.0, f64::max);
    let mut manifest = Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: id.clone(),
        scenario: plan.scenario.name().to_string(),
        profile: plan.profile.as_str().to_string(),
        load_model: match plan.model {
            Model::Closed => LoadModel::Closed {
                max_users: peak.round() as u32,
            },
            Model::Open { max_in_flight } => LoadModel::Open {
                max_rate_per_sec: peak,
                max_in_flight,
            },
        },
        target: Target {
            url: host.to_string(),
            stack: stack.clone(),
        },
        started_at: started,
        ended_at: None,
        time_scale: plan.time_scale.factor(),
        // Rewritten at the end from when the stages really started.
        stages: manifest_stages(&stages, plan.model, Duration::ZERO),
        thresholds: plan.thresholds.iter().map(|t| t.to_string()).collect(),
        tool: ToolVersions {
            aforo: env!("CARGO_PKG_VERSION").to_string(),
            goose: "0.19".to_string(),
            hdrhistogram: "7".to_string(),
        },
        host: HostInfo::current(),
        workload: rundir::Workload {
            upload_bytes: match &plan.scenario {
                ScenarioChoice::Scenario1 { upload_size, .. } => Some(*upload_size),
                ScenarioChoice::Get { .. } | ScenarioChoice::File(_) => None,
            },
            think_time_s: plan.think_time_per_request().map(|z| z.as_secs_f64()),
            think_time: plan.think_time.map(|t| t.to_string()),
            pacing_s: plan.pacing.map(|p| p.as_secs_f64()),
            contract: match &plan.scenario {
                ScenarioChoice::Scenario1 { contract, .. } => serde_json::to_value(contract).ok(),
                ScenarioChoice::Get { .. } | ScenarioChoice::File(_) => None,
            },
            scenario_file: match &plan.scenario {
                ScenarioChoice::File(file) => Some(file.source.display().to_string()),
                _ => None,
            },
            worker_pool: None,
        },
        command_line: plan.command_line.clone(),
        shard: plan
            .fleet
            .as_ref()
            .map(crate::plan::FleetPlan::manifest_shard),
    };
    dir.write_manifest(&manifest)?;
    eprintln!(
        "run {id}: {} {} → {}",
        plan.scenario.name(),
        plan.profile,
        dir.path().display()
    );

    let wall_start = SystemTime::now();
    let recorder = Arc::new(Recorder::new(wall_start));
    let stage_zero = Arc::new(OnceLock::new());
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    // The files' headers go to disk now, and each second's rows as it is recorded: a run
    // killed at any moment leaves files the analyzer can read.
    let mut hlog = LatencyLogWriter::new(
        BufWriter::new(File::create(dir.latency_log_path())?),
        wall_start,
    )?;
    hlog.flush()?;
    let mut csv = RequestsWriter::new(BufWriter::new(File::create(dir.requests_path())?))?;
    csv.flush()?;
    let stop = StopSwitch::default();
    let rotation = tokio::spawn(rotate(RotationContext {
        recorder: Arc::clone(&recorder),
        stop: stop.clone(),
        dir: dir.clone(),
        wall_start,
        late_written: false,
        hlog,
        csv,
        refused_streak: 0,
        target_lost: None,
        stages: stages.clone(),
        stage_zero: Arc::clone(&stage_zero),
        wall_zero: None,
        progress: Progress::new(
            id.as_str(),
            scenarios::profile::total(&stages),
            plan.level_unit(),
        ),
        thresholds: if plan.abort_on_fail {
            plan.thresholds.clone()
        } else {
            Vec::new()
        },
        done: done_rx,
    }));

    let config = EngineConfig {
        host: host.to_string(),
        model: plan.model,
        stages: stages.clone(),
        request_timeout: plan.request_timeout,
        think_time: plan.think_time,
        pacing: plan.pacing,
        stop,
    };
    let run_start = Instant::now();
    let engine_result = engine::run(
        &config,
        workload,
        Arc::clone(&recorder),
        Arc::clone(&stage_zero),
    )
    .await;
    let duration = run_start.elapsed();
    let _ = done_tx.send(true);
    let accumulated = rotation.await.context("the recording task panicked")??;
    let target_lost = accumulated.target_lost.is_some();
    let report = engine_result?;
    // The stages start when the load does (closed: Goose starts; open: every slot has
    // started), which is after `started_at`: the analyzer's stage windows, and so its
    // load points, must hold the seconds the requests were due or sent in.
    if let Some(zero) = stage_zero.get() {
        let first = scenarios::record::wall_clock(*zero)
            .duration_since(SystemTime::from(started))
            .unwrap_or_default();
        manifest.stages = manifest_stages(&stages, plan.model, first);
    }

    let mut notes = Vec::new();
    match plan.model {
        Model::Closed => notes.push(
            "closed model: latency counts from when each request was sent; when the target stalls, \
             users wait and send less, so percentiles may hide the stall (coordinated omission). \
             Use --rate for the open model."
                .to_string(),
        ),
        Model::Open { max_in_flight } if report.late_arrivals > 0 => notes.push(format!(
            "{} of {} arrivals started over 10 ms late ({}; {} because the load generator was \
             short of CPU); their latency still counts from when they were due",
            report.late_arrivals,
            report.arrivals,
            busy_slots_advice(
                report.late_all_busy,
                max_in_flight,
                report.service_when_all_busy,
                report.service_otherwise
            ),
            report.late_arrivals - report.late_all_busy
        )),
        Model::Open { .. } => {}
    }
    if report.unsent > 0 {
        notes.push(format!(
            "{} arrivals were due but never sent: the run stopped while every slot was busy; \
             they count as errors of the endpoint `{}`",
            report.unsent,
            engine::UNSENT
        ));
    }
    let model_note = (!notes.is_empty()).then(|| notes.join("; "));
    let summary = report::summarize(
        RunFacts {
            run_id: id.clone(),
            duration,
            interruption: report.stopped_early,
            model_note,
            skips: recorder.skips(),
        },
        &accumulated.totals,
        &plan.thresholds,
    );
    let mut summary = summary;
    if target_lost {
        // Whatever the thresholds say of the seconds before, the run did not hold its plan.
        summary.passed = false;
    }
    dir.write_summary(&summary)?;
    manifest.ended_at = Some(OffsetDateTime::now_utc());
    dir.write_manifest(&manifest)?;
    report::print(&summary, &mut std::io::stdout().lock())?;
    println!("run directory: {}", dir.path().display());
    Ok(SingleRun {
        dir,
        summary,
        target_lost,
        stage_figures: accumulated.stages,
    })
}

/// The open model's advice when arrivals waited for a slot: more slots help only when the
/// target kept answering as fast as before, i.e. the slots, not the target, set the pace.
fn busy_slots_advice(
    late_all_busy: u64,
    slots: u32,
    service_when_all_busy: Option<Duration>,
    service_otherwise: Option<Duration>,
) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match (service_when_all_busy, service_otherwise) {
        (Some(busy), Some(otherwise)) if busy > otherwise * 2 => format!(
            "{late_all_busy} while all {slots} slots were busy because the target slowed down: \
             an arrival held its slot {:.0} ms when every slot was busy, {:.0} ms otherwise; the \
             target limited the rate, and more slots would only queue more requests at it",
            ms(busy),
            ms(otherwise)
        ),
        (Some(busy), Some(otherwise)) => format!(
            "{late_all_busy} while all {slots} slots were busy although the target answered as \
             fast as before ({:.0} ms a slot then, {:.0} ms otherwise): the slots limited the \
             rate, raise --max-in-flight",
            ms(busy),
            ms(otherwise)
        ),
        _ => format!(
            "{late_all_busy} while all {slots} slots were busy; every arrival found them busy, \
             so whether the target or the number of slots limited the rate is unknown"
        ),
    }
}

/// The text of `--stack-config`, when given.
pub(crate) fn read_stack_config(path: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --stack-config {}", path.display()))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn more_slots_are_advised_only_when_the_target_kept_its_pace() {
        let slots_limited = busy_slots_advice(40, 20, Some(12 * MS), Some(10 * MS));
        assert!(
            slots_limited.contains("raise --max-in-flight"),
            "{slots_limited}"
        );
        let target_limited = busy_slots_advice(40, 20, Some(900 * MS), Some(10 * MS));
        assert!(
            target_limited.contains("target slowed down")
                && !target_limited.contains("raise --max-in-flight"),
            "{target_limited}"
        );
        let unknown = busy_slots_advice(40, 20, Some(900 * MS), None);
        assert!(
            unknown.contains("unknown") && !unknown.contains("raise"),
            "{unknown}"
        );
    }
}
