//! `analyze simulate`: a run's measured web demand replayed through other scaling policies
//! (`stack.toml` files, as the local stack reads them), to compare what each would have
//! done before deploying it. The replay itself is the policy crate's (`policy::replay`);
//! this module takes its inputs from an analysis, each from one run, and says where each
//! came from.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use capacity_model::analysis::{Analysis, RunTimeline, Section};
use capacity_model::cost::PriceTable;
use policy::replay::{Replay, ReplayModel, replay};
use policy::stack_toml::StackGroups;
use serde::Serialize;

/// The group replayed: the web group, whose demand is the requests loadgen measured.
const GROUP: &str = "web";

/// A `--policy` argument: a `stack.toml`, or `default` for the local stack's defaults.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub name: String,
    pub groups: StackGroups,
}

impl PolicyFile {
    pub fn read(argument: &str) -> anyhow::Result<Self> {
        let text = if argument == "default" {
            String::new()
        } else {
            std::fs::read_to_string(argument).with_context(|| {
                format!("cannot read {argument}: give a stack.toml, or `default` for the local stack's defaults")
            })?
        };
        let groups = StackGroups::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "{argument} is not a valid stack configuration: {e} \
                 (every key is documented in target-stack/policy/src/default-stack.toml)"
            )
        })?;
        Ok(PolicyFile {
            name: argument.to_string(),
            groups,
        })
    }
}

/// What `analyze simulate` prints (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub run_id: String,
    pub group: &'static str,
    pub seconds: usize,
    pub inputs: Inputs,
    /// What the run's own group did, as measured (in-service instances per second).
    pub measured: Measured,
    pub policies: Vec<PolicyOutcome>,
    pub assumptions: &'static str,
    /// The price table's instance type, region and date the costs are of.
    pub priced_as: String,
}

/// The model's inputs, each measured in the replayed run, with what it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    pub cpu_seconds_per_request: Option<f64>,
    /// Seconds with requests, CPU and in-service counts that the CPU cost came from.
    pub cpu_from_seconds: usize,
    pub cpus_per_instance: f64,
    pub capacity_per_instance_rps: Option<f64>,
    /// The load point the capacity came from and its sample size.
    pub capacity_from: Option<String>,
    pub launch_delay_s: f64,
    /// Scale-outs of the run whose launch → in service time gave the delay.
    pub launch_delay_from: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub seconds_with_data: usize,
    /// In-service instance-hours over the seconds with data.
    pub in_service_hours: f64,
    pub timeline: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyOutcome {
    pub policy: String,
    /// Instances serving, as runs: `1×4 s, 3×94 s`.
    pub timeline: String,
    pub instance_hours: f64,
    /// The instances' on-demand cost (the balancer and database cost the same under every
    /// policy), an estimate from the price table.
    pub instance_usd: f64,
    /// The instances' energy at the modelled CPU (Cloud Carbon Footprint's model), kWh, and
    /// its CO2e, kg; `None` without a measured CPU cost per request.
    pub energy_kwh: Option<f64>,
    pub co2e_kg: Option<f64>,
    pub scale_outs: u32,
    pub scale_ins: u32,
    /// Seconds the demand per instance was above the measured capacity per instance.
    pub seconds_above_capacity: Option<u32>,
    /// How the replay's in-service count matches the measured one.
    pub against_measured: Agreement,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub seconds_compared: usize,
    pub seconds_equal: usize,
    pub mean_abs_difference: Option<f64>,
}

const ASSUMPTIONS: &str = "a model, not a measurement: each second's measured requests are \
    spread evenly over the serving instances, an instance's CPU is that share times the \
    CPU-seconds a request cost in the run, a launch serves after the run's measured launch \
    delay and is in service after the policy's warm-up, and time above capacity compares the \
    demand per instance with the capacity per instance measured at one load point";

