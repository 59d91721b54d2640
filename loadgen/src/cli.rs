//! The command line. Parses argv once into a [`RunPlan`]; nothing later looks at flags.
//!
//! Exit codes: 0 every threshold passed, 1 a threshold failed (or a search found no level
//! within the SLO), 2 bad usage, 3 the run could not be done (target did not start, …).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use capacity_model::SloBounds;
use clap::{Args, Parser, Subcommand};

use scenarios::contract::Contract;
use scenarios::file::FileScenario;
use scenarios::profile::{self, ProfileName, TimeScale};
use scenarios::scenario1::Weights;
use scenarios::think::ThinkTime;

use crate::engine::Model;
use crate::environment::Environment;
use crate::plan::{RunPlan, ScenarioChoice, SearchPlan, TargetChoice, parse_duration};
use crate::threshold::Threshold;

/// Load tests for web + worker systems, with full-precision latency.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario against a target and write a run directory.
    Run(Box<RunArgs>),
    /// Check a scenario file without running it: every mistake with its line, or what the
    /// file will do.
    Check {
        /// The scenario file (TOML; see scenarios/examples/README.md).
        file: PathBuf,
        /// A [variables] entry set from the command line, as `run` takes it.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// List the scenarios and profiles with their parameters.
    List,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario: scenario1, scenario2 or get (see `loadgen list`), or a scenario file
    /// (FILE.toml; see scenarios/examples/README.md).
    scenario: String,
    /// The target's base URL. Without it (or --aws-stack), target-stack is started on
    /// loopback for the run.
    #[arg(long)]
    host: Option<String>,
    /// A deployed aforo.yaml stack (target-stack/infra): the load balancer's URL and the
    /// names the analyzer queries come from its outputs.
    #[arg(long, value_name = "NAME", conflicts_with = "host")]
    aws_stack: Option<String>,
    /// The region of --aws-stack [default: the AWS SDK's, e.g. AWS_REGION].
    #[arg(long, requires = "aws_stack")]
    aws_region: Option<String>,
    /// smoke, ramp, sustained or search.
    #[arg(long, default_value = "smoke")]
    profile: ProfileName,
    /// Closed model: this many concurrent users (the profile's level).
    #[arg(long, conflicts_with = "rate")]
    users: Option<u32>,
    /// Open model: this many arrivals per second (the profile's level); `R`, `R/s` or `R/min`.
    /// Scenario 2: the arrival rate (e.g. 6/min).
    #[arg(long, value_parser = rundir::parse_rate)]
    rate: Option<f64>,
    /// Length of the steady part of the profile (e.g. 30s, 5m).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Multiply every duration by this (0.01 turns 5 minutes into 3 s).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Pass/fail criterion, repeatable: p95<1s, errors<5%, upload:p99<3s, rps>50.
    #[arg(long = "threshold", value_name = "EXPR")]
    thresholds: Vec<String>,
    /// Stop the run as soon as a threshold fails (after 5 s and 20 requests).
    #[arg(long)]
    abort_on_fail: bool,
    /// Do not check that the target answers its health path (`[paths] health` of the
    /// contract, the `get` scenario's path) before the run.
    #[arg(long)]
    no_health_check: bool,
    /// Where run directories are written.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// A TOML file describing how the target differs from the default API contract.
    #[arg(long)]
    contract: Option<PathBuf>,
    /// Scenario parameter KEY=VALUE, repeatable (see `loadgen list`); for a scenario file, a
    /// [variables] entry.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Closed model: each user pauses this long after each iteration: `1s`, a uniform range
    /// `1s..3s` or an exponential mean `exp:2s` (a scenario file's [settings] think_time
    /// otherwise). With it, N users are N people: X = N / (R + Z).
    #[arg(long, value_parser = ThinkTime::parse)]
    think_time: Option<ThinkTime>,
    /// Closed model: each user's iterations start at least this far apart (e.g. 5s).
    #[arg(long, value_parser = parse_duration)]
    pacing: Option<Duration>,
    /// Open model: requests in flight at most (default: 2 s of the peak rate, at least 20).
    #[arg(long)]
    max_in_flight: Option<u32>,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// The target-stack binary for the local target.
    #[arg(long)]
    target_stack: Option<PathBuf>,
    /// The local target's stack.toml: each section it names replaces the default one (see
    /// target-stack/policy/src/default-stack.toml), e.g. faster scaling for a rehearsal.
    #[arg(long, value_name = "FILE")]
    stack_config: Option<PathBuf>,
    /// Keep the local target's data directory after the run.
    #[arg(long)]
    keep_stack_data: bool,
    /// Search: the first level.
    #[arg(long, default_value_t = 100.0)]
    search_start: f64,
    /// Search: the step between levels.
    #[arg(long, default_value_t = 100.0)]
    search_step: f64,
    /// Search: the highest level to try.
    #[arg(long, default_value_t = 1000.0)]
    search_max: f64,
    /// The SLO's p95 limit: a run judges it as the threshold `p95<=` this unless a `p95`
    /// threshold on all endpoints is given; a search's levels must hold it [run default:
    /// none; search default: the course's, 1s].
    #[arg(long, value_parser = parse_duration)]
    slo_p95: Option<Duration>,
    /// The SLO's highest share of failed requests (5% or 0.05): a run judges it as the
    /// threshold `errors<=` this unless an `errors` threshold on all endpoints is given, and
    /// a search's levels must hold it; 100% turns the threshold off. `--max-errors` is its
    /// older name.
    #[arg(long, alias = "max-errors", default_value = "5%", value_parser = rundir::parse_percent)]
    slo_errors: f64,
    /// Scenario 2: video size(s), comma-separated (e.g. 50MB,100MB).
    #[arg(long, value_delimiter = ',')]
    size: Vec<String>,
    /// Scenario 2: tasks one worker processes at once, comma-separated (e.g. 1,2,4).
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<u32>,
    /// Scenario 2: sustained, saturation, or both comma-separated.
    #[arg(long, value_delimiter = ',')]
    mode: Vec<scenarios::scenario2::Mode>,
    /// Scenario 2: the course's whole grid (50MB,100MB × 1,2,4 × both modes) unless
    /// --size/--concurrency/--mode narrow it; one run directory per cell plus an index.
    #[arg(long)]
    matrix: bool,
    /// Scenario 2, sustained: tasks to queue in all (default 3 × concurrency, at least 10:
    /// fewer cannot measure a rate).
    #[arg(long)]
    tasks: Option<u64>,
    /// Scenario 2, saturation: the length of each step of the arrival staircase (default:
    /// long enough for 10 arrivals at the first rate, and at least 60 s).
    #[arg(long, value_parser = parse_duration)]
    step: Option<Duration>,
    /// Scenario 2, saturation: how many steps.
    #[arg(long, default_value_t = 4)]
    steps: usize,
    /// Fleet: this generator's part of the load, I/N (users split as evenly as whole users
    /// allow, rates divided by N); needs --start-at, and --users or --rate for the whole.
    #[arg(long, value_name = "I/N", requires = "start_at")]
    shard: Option<scenarios::shard::Shard>,
    /// Fleet: when every generator starts (RFC 3339, e.g. 2026-12-01T17:00:00Z).
    #[arg(long, value_name = "TIME", requires = "shard")]
    start_at: Option<String>,
    /// After the run, copy its directory to s3://BUCKET/PREFIX/RUN-ID/ (what a fleet's
    /// generators do; `analyze --runs-dir s3://BUCKET/PREFIX` reads them back).
    #[arg(long, value_name = "s3://BUCKET/PREFIX", env = "AFORO_RUNS_URL")]
    upload: Option<String>,
    /// Scenario 2: after the last task is queued, how long to wait for the queue to drain.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    drain_timeout: Duration,
}

