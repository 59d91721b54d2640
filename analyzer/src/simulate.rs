//! `analyze simulate`: a run's measured demand replayed through other scaling policies
//! (`stack.toml` files, as the local stack reads them), to compare what each would have
//! done before deploying it: the web group's requests (a scenario-1 run) or the worker
//! group's task arrivals (a scenario-2 run). The replay itself is the policy crate's
//! (`policy::replay`); this module takes its inputs from an analysis, each from one run,
//! and says where each came from.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use capacity_model::analysis::{Analysis, RunInfo, RunTimeline, Second, Section, WorkerCell};
use capacity_model::cost::PriceTable;
use policy::GroupSpec;
use policy::replay::{QueueModel, Replay, ReplayModel, replay, replay_queue};
use policy::stack_toml::StackGroups;
use serde::Serialize;

/// The group a run's demand reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The web group: requests (scenario 1).
    Web,
    /// The worker group: tasks on the queue (scenario 2).
    Worker,
}

impl Tier {
    /// The local stack's name for the group, which the timeline's series are keyed by.
    fn group(self) -> &'static str {
        match self {
            Tier::Web => "web",
            Tier::Worker => "worker",
        }
    }

    fn of(timeline: &RunTimeline) -> Option<Tier> {
        if timeline.seconds.iter().any(|s| s.requests > 0) {
            Some(Tier::Web)
        } else if timeline.seconds.iter().any(|s| s.tasks_enqueued.is_some()) {
            Some(Tier::Worker)
        } else {
            None
        }
    }

    fn spec(self, groups: &StackGroups) -> &GroupSpec {
        match self {
            Tier::Web => &groups.web,
            Tier::Worker => &groups.worker,
        }
    }
}

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
    pub group: Tier,
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
    #[serde(flatten)]
    pub demand: DemandInputs,
    pub cpus_per_instance: f64,
    pub launch_delay_s: f64,
    /// Scale-outs of the run whose launch → in service time gave the delay.
    pub launch_delay_from: usize,
}