/// Replays the web demand of `run_id` (or of the first run with requests) through each
/// policy file's web group.
pub fn simulate(
    analysis: &Analysis,
    policies: &[PolicyFile],
    run_id: Option<&str>,
    prices: &PriceTable,
) -> anyhow::Result<Simulation> {
    let timeline = pick_run(analysis, run_id)?;
    let run = analysis
        .runs
        .iter()
        .find(|r| r.run_id == timeline.run_id)
        .with_context(|| {
            format!(
                "the analysis has a timeline for {} but no run",
                timeline.run_id
            )
        })?;
    let stack = run.stack_config.as_ref();
    let cpus_per_instance = stack.map_or(1.0, |s| s.instance_cpus);
    let demand: Vec<Option<f64>> = timeline
        .seconds
        .iter()
        .map(|s| Some(s.requests as f64))
        .collect();
    let (cpu_seconds_per_request, cpu_from_seconds) = cpu_cost(timeline, cpus_per_instance);
    let (capacity_per_instance_rps, capacity_from) = match &analysis.capacity {
        Section::Available(capacity) => (
            capacity.rps_per_instance,
            capacity
                .knee
                .best_within_slo
                .as_ref()
                .map(|point| format!("{} ({} requests)", point.label, point.samples)),
        ),
        Section::Unavailable { .. } => (None, None),
    };
    let warmup = stack
        .and_then(|s| s.groups.iter().find(|g| g.name == GROUP))
        .map_or(0.0, |g| g.warmup_secs);
    let delays: Vec<f64> = analysis
        .scale_outs
        .iter()
        .filter(|s| s.run_id == run.run_id && s.group == GROUP)
        .filter_map(|s| s.activity_to_in_service_s)
        .collect();
    let launch_delay_s = if delays.is_empty() {
        0.0
    } else {
        (delays.iter().sum::<f64>() / delays.len() as f64 - warmup).max(0.0)
    };
    let inputs = Inputs {
        cpu_seconds_per_request,
        cpu_from_seconds,
        cpus_per_instance,
        capacity_per_instance_rps,
        capacity_from,
        launch_delay_s,
        launch_delay_from: delays.len(),
    };
    let model = ReplayModel {
        cpu_seconds_per_request,
        cpus_per_instance,
        capacity_per_instance: capacity_per_instance_rps,
        launch_delay: std::time::Duration::from_secs_f64(launch_delay_s),
    };
    let measured: Vec<Option<u32>> = timeline
        .seconds
        .iter()
        .map(|s| s.in_service.get(GROUP).map(|&n| n.round() as u32))
        .collect();
    let outcomes = policies
        .iter()
        .map(|file| {
            let replayed = replay(&file.groups.web, &demand, &model)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.name))?;
            Ok(outcome(&file.name, &replayed, &measured, prices))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let with_data: Vec<u32> = measured.iter().flatten().copied().collect();
    Ok(Simulation {
        run_id: timeline.run_id.clone(),
        group: GROUP,
        seconds: timeline.seconds.len(),
        inputs,
        measured: Measured {
            seconds_with_data: with_data.len(),
            in_service_hours: with_data.iter().map(|&n| f64::from(n)).sum::<f64>() / 3600.0,
            timeline: runs(
                measured
                    .iter()
                    .map(|n| n.map_or("?".to_string(), |n| n.to_string())),
            ),
        },
        policies: outcomes,
        assumptions: ASSUMPTIONS,
        priced_as: format!(
            "{} on demand in {}, prices of {} ({})",
            prices.prices.instance_type,
            prices.prices.region,
            prices.prices.date,
            prices.prices.source
        ),
    })
}

fn pick_run<'a>(analysis: &'a Analysis, run_id: Option<&str>) -> anyhow::Result<&'a RunTimeline> {
    let with_requests = |t: &&RunTimeline| t.seconds.iter().any(|s| s.requests > 0);
    match run_id {
        Some(id) => analysis
            .timelines
            .iter()
            .find(|t| t.run_id == id)
            .with_context(|| {
                let ids: Vec<&str> = analysis
                    .timelines
                    .iter()
                    .map(|t| t.run_id.as_str())
                    .collect();
                format!("no run {id} in the analysis; it has {}", ids.join(", "))
            }),
        None => analysis.timelines.iter().find(with_requests).context(
            "no run in the analysis sent requests to the web group: simulate replays a \
             scenario-1 (or other HTTP) run",
        ),
    }
}

/// CPU-seconds per request over the seconds that measured requests, the web group's CPU and
/// its in-service count: Σ(CPU share × instances × CPUs) / Σ requests.
fn cpu_cost(timeline: &RunTimeline, cpus: f64) -> (Option<f64>, usize) {
    let mut cpu_seconds = 0.0;
    let mut requests = 0.0;
    let mut seconds = 0;
    for second in &timeline.seconds {
        if let (Some(cpu), Some(instances)) =
            (second.cpu_percent.get(GROUP), second.in_service.get(GROUP))
            && second.requests > 0
        {
            cpu_seconds += cpu / 100.0 * instances * cpus;
            requests += second.requests as f64;
            seconds += 1;
        }
    }
    ((requests > 0.0).then(|| cpu_seconds / requests), seconds)
}