/// What argv asks for: a web scenario on Goose, or the worker path.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per invocation and matched at once; boxing buys nothing"
)]
enum Invocation {
    Web(RunPlan),
    Worker(crate::scenario2::Scenario2Plan),
}

pub async fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::List => {
            print!("{}", catalogue());
            0
        }
        Command::Check { file, params } => match check_file(&file, &params) {
            Ok(summary) => {
                print!("{summary}");
                0
            }
            Err(e) => {
                eprintln!("loadgen: {e:#}");
                2
            }
        },
        Command::Run(args) => {
            let invocation = match plan(*args) {
                Ok(invocation) => invocation,
                Err(e) => {
                    eprintln!("loadgen: {e:#}");
                    return 2;
                }
            };
            let invocation = match invocation {
                Invocation::Web(mut plan) => match plan.target.clone().resolve().await {
                    Ok(target) => {
                        plan.target = target;
                        Invocation::Web(plan)
                    }
                    Err(e) => {
                        eprintln!("loadgen: {e:#}");
                        return 2;
                    }
                },
                worker => worker,
            };
            let result = match &invocation {
                Invocation::Web(plan) => crate::run::run(plan).await,
                Invocation::Worker(plan) => crate::scenario2::run(plan).await,
            };
            match result {
                Ok(outcome) if outcome.target_lost => 3,
                Ok(outcome) if outcome.passed => 0,
                Ok(_) => 1,
                Err(e) => {
                    eprintln!("loadgen: error: {e:#}");
                    3
                }
            }
        }
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn plan(args: RunArgs) -> anyhow::Result<Invocation> {
    if args.scenario == "scenario2" {
        if args.think_time.is_some() || args.pacing.is_some() {
            bail!(
                "--think-time and --pacing apply to web scenarios; scenario2 queues tasks at --rate"
            );
        }
        return scenario2_plan(args).map(Invocation::Worker);
    }
    if args.matrix
        || !args.size.is_empty()
        || !args.concurrency.is_empty()
        || !args.mode.is_empty()
        || args.tasks.is_some()
    {
        bail!("--matrix, --size, --concurrency, --mode and --tasks apply to scenario2 only");
    }
    web_plan(args).map(Invocation::Web)
}