/// What the demand's model is made of, per tier.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "demand", rename_all = "snake_case")]
pub enum DemandInputs {
    Requests {
        cpu_seconds_per_request: Option<f64>,
        /// Seconds with requests, CPU and in-service counts that the CPU cost came from.
        cpu_from_seconds: usize,
        capacity_per_instance_rps: Option<f64>,
        /// The load point the capacity came from and its sample size.
        capacity_from: Option<String>,
    },
    Tasks {
        /// The mean service time S and the tasks it is the mean of.
        service_time_s: f64,
        service_from_tasks: u64,
        /// The run's concurrency per worker instance (S was measured at it).
        slots_per_instance: u32,
        /// CPUs one busy slot used: the worker group's CPU-seconds over the run's busy
        /// slot-seconds (processed tasks × S).
        cpus_per_busy_slot: Option<f64>,
        cpu_from_seconds: usize,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub seconds_with_data: usize,
    /// In-service instance-hours over the seconds with data.
    pub in_service_hours: f64,
    pub timeline: String,
    /// Worker: the tasks' mean wait for a slot, as the run measured it (enqueue → start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_wait_s: Option<f64>,
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
    /// its CO2e, kg; `None` without a measured CPU cost.
    pub energy_kwh: Option<f64>,
    pub co2e_kg: Option<f64>,
    pub scale_outs: u32,
    pub scale_ins: u32,
    /// Web: seconds the demand per instance was above the measured capacity per instance.
    /// Worker: seconds that ended with tasks waiting for a slot.
    pub seconds_above_capacity: Option<u32>,
    /// Worker: tasks that got a slot within the replay, and their mean wait for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks_started: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_wait_s: Option<f64>,
    /// How the replay's in-service count matches the measured one.
    pub against_measured: Agreement,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub seconds_compared: usize,
    pub seconds_equal: usize,
    pub mean_abs_difference: Option<f64>,
}

const WEB_ASSUMPTIONS: &str = "a model, not a measurement: each second's measured requests \
    are spread evenly over the serving instances, an instance's CPU is that share times the \
    CPU-seconds a request cost in the run, a launch is in service (serves) after the run's \
    measured launch delay and its metrics count after the policy's warm-up, and time above \
    capacity compares the \
    demand per instance with the capacity per instance measured at one load point";

const WORKER_ASSUMPTIONS: &str = "a model, not a measurement: each second's measured task \
    arrivals wait in one FIFO queue for a free slot (the run's concurrency per instance) and \
    hold it for the run's mean service time, busy instances are protected from scale-in, an \
    instance's CPU is its busy slots times the CPU a busy slot used in the run (idle CPU \
    included), a launch is in service (takes tasks) after the run's measured launch delay and \
    its metrics count after the policy's warm-up; the policy file's worker concurrency is not \
    used, because S \
    was measured at the run's";

/// Replays the demand of `run_id` (or of the first run whose demand reached `tier`, or of
/// the first with any) through each policy file's group for that demand.
pub fn simulate(
    analysis: &Analysis,
    policies: &[PolicyFile],
    run_id: Option<&str>,
    tier: Option<Tier>,
    prices: &PriceTable,
) -> anyhow::Result<Simulation> {
    let (timeline, tier) = pick_run(analysis, run_id, tier)?;
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
    let group = group_key(timeline, tier);
    let cpus_per_instance = run.stack_config.as_ref().map_or(1.0, |s| s.instance_cpus);
    let (launch_delay_s, launch_delay_from) = launch_delay(analysis, run, &group);
    let launch_delay = std::time::Duration::from_secs_f64(launch_delay_s);
    let measured: Vec<Option<u32>> = timeline
        .seconds
        .iter()
        .map(|s| s.in_service.get(&group).map(|&n| n.round() as u32))
        .collect();
    let (demand, replayed, assumptions, measured_wait) = match tier {
        Tier::Web => {
            let demand: Vec<Option<f64>> = timeline
                .seconds
                .iter()
                .map(|s| Some(s.requests as f64))
                .collect();
            // Σ CPU-seconds / Σ requests over the seconds with requests and CPU.
            let (mut cpu, mut requests, mut cpu_from_seconds) = (0.0, 0.0, 0);
            for (second, cpu_seconds) in cpu_seconds(timeline, &group, cpus_per_instance) {
                if second.requests > 0 {
                    cpu += cpu_seconds;
                    requests += second.requests as f64;
                    cpu_from_seconds += 1;
                }
            }
            let cpu_seconds_per_request = (requests > 0.0).then(|| cpu / requests);
            let (capacity_per_instance_rps, capacity_from) = capacity(analysis);
            let model = ReplayModel {
                cpu_seconds_per_request,
                cpus_per_instance,
                capacity_per_instance: capacity_per_instance_rps,
                launch_delay,
            };
            let replayed = replays(policies, tier, |spec| replay(spec, &demand, &model))?;
            let inputs = DemandInputs::Requests {
                cpu_seconds_per_request,
                cpu_from_seconds,
                capacity_per_instance_rps,
                capacity_from,
            };
            (inputs, replayed, WEB_ASSUMPTIONS, None)
        }
        Tier::Worker => {
            let cell = worker_cell(analysis, run)?;
            let arrivals: Vec<Option<u64>> =
                timeline.seconds.iter().map(|s| s.tasks_enqueued).collect();
            let (cpu, cpu_from_seconds) = cpu_seconds(timeline, &group, cpus_per_instance)
                .fold((0.0, 0), |(cpu, n), (_, c)| (cpu + c, n + 1));
            let busy_slot_seconds = cell.processed as f64 * cell.service_mean_s;
            let cpus_per_busy_slot =
                (cpu_from_seconds > 0 && busy_slot_seconds > 0.0).then(|| cpu / busy_slot_seconds);
            let model = QueueModel {
                service_time: std::time::Duration::from_secs_f64(cell.service_mean_s),
                slots_per_instance: cell.concurrency.max(1),
                cpus_per_instance,
                cpus_per_busy_slot,
                launch_delay,
            };
            let replayed = replays(policies, tier, |spec| replay_queue(spec, &arrivals, &model))?;
            let inputs = DemandInputs::Tasks {
                service_time_s: cell.service_mean_s,
                service_from_tasks: cell.processed,
                slots_per_instance: model.slots_per_instance,
                cpus_per_busy_slot,
                cpu_from_seconds,
            };
            (inputs, replayed, WORKER_ASSUMPTIONS, Some(cell.wait_mean_s))
        }
    };
    let outcomes = policies
        .iter()
        .zip(&replayed)
        .map(|(file, replayed)| outcome(&file.name, replayed, &measured, prices))
        .collect();
    let with_data: Vec<u32> = measured.iter().flatten().copied().collect();
    Ok(Simulation {
        run_id: timeline.run_id.clone(),
        group: tier,
        seconds: timeline.seconds.len(),
        inputs: Inputs {
            demand,
            cpus_per_instance,
            launch_delay_s,
            launch_delay_from,
        },
        measured: Measured {
            seconds_with_data: with_data.len(),
            in_service_hours: with_data.iter().map(|&n| f64::from(n)).sum::<f64>() / 3600.0,
            timeline: runs(
                measured
                    .iter()
                    .map(|n| n.map_or("?".to_string(), |n| n.to_string())),
            ),
            mean_wait_s: measured_wait,
        },
        policies: outcomes,
        assumptions,
        priced_as: format!(
            "{} on demand in {}, prices of {} ({})",
            prices.prices.instance_type,
            prices.prices.region,
            prices.prices.date,
            prices.prices.source
        ),
    })
}

/// Each policy file's group for `tier`, replayed.
fn replays(
    policies: &[PolicyFile],
    tier: Tier,
    replay: impl Fn(&GroupSpec) -> Result<Replay, policy::SpecError>,
) -> anyhow::Result<Vec<Replay>> {
    policies
        .iter()
        .map(|file| {
            replay(tier.spec(&file.groups)).map_err(|e| anyhow::anyhow!("{}: {e}", file.name))
        })
        .collect()
}

/// The capacity per instance the analysis measured, and the load point it came from.
fn capacity(analysis: &Analysis) -> (Option<f64>, Option<String>) {
    match &analysis.capacity {
        Section::Available(capacity) => (
            capacity.rps_per_instance,
            capacity
                .knee
                .best_within_slo
                .as_ref()
                .map(|point| format!("{} ({} requests)", point.label, point.samples)),
        ),
        Section::Unavailable { .. } => (None, None),
    }
}

fn worker_cell<'a>(analysis: &'a Analysis, run: &RunInfo) -> anyhow::Result<&'a WorkerCell> {
    analysis
        .workers
        .iter()
        .find(|cell| cell.run_id == run.run_id && cell.processed > 0)
        .with_context(|| {
            format!(
                "run {} processed no task, so it measured no service time to replay",
                run.run_id
            )
        })
}