fn outcome(
    name: &str,
    replayed: &Replay,
    measured: &[Option<u32>],
    prices: &PriceTable,
) -> PolicyOutcome {
    let pairs: Vec<(u32, u32)> = replayed
        .seconds
        .iter()
        .zip(measured)
        .filter_map(|(r, m)| m.map(|m| (r.in_service, m)))
        .collect();
    let differences: Vec<f64> = pairs
        .iter()
        .map(|&(r, m)| f64::from(r.abs_diff(m)))
        .collect();
    // Each second's serving instances at that second's CPU; unknown if any second's is.
    let energy_kwh: Option<f64> = replayed
        .seconds
        .iter()
        .map(|s| match s.cpu {
            Some(cpu) => Some(prices.energy_kwh(f64::from(s.serving) / 3600.0, cpu)),
            None if s.serving == 0 => Some(0.0),
            None => None,
        })
        .sum();
    PolicyOutcome {
        policy: name.to_string(),
        timeline: runs(replayed.seconds.iter().map(|s| s.serving.to_string())),
        instance_hours: replayed.instance_hours,
        instance_usd: prices.instance_cost(replayed.instance_hours),
        co2e_kg: energy_kwh.map(|kwh| kwh * prices.grid_kg_co2e_per_kwh()),
        energy_kwh,
        scale_outs: replayed.scale_outs,
        scale_ins: replayed.scale_ins,
        seconds_above_capacity: replayed.seconds_above_capacity,
        against_measured: Agreement {
            seconds_compared: pairs.len(),
            seconds_equal: pairs.iter().filter(|(r, m)| r == m).count(),
            mean_abs_difference: (!differences.is_empty())
                .then(|| differences.iter().sum::<f64>() / differences.len() as f64),
        },
    }
}

/// A sequence as runs of equal values: `1×4 s, 3×94 s`.
fn runs(values: impl Iterator<Item = String>) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for value in values {
        match out.last_mut() {
            Some((last, count)) if *last == value => *count += 1,
            _ => out.push((value, 1)),
        }
    }
    out.iter()
        .map(|(value, count)| format!("{value}×{count} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The simulation for a person.
pub fn render(simulation: &Simulation) -> String {
    let mut out = String::new();
    let i = &simulation.inputs;
    let _ = writeln!(
        out,
        "Replay of run {} ({} s), {} group.\nThis is {}.",
        simulation.run_id, simulation.seconds, simulation.group, simulation.assumptions
    );
    let _ = writeln!(out, "Inputs, measured in that run:");
    let _ = writeln!(
        out,
        "  CPU per request: {} (over {} seconds, {} CPU per instance)",
        i.cpu_seconds_per_request
            .map_or("no data".to_string(), |c| format!("{:.3} ms", c * 1000.0)),
        i.cpu_from_seconds,
        i.cpus_per_instance
    );
    let _ = writeln!(
        out,
        "  capacity per instance: {}",
        match (i.capacity_per_instance_rps, &i.capacity_from) {
            (Some(rps), Some(from)) => format!("{rps:.1} requests/s, from load point {from}"),
            (Some(rps), None) => format!("{rps:.1} requests/s"),
            _ => "no data (time above capacity unknown)".to_string(),
        }
    );
    let _ = writeln!(
        out,
        "  launch delay: {:.1} s ({})",
        i.launch_delay_s,
        if i.launch_delay_from == 0 {
            "no launch measured: a launch serves at once".to_string()
        } else {
            format!(
                "launch → in service of {} scale-outs, less the warm-up",
                i.launch_delay_from
            )
        }
    );
    let _ = writeln!(out, "Costs (estimates): {}", simulation.priced_as);
    let m = &simulation.measured;
    let _ = writeln!(
        out,
        "Measured: {:.4} in-service instance-hours over {} seconds with data; in service {}",
        m.in_service_hours, m.seconds_with_data, m.timeline
    );
    for p in &simulation.policies {
        let _ = writeln!(out, "\nPolicy {}:", p.policy);
        let _ = writeln!(out, "  instances serving: {}", p.timeline);
        let _ = writeln!(
            out,
            "  instance-hours {:.4} (${:.5}, {}); scale-outs {}, scale-ins {}; above capacity {}",
            p.instance_hours,
            p.instance_usd,
            match (p.energy_kwh, p.co2e_kg) {
                (Some(kwh), Some(kg)) =>
                    format!("{:.2} Wh, {:.2} g CO2e", kwh * 1000.0, kg * 1000.0),
                _ => "energy: no data".to_string(),
            },
            p.scale_outs,
            p.scale_ins,
            p.seconds_above_capacity
                .map_or("unknown".to_string(), |s| format!("{s} s"))
        );
        let a = &p.against_measured;
        let _ = writeln!(
            out,
            "  in service as measured in {} of {} seconds (mean difference {})",
            a.seconds_equal,
            a.seconds_compared,
            a.mean_abs_difference
                .map_or("no data".to_string(), |d| format!("{d:.2} instances"))
        );
    }
    out
}

/// Reads the analysis and the policy files, and replays.
pub fn run(
    analysis: &Path,
    policies: &[String],
    run_id: Option<&str>,
    prices: Option<&Path>,
) -> anyhow::Result<Simulation> {
    let prices = crate::cost::read_prices(prices)?;
    let analysis = crate::gate::read_analysis(analysis)?;
    let files = policies
        .iter()
        .map(|p| PolicyFile::read(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    simulate(&analysis, &files, run_id, &prices)
}
