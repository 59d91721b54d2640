//! The command line. Parses argv once into a [`RunPlan`]; nothing later looks at flags.
//!
//! Exit codes: 0 every threshold passed, 1 a threshold failed (or a search found no level
//! within the SLO), 2 bad usage, 3 the run could not be done (target did not start, …).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use scenarios::contract::Contract;
use scenarios::profile::{self, ProfileName, TimeScale};
use scenarios::scenario1::Weights;

use crate::engine::Model;
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
    /// List the scenarios and profiles with their parameters.
    List,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario: scenario1 or get (see `loadgen list`).
    scenario: String,
    /// The target's base URL. Without it, target-stack is started on loopback for the run.
    #[arg(long)]
    host: Option<String>,
    /// smoke, ramp, sustained or search.
    #[arg(long, default_value = "smoke")]
    profile: ProfileName,
    /// Closed model: this many concurrent users (the profile's level).
    #[arg(long, conflicts_with = "rate")]
    users: Option<u32>,
    /// Open model: this many arrivals per second (the profile's level).
    #[arg(long)]
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
    /// Where run directories are written.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// A TOML file describing how the target differs from the default API contract.
    #[arg(long)]
    contract: Option<PathBuf>,
    /// Scenario parameter KEY=VALUE, repeatable (see `loadgen list`).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Open model: requests in flight at most (default: 2 s of the peak rate, at least 20).
    #[arg(long)]
    max_in_flight: Option<u32>,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// The target-stack binary for the local target.
    #[arg(long)]
    target_stack: Option<PathBuf>,
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
    /// Search: the SLO's p95 limit.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    slo_p95: Duration,
    /// Search: the SLO's error limit (5% or 0.05).
    #[arg(long, default_value = "5%")]
    slo_errors: String,
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
        Command::Run(args) => {
            let plan = match plan(*args) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("loadgen: {e:#}");
                    return 2;
                }
            };
            match crate::run::run(&plan).await {
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

fn plan(args: RunArgs) -> anyhow::Result<RunPlan> {
    let params: Vec<(String, String)> = args
        .params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--param {p:?} must look like KEY=VALUE"))
        })
        .collect::<anyhow::Result<_>>()?;
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

    let (model, level) = match (args.users, args.rate) {
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
    let search = (args.profile == ProfileName::Search)
        .then(|| -> anyhow::Result<SearchPlan> {
            let start = if args.users.is_some() || args.rate.is_some() {
                level
            } else {
                args.search_start
            };
            let slo_errors = Threshold::parse(&format!("errors<={}", args.slo_errors))
                .map_err(anyhow::Error::msg)?;
            Ok(SearchPlan {
                levels: profile::search_levels(start, args.search_step, args.search_max)
                    .map_err(anyhow::Error::msg)?,
                p95_us: args.slo_p95.as_secs_f64() * 1e6,
                max_error_rate: slo_errors.limit,
            })
        })
        .transpose()?;
    let thresholds = args
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if args.abort_on_fail && thresholds.is_empty() {
        bail!("--abort-on-fail needs at least one --threshold");
    }
    let target = match args.host {
        Some(host) => {
            if !(host.starts_with("http://") || host.starts_with("https://")) {
                bail!("--host {host:?} must be a URL such as http://127.0.0.1:8000");
            }
            if args.target_stack.is_some() || args.keep_stack_data {
                bail!("--target-stack and --keep-stack-data apply to the local target (no --host)");
            }
            TargetChoice::Host(host)
        }
        None => TargetChoice::Local {
            binary: args.target_stack,
            keep_data: args.keep_stack_data,
        },
    };
    Ok(RunPlan {
        scenario,
        profile: args.profile,
        model,
        level: search.as_ref().map_or(level, |s| s.levels[0]),
        hold: args.duration,
        time_scale: TimeScale::parse(args.time_scale).map_err(anyhow::Error::msg)?,
        search,
        target,
        thresholds,
        abort_on_fail: args.abort_on_fail,
        out_dir: args.out,
        request_timeout: args.timeout,
        command_line: std::env::args().collect(),
    })
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