/// The run's mean launch → in service time of `group`'s scale-outs (the boot), and how
/// many scale-outs it is the mean of.
///
/// Analyses written before issue 21 measured in service after the warm-up; their delay then
/// includes it, and the replay, which counts an instance in service from its launch, puts
/// it where those runs measured it all the same.
fn launch_delay(analysis: &Analysis, run: &RunInfo, group: &str) -> (f64, usize) {
    let delays: Vec<f64> = analysis
        .scale_outs
        .iter()
        .filter(|s| s.run_id == run.run_id && s.group == group)
        .filter_map(|s| s.activity_to_in_service_s)
        .collect();
    if delays.is_empty() {
        return (0.0, 0);
    }
    (
        delays.iter().sum::<f64>() / delays.len() as f64,
        delays.len(),
    )
}

/// The timeline's name for the tier's group: the local stack's name, or on AWS the group
/// whose name contains it (`aforo-web-asg`).
fn group_key(timeline: &RunTimeline, tier: Tier) -> String {
    let name = tier.group();
    let mut containing = None;
    for key in timeline.seconds.iter().flat_map(|s| s.in_service.keys()) {
        if key == name {
            return key.clone();
        }
        if containing.is_none() && key.contains(name) {
            containing = Some(key);
        }
    }
    containing.map_or_else(|| name.to_string(), Clone::clone)
}