fn target_choice(args: &RunArgs) -> anyhow::Result<TargetChoice> {
    Ok(match &args.host {
        Some(host) => {
            if !(host.starts_with("http://") || host.starts_with("https://")) {
                bail!("--host {host:?} must be a URL such as http://127.0.0.1:8000");
            }
            if args.target_stack.is_some() || args.keep_stack_data || args.stack_config.is_some() {
                bail!(
                    "--target-stack, --keep-stack-data and --stack-config apply to the local target (no --host)"
                );
            }
            TargetChoice::Host {
                url: host.clone(),
                stack: rundir::StackKind::External,
            }
        }
        None if args.aws_stack.is_some() => {
            if args.target_stack.is_some() || args.keep_stack_data || args.stack_config.is_some() {
                bail!(
                    "--target-stack, --keep-stack-data and --stack-config apply to the local target (no --aws-stack)"
                );
            }
            TargetChoice::AwsStack {
                name: args.aws_stack.clone().unwrap_or_default(),
                region: args.aws_region.clone(),
            }
        }
        None => TargetChoice::Local {
            binary: args.target_stack.clone(),
            keep_data: args.keep_stack_data,
            stack_config: args.stack_config.clone(),
        },
    })
}

fn scenario2_plan(args: RunArgs) -> anyhow::Result<crate::scenario2::Scenario2Plan> {
    use scenarios::scenario2::{Mode, matrix};
    if args.shard.is_some() || args.upload.is_some() {
        bail!("--shard and --upload apply to the web scenarios (scenario1, get)");
    }
    if args.aws_stack.is_some() {
        bail!(
            "scenario2 injects tasks through the target's database and queue, which an aforo.yaml stack keeps inside its VPC; run scenario2 from inside it, or scenario1 with --aws-stack"
        );
    }
    if args.users.is_some() || !args.thresholds.is_empty() || args.contract.is_some() {
        bail!(
            "scenario2 takes --size, --concurrency, --mode, --tasks, --rate and --matrix, not --users, --threshold or --contract"
        );
    }
    let (default_sizes, default_concurrency, default_modes): (&[&str], &[u32], &[Mode]) =
        if args.matrix {
            (
                &["50MB", "100MB"],
                &[1, 2, 4],
                &[Mode::Sustained, Mode::Saturation],
            )
        } else {
            (&["50MB"], &[2], &[Mode::Sustained])
        };
    let sizes = if args.size.is_empty() {
        default_sizes.iter().map(|s| s.to_string()).collect()
    } else {
        args.size.clone()
    };
    let sizes: Vec<u64> = sizes
        .iter()
        .map(|s| scenarios::parse_size(s).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let concurrency = if args.concurrency.is_empty() {
        default_concurrency.to_vec()
    } else {
        args.concurrency.clone()
    };
    if concurrency.contains(&0) || sizes.contains(&0) {
        bail!("--size and --concurrency must be above 0");
    }
    let modes = if args.mode.is_empty() {
        default_modes.to_vec()
    } else {
        args.mode.clone()
    };
    let cells = matrix(&sizes, &concurrency, &modes);
    if cells.len() > 1 && !args.matrix {
        bail!("several sizes, concurrencies or modes make a matrix: add --matrix");
    }
    if args.tasks == Some(0) {
        bail!("--tasks must be at least 1");
    }
    let scale = TimeScale::parse(args.time_scale).map_err(anyhow::Error::msg)?;
    Ok(crate::scenario2::Scenario2Plan {
        target: target_choice(&args)?,
        cells,
        tasks: args.tasks,
        rate_per_minute: args.rate.map(|per_sec| per_sec * 60.0),
        step: args.step.map(|step| scale.apply(step)),
        steps: args.steps.max(1),
        drain_timeout: args.drain_timeout,
        out_dir: args.out,
        command_line: std::env::args().collect(),
        environment: Environment::from_process(),
    })
}

/// `--param KEY=VALUE` pairs.
fn key_values(params: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--param {p:?} must look like KEY=VALUE"))
        })
        .collect()
}

/// A scenario argument that names a file rather than a catalogue entry.
fn is_scenario_file(scenario: &str) -> bool {
    scenario.ends_with(".toml") || std::path::Path::new(scenario).is_file()
}

/// `loadgen check FILE`: loads the file as `run` would and says what it will do.
fn check_file(file: &std::path::Path, params: &[String]) -> anyhow::Result<String> {
    let scenario = FileScenario::load(file, &key_values(params)?, "check")?;
    Ok(scenario.describe())
}

fn web_plan(args: RunArgs) -> anyhow::Result<RunPlan> {
    let params = key_values(&args.params)?;
    if is_scenario_file(&args.scenario) {
        if args.contract.is_some() {
            bail!("--contract applies to scenario1; a scenario file names its own paths");
        }
        let file = FileScenario::load(
            std::path::Path::new(&args.scenario),
            &params,
            &crate::run::run_tag(),
        )?;
        return finish_web_plan(args, ScenarioChoice::File(Arc::new(file)));
    }
    let entry = scenarios::CATALOGUE
        .iter()
        .find(|e| e.name == args.scenario)
        .with_context(|| {
            format!(
                "unknown scenario {:?}; `loadgen list` shows them",
                args.scenario
            )
        })?;
    for (key, _) in &params {
        if !entry.params.iter().any(|(k, _, _)| k == key) {
            let known: Vec<_> = entry.params.iter().map(|(k, _, _)| *k).collect();
            bail!(
                "{} has no parameter {key:?}; it takes {}",
                entry.name,
                known.join(", ")
            );
        }
    }
    let scenario = match entry.name {
        "scenario1" => ScenarioChoice::Scenario1 {
            contract: Box::new(match &args.contract {
                Some(path) => Contract::load(path)?,
                None => Contract::default(),
            }),
            weights: Weights::parse(param(&params, "weights").unwrap_or(""))
                .map_err(anyhow::Error::msg)?,
            upload_size: scenarios::parse_size(param(&params, "upload_size").unwrap_or("1MB"))
                .map_err(anyhow::Error::msg)?,
        },
        _ => ScenarioChoice::Get {
            path: param(&params, "path").unwrap_or("/health").to_string(),
        },
    };
    if args.contract.is_some() && !matches!(scenario, ScenarioChoice::Scenario1 { .. }) {
        bail!("--contract applies to scenario1 only");
    }
    finish_web_plan(args, scenario)
}