fn pick_run<'a>(
    analysis: &'a Analysis,
    run_id: Option<&str>,
    tier: Option<Tier>,
) -> anyhow::Result<(&'a RunTimeline, Tier)> {
    let timeline = match run_id {
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
            })?,
        None => analysis
            .timelines
            .iter()
            .find(|t| Tier::of(t).is_some() && (tier.is_none() || Tier::of(t) == tier))
            .with_context(|| match tier {
                Some(Tier::Worker) => "no run in the analysis queued tasks for the worker \
                    group: simulate --group worker replays a scenario-2 run"
                    .to_string(),
                Some(Tier::Web) => "no run in the analysis sent requests to the web group: \
                    simulate --group web replays a scenario-1 (or other HTTP) run"
                    .to_string(),
                None => "no run in the analysis sent requests to the web group or queued \
                    tasks: simulate replays a scenario-1 (or other HTTP) run or a scenario-2 run"
                    .to_string(),
            })?,
    };
    let Some(found) = Tier::of(timeline) else {
        anyhow::bail!(
            "run {} has neither requests nor tasks per second to replay (an analysis written \
             before aforo kept tasks per second lacks them: run `analyze` on the run again)",
            timeline.run_id
        );
    };
    if let Some(asked) = tier
        && asked != found
    {
        anyhow::bail!(
            "run {} is a {} run; --group {} needs a run whose demand reached that group",
            timeline.run_id,
            found.group(),
            asked.group()
        );
    }
    Ok((timeline, found))
}