/// The rest of a web plan, the same for every scenario: load model, profile, thresholds,
/// target, fleet.
fn finish_web_plan(args: RunArgs, scenario: ScenarioChoice) -> anyhow::Result<RunPlan> {
    let fleet = fleet_plan(&args, scenario.name())?;
    let upload = args
        .upload
        .as_deref()
        .map(infra::RunsLocation::parse)
        .transpose()?;
    let (users, rate) = match &fleet {
        Some(f) => {
            if args.users.is_none() && args.rate.is_none() {
                bail!("--shard splits the fleet's level: give the whole as --users or --rate");
            }
            let users = args.users.map(|u| f.shard.users(u));
            if users == Some(0) {
                bail!(
                    "--users {} over {} generators leaves generator {} without users; use fewer generators",
                    args.users.unwrap_or(0),
                    f.shard.count(),
                    f.shard.index()
                );
            }
            (users, args.rate.map(|r| f.shard.rate(r)))
        }
        None => (args.users, args.rate),
    };
    let (model, level) = match (users, rate) {
        (Some(users), None) if users > 0 => (Model::Closed, f64::from(users)),
        (Some(_), None) => bail!("--users must be at least 1"),
        (None, Some(rate)) if rate > 0.0 && rate.is_finite() => {
            let peak = if args.profile == ProfileName::Search {
                args.search_max
            } else {
                rate
            };
            let default_slots = ((peak * 2.0).ceil() as u32).clamp(20, 5000);
            (
                Model::Open {
                    max_in_flight: args.max_in_flight.unwrap_or(default_slots),
                },
                rate,
            )
        }
        (None, Some(rate)) => {
            bail!("--rate must be a positive number of requests per second, got {rate}")
        }
        (None, None) => (Model::Closed, profile::default_level(args.profile)),
        (Some(_), Some(_)) => unreachable!("clap refuses --users with --rate"),
    };
    if args.max_in_flight.is_some() && model == Model::Closed {
        bail!("--max-in-flight applies to the open model (--rate) only");
    }
    let slo = SloBounds {
        p95_ms: args.slo_p95.map(rundir::millis),
        max_error_ratio: Some(args.slo_errors),
    };
    let search = (args.profile == ProfileName::Search)
        .then(|| -> anyhow::Result<SearchPlan> {
            let start = if args.users.is_some() || args.rate.is_some() {
                level
            } else {
                args.search_start
            };
            Ok(SearchPlan {
                levels: profile::search_levels(start, args.search_step, args.search_max)
                    .map_err(anyhow::Error::msg)?,
                slo: slo.over(&capacity_model::Slo::COURSE),
            })
        })
        .transpose()?;
    let mut thresholds = args
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    // A search judges each level's p95 itself, and goes on past the ones that break it.
    let run_slo = match &search {
        Some(_) => SloBounds {
            p95_ms: None,
            ..slo
        },
        None => slo,
    };
    let from_slo = Threshold::from_slo(&run_slo, &thresholds);
    thresholds.extend(from_slo);
    if args.abort_on_fail && thresholds.is_empty() {
        bail!("--abort-on-fail needs at least one --threshold (or an --slo-errors below 100%)");
    }
    let target = target_choice(&args)?;
    let file_think = match &scenario {
        ScenarioChoice::File(file) => (file.think_time, file.pacing),
        _ => (None, None),
    };
    let (think_time, pacing) = (
        args.think_time.or(file_think.0),
        args.pacing.or(file_think.1),
    );
    let (think_time, pacing) = match model {
        Model::Closed => (think_time, pacing),
        Model::Open { .. } if args.think_time.is_some() || args.pacing.is_some() => bail!(
            "--think-time and --pacing apply to the closed model (--users): with --rate the \
             arrivals set the pace"
        ),
        Model::Open { .. } => {
            if think_time.is_some() || pacing.is_some() {
                eprintln!(
                    "note: the scenario file's think time and pacing apply to the closed model \
                     (--users); with --rate the arrivals set the pace, so they are not applied"
                );
            }
            (None, None)
        }
    };
    Ok(RunPlan {
        scenario,
        think_time,
        pacing,
        profile: args.profile,
        model,
        level: search.as_ref().map_or(level, |s| s.levels[0]),
        hold: args.duration,
        time_scale: TimeScale::parse(args.time_scale).map_err(anyhow::Error::msg)?,
        search,
        target,
        thresholds,
        abort_on_fail: args.abort_on_fail,
        health_check: !args.no_health_check,
        out_dir: args.out,
        request_timeout: args.timeout,
        command_line: std::env::args().collect(),
        fleet,
        upload,
        environment: Environment::from_process(),
    })
}

/// `--shard I/N --start-at TIME`: which part, which fleet, and when it starts.
fn fleet_plan(args: &RunArgs, scenario: &str) -> anyhow::Result<Option<crate::plan::FleetPlan>> {
    let (Some(shard), Some(start_at)) = (args.shard, &args.start_at) else {
        return Ok(None);
    };
    if args.profile == ProfileName::Search {
        bail!(
            "--shard does not combine with the search profile: each level's verdict needs the whole fleet's figures; run ramp or sustained levels instead"
        );
    }
    let start =
        time::OffsetDateTime::parse(start_at, &time::format_description::well_known::Rfc3339)
            .with_context(|| {
                format!(
                    "--start-at {start_at:?} is not an RFC 3339 time such as 2026-12-01T17:00:00Z"
                )
            })?
            .to_offset(time::UtcOffset::UTC);
    Ok(Some(crate::plan::FleetPlan {
        shard,
        fleet: rundir::RunId::fleet(start, scenario),
        start_at: start,
    }))
}

fn catalogue() -> String {
    let mut out = String::from("scenarios:\n");
    for entry in scenarios::CATALOGUE {
        out.push_str(&format!("  {:<10} {}\n", entry.name, entry.summary));
        for (key, default, meaning) in entry.params {
            out.push_str(&format!(
                "      --param {key}=…  {meaning} (default {default})\n"
            ));
        }
    }
    out.push_str(
        "  FILE.toml  a scenario file: any HTTP API's traffic in TOML (scenarios/examples/README.md);\n             `loadgen check FILE.toml` checks it without running\n",
    );
    out.push_str("profiles (the level is --users N, closed model, or --rate R/s, open model):\n");
    for profile in ProfileName::ALL {
        out.push_str(&format!(
            "  {:<10} {}\n",
            profile.as_str(),
            profile.describe()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_plan_of(args: &str) -> RunPlan {
        let argv = format!("loadgen run get --host http://127.0.0.1:9 {args}");
        let cli = Cli::try_parse_from(argv.split_whitespace()).expect("the arguments parse");
        let Command::Run(run) = cli.command else {
            panic!("a run")
        };
        match plan(*run).expect("a plan") {
            Invocation::Web(plan) => plan,
            Invocation::Worker(_) => panic!("a web plan"),
        }
    }

    fn thresholds(plan: &RunPlan) -> Vec<String> {
        plan.thresholds.iter().map(|t| t.to_string()).collect()
    }

    /// One SLO: without flags, the course's (the analyzer's default too); a run judges its
    /// error bound, and its p95 only when given; a search holds its levels to both.
    #[test]
    fn a_runs_thresholds_and_a_searchs_levels_come_from_one_slo() {
        let plain = web_plan_of("");
        assert_eq!(thresholds(&plain), ["errors<=5%"]);

        let search = web_plan_of("--profile search");
        assert_eq!(
            search.search.as_ref().map(|s| &s.slo),
            Some(&capacity_model::Slo::COURSE)
        );
        assert_eq!(thresholds(&search), ["errors<=5%"]);

        let strict = web_plan_of("--slo-p95 250ms --slo-errors 1% --threshold rps>10");
        assert_eq!(thresholds(&strict), ["rps>10", "p95<=250ms", "errors<=1%"]);

        let strict_search = web_plan_of("--profile search --slo-p95 250ms --max-errors 1%");
        let slo = &strict_search.search.as_ref().unwrap().slo;
        assert_eq!((slo.p95_ms, slo.max_error_ratio), (250.0, 0.01));
        assert_eq!(
            thresholds(&strict_search),
            ["errors<=1%"],
            "the search judges p95 per level itself"
        );
    }
}