/// The seconds that measured the group's CPU and in-service count, each with the group's
/// CPU-seconds in it (CPU share × instances × CPUs).
fn cpu_seconds<'a>(
    timeline: &'a RunTimeline,
    group: &'a str,
    cpus: f64,
) -> impl Iterator<Item = (&'a Second, f64)> + 'a {
    timeline.seconds.iter().filter_map(move |second| {
        let cpu = second.cpu_percent.get(group)?;
        let instances = second.in_service.get(group)?;
        Some((second, cpu / 100.0 * instances * cpus))
    })
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
            Some(cpu) => Some(prices.energy_kwh(f64::from(s.in_service) / 3600.0, cpu)),
            None if s.in_service == 0 => Some(0.0),
            None => None,
        })
        .sum();
    PolicyOutcome {
        policy: name.to_string(),
        timeline: runs(replayed.seconds.iter().map(|s| s.in_service.to_string())),
        instance_hours: replayed.instance_hours,
        instance_usd: prices.instance_cost(replayed.instance_hours),
        co2e_kg: energy_kwh.map(|kwh| kwh * prices.grid_kg_co2e_per_kwh()),
        energy_kwh,
        scale_outs: replayed.scale_outs,
        scale_ins: replayed.scale_ins,
        seconds_above_capacity: replayed.seconds_above_capacity,
        tasks_started: replayed.tasks_started,
        mean_wait_s: replayed.mean_wait_s,
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
        simulation.run_id,
        simulation.seconds,
        simulation.group.group(),
        simulation.assumptions
    );
    let _ = writeln!(out, "Inputs, measured in that run:");
    match &i.demand {
        DemandInputs::Requests {
            cpu_seconds_per_request,
            cpu_from_seconds,
            capacity_per_instance_rps,
            capacity_from,
        } => {
            let _ = writeln!(
                out,
                "  CPU per request: {} (over {} seconds, {} CPU per instance)",
                cpu_seconds_per_request
                    .map_or("no data".to_string(), |c| format!("{:.3} ms", c * 1000.0)),
                cpu_from_seconds,
                i.cpus_per_instance
            );
            let _ = writeln!(
                out,
                "  capacity per instance: {}",
                match (capacity_per_instance_rps, capacity_from) {
                    (Some(rps), Some(from)) =>
                        format!("{rps:.1} requests/s, from load point {from}"),
                    (Some(rps), None) => format!("{rps:.1} requests/s"),
                    _ => "no data (time above capacity unknown)".to_string(),
                }
            );
        }
        DemandInputs::Tasks {
            service_time_s,
            service_from_tasks,
            slots_per_instance,
            cpus_per_busy_slot,
            cpu_from_seconds,
        } => {
            let _ = writeln!(
                out,
                "  service time S: {service_time_s:.1} s (mean of {service_from_tasks} tasks), \
                 {slots_per_instance} slot(s) per instance"
            );
            let _ = writeln!(
                out,
                "  CPU per busy slot: {} (over {} seconds, {} CPU per instance)",
                cpus_per_busy_slot.map_or("no data".to_string(), |c| format!("{c:.2} CPU")),
                cpu_from_seconds,
                i.cpus_per_instance
            );
        }
    }
    let _ = writeln!(
        out,
        "  launch delay: {:.1} s ({})",
        i.launch_delay_s,
        if i.launch_delay_from == 0 {
            "no launch measured: a launch serves at once".to_string()
        } else {
            format!("launch → in service of {} scale-outs", i.launch_delay_from)
        }
    );
    let _ = writeln!(out, "Costs (estimates): {}", simulation.priced_as);
    let m = &simulation.measured;
    let _ = writeln!(
        out,
        "Measured: {:.4} in-service instance-hours over {} seconds with data; in service {}{}",
        m.in_service_hours,
        m.seconds_with_data,
        m.timeline,
        m.mean_wait_s
            .map_or(String::new(), |w| format!("; mean wait {w:.1} s"))
    );
    for p in &simulation.policies {
        let _ = writeln!(out, "\nPolicy {}:", p.policy);
        let _ = writeln!(out, "  instances serving: {}", p.timeline);
        let pressure = match simulation.group {
            Tier::Web => format!(
                "above capacity {}",
                p.seconds_above_capacity
                    .map_or("unknown".to_string(), |s| format!("{s} s"))
            ),
            Tier::Worker => format!(
                "tasks waiting for a slot in {}, {} tasks started, mean wait {}",
                p.seconds_above_capacity
                    .map_or("no data".to_string(), |s| format!("{s} s")),
                p.tasks_started
                    .map_or("no data".to_string(), |n| n.to_string()),
                p.mean_wait_s
                    .map_or("no data".to_string(), |w| format!("{w:.1} s"))
            ),
        };
        let _ = writeln!(
            out,
            "  instance-hours {:.4} (${:.5}, {}); scale-outs {}, scale-ins {}; {pressure}",
            p.instance_hours,
            p.instance_usd,
            match (p.energy_kwh, p.co2e_kg) {
                (Some(kwh), Some(kg)) =>
                    format!("{:.2} Wh, {:.2} g CO2e", kwh * 1000.0, kg * 1000.0),
                _ => "energy: no data".to_string(),
            },
            p.scale_outs,
            p.scale_ins,
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
    tier: Option<Tier>,
    prices: Option<&Path>,
) -> anyhow::Result<Simulation> {
    let prices = crate::cost::read_prices(prices)?;
    let analysis = crate::gate::read_analysis(analysis)?;
    let files = policies
        .iter()
        .map(|p| PolicyFile::read(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    simulate(&analysis, &files, run_id, tier, &prices)
}
