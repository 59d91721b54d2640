//! Runs a workload on Goose, in the closed or the open model.
//!
//! Goose runs the users: their lifecycle, the test plan's ramps, their HTTP clients. Each
//! Goose user has one on-start transaction (the scenario's setup) and one repeating
//! transaction (one scenario iteration); Goose's own metrics are off, because the
//! scenarios report each request, timed to the microsecond, to our [`Recorder`].
//!
//! - Closed model: users = the stage levels, as a Goose test plan (whole seconds).
//! - Open model: Goose users are slots that take arrivals from a shared [`Schedule`]. Each
//!   waits until its arrival is due and is timed from that instant, so when every slot is
//!   stuck on a stalled target the delay still shows in the latencies (no coordinated
//!   omission). The schedule starts once every slot has logged in. Arrivals that were
//!   due but not yet taken by a slot when the run is stopped early are recorded as errors
//!   of the endpoint [`UNSENT`] at their due time: every arrival that was due is counted.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;
use scenarios::get::GetScenario;
use scenarios::profile::StageSpec;
use scenarios::record::{Exchange, Failure, Outcome, Recorder as _, RequestRecord, wall_clock};
use scenarios::scenario1::{Scenario1, User};

use crate::recorder::Recorder;
use crate::schedule::Schedule;

/// What the users do.
#[derive(Debug, Clone)]
pub enum Workload {
    Scenario1(Arc<Scenario1>),
    Get(Arc<GetScenario>),
}

impl Workload {
    async fn setup(&self, ex: &mut Exchange<'_>, index: u64) -> Session {
        match self {
            Workload::Scenario1(s) => {
                let mut user = User::new(index);
                s.setup(ex, &mut user).await;
                Session::Web(user)
            }
            Workload::Get(_) => Session::Get,
        }
    }

    async fn iterate(&self, ex: &mut Exchange<'_>, session: &mut Session) {
        match (self, session) {
            (Workload::Scenario1(s), Session::Web(user)) => s.iterate(ex, user).await,
            (Workload::Get(g), _) => g.iterate(ex).await,
            (Workload::Scenario1(_), Session::Get) => unreachable!("sessions match workloads"),
        }
    }
}

/// A Goose user's state between transactions.
#[derive(Clone)]
enum Session {
    Web(User),
    Get,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    Closed,
    Open { max_in_flight: u32 },
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub host: String,
    pub model: Model,
    /// Stage levels are users (closed) or arrivals per second (open).
    pub stages: Vec<StageSpec>,
    pub request_timeout: Duration,
}

/// How the run went, beyond the recorded requests.
#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    /// Open model: arrivals sent and those that started over 10 ms late because
    /// every slot was busy.
    pub arrivals: u64,
    /// Open model: arrivals that were due but never sent because the run stopped early
    /// while every slot was busy (recorded as errors of [`UNSENT`]).
    pub unsent: u64,
    pub late_arrivals: u64,
    pub late_all_busy: u64,
    /// Set when the run stopped before its plan ended (Ctrl-C, abort on a threshold).
    pub stopped_early: Option<String>,
}

/// The endpoint under which an open-model arrival that was due but never sent (the run
/// stopped first) is recorded, as an error without latency. The scenario picks a step only
/// when it sends, so the endpoint it would have used is unknown.
pub const UNSENT: &str = "unsent";

/// A late start beyond this is reported (the generator, not the target, set the pace).
const LATE: Duration = Duration::from_millis(10);

struct OpenState {
    schedule: Arc<Schedule>,
    slots: u32,
    ready: AtomicU32,
    /// Arrival numbers, released at their due time by the dispatcher thread.
    arrivals: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<u64>>,
    dispatcher: std::sync::Mutex<Option<Dispatcher>>,
    taken: AtomicU64,
    /// Slots working on an arrival right now.
    busy: AtomicU32,
    late: AtomicU64,
    /// Late arrivals that found every other slot busy (the rest were late because the
    /// generator itself was slow to run).
    late_all_busy: AtomicU64,
    /// Due arrivals not sent because the run stopped early.
    unsent: AtomicU64,
    finished: AtomicBool,
}

/// Starts the dispatcher when every slot is ready.
struct Dispatcher {
    sender: tokio::sync::mpsc::UnboundedSender<u64>,
}

struct Shared {
    /// When the stages start: Goose's start (closed), every slot logged in (open).
    stage_zero: Arc<OnceLock<Instant>>,
    workload: Workload,
    recorder: Arc<Recorder>,
    next_user: AtomicU64,
    open: Option<OpenState>,
}

/// Reason given to Goose's kill switch when the open schedule runs out.
const SCHEDULE_DONE: &str = "the arrival schedule is complete";

pub async fn run(
    config: &EngineConfig,
    workload: Workload,
    recorder: Arc<Recorder>,
    stage_zero: Arc<OnceLock<Instant>>,
) -> anyhow::Result<EngineReport> {
    // Goose's kill switch is process-wide and stays set after a run that was stopped.
    goose::reset_killswitch();
    let open = match config.model {
        Model::Closed => None,
        Model::Open { max_in_flight } => Some({
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            OpenState {
                schedule: Arc::new(Schedule::new(&config.stages)),
                slots: max_in_flight.max(1),
                arrivals: tokio::sync::Mutex::new(receiver),
                dispatcher: std::sync::Mutex::new(Some(Dispatcher { sender })),
                taken: AtomicU64::new(0),
                busy: AtomicU32::new(0),
                late_all_busy: AtomicU64::new(0),
                ready: AtomicU32::new(0),
                late: AtomicU64::new(0),
                unsent: AtomicU64::new(0),
                finished: AtomicBool::new(false),
            }
        }),
    };
    let shared = Arc::new(Shared {
        stage_zero,
        workload,
        recorder,
        next_user: AtomicU64::new(0),
        open,
    });

    let setup: TransactionFunction = {
        let shared = Arc::clone(&shared);
        Arc::new(move |user: &mut GooseUser| {
            let shared = Arc::clone(&shared);
            Box::pin(async move {
                let client = user.client.clone();
                let base = user.base_url.to_string();
                let index = shared.next_user.fetch_add(1, Ordering::Relaxed);
                let mut ex = Exchange::new(&client, &base, &*shared.recorder, None);
                let session = shared.workload.setup(&mut ex, index).await;
                user.set_session_data(session);
                if let Some(open) = &shared.open
                    && open.ready.fetch_add(1, Ordering::AcqRel) + 1 == open.slots
                {
                    let zero = Instant::now();
                    let _ = shared.stage_zero.set(zero);
                    open.start_dispatcher(zero);
                }
                Ok(())
            })
        })
    };
    let iterate: TransactionFunction = {
        let shared = Arc::clone(&shared);
        Arc::new(move |user: &mut GooseUser| {
            let shared = Arc::clone(&shared);
            Box::pin(async move {
                let client = user.client.clone();
                let base = user.base_url.to_string();
                let due = match &shared.open {
                    None => None,
                    Some(open) => match next_due(open, &shared).await {
                        Some(due) => Some(due),
                        None => return Ok(()),
                    },
                };
                let Some(session) = user.get_session_data_mut::<Session>() else {
                    return Ok(());
                };
                let mut ex = Exchange::new(&client, &base, &*shared.recorder, due);
                shared.workload.iterate(&mut ex, session).await;
                if let Some(open) = &shared.open {
                    open.busy.fetch_sub(1, Ordering::AcqRel);
                }
                Ok(())
            })
        })
    };

    let plan = match &shared.open {
        None => closed_plan(&config.stages),
        Some(open) => {
            // All slots at once; the schedule, not the plan, ends the run.
            let horizon = whole_seconds(scenarios::profile::total(&config.stages)) + 3600;
            format!("{0},0s;{0},{horizon}s;0,0s", open.slots)
        }
    };
    let timeout = config.request_timeout.as_secs().max(1).to_string();
    let args = [
        "--host",
        &config.host,
        "--test-plan",
        &plan,
        "--timeout",
        &timeout,
        "--quiet",
        "--no-metrics",
        "--no-print-metrics",
        "--no-error-summary",
        "--no-telnet",
    ];
    let goose_config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| anyhow::anyhow!("cannot configure Goose: {e}"))?;
    let scenario = Scenario::new("aforo")
        .register_transaction(Transaction::new(setup).set_name("setup").set_on_start())
        .register_transaction(Transaction::new(iterate).set_name("iterate"));
    let watchdog = if shared.open.is_none() {
        let _ = shared.stage_zero.set(Instant::now());
        // Goose ends a closed plan by itself; should it not (see closed_plan), the run
        // must still end.
        let planned = scenarios::profile::total(&effective_stages(&config.stages, Model::Closed));
        let grace = (planned / 10).max(Duration::from_secs(10));
        Some(tokio::spawn(async move {
            tokio::time::sleep(planned + grace).await;
            crate::run::stop(format!(
                "the plan did not end {grace:?} after its planned {planned:?}; stopped"
            ));
        }))
    } else {
        None
    };
    GooseAttack::initialize_with_config(goose_config)
        .map_err(|e| anyhow::anyhow!("cannot start Goose: {e}"))?
        .register_scenario(scenario)
        .execute()
        .await
        .map_err(|e| anyhow::anyhow!("the load test failed: {e}"))?;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }

    let mut report = EngineReport::default();
    if let Some(open) = &shared.open {
        // Every slot has stopped. Arrivals released (due) that no slot took: the run was
        // stopped early while every slot was busy.
        if let Some(zero) = shared.stage_zero.get() {
            let mut arrivals = open.arrivals.lock().await;
            while let Ok(k) = arrivals.try_recv() {
                open.record_unsent(
                    &shared.recorder,
                    *zero + open.schedule.due(k).unwrap_or_default(),
                );
            }
        }
        report.unsent = open.unsent.load(Ordering::Relaxed);
        report.arrivals = open.taken.load(Ordering::Relaxed);
        report.late_arrivals = open.late.load(Ordering::Relaxed);
        report.late_all_busy = open.late_all_busy.load(Ordering::Relaxed);
        if !open.finished.load(Ordering::Relaxed) && goose::is_killswitch_triggered() {
            report.stopped_early = Some(stop_reason());
        }
    } else if goose::is_killswitch_triggered() {
        report.stopped_early = Some(stop_reason());
    }
    Ok(report)
}

/// Why the kill switch was pulled, as recorded by whoever pulled it.
fn stop_reason() -> String {
    crate::run::take_stop_reason().unwrap_or_else(|| "interrupted (Ctrl-C)".to_string())
}

impl OpenState {
    /// Records an arrival due at `due` that was never sent.
    fn record_unsent(&self, recorder: &Recorder, due: Instant) {
        self.unsent.fetch_add(1, Ordering::Relaxed);
        recorder.record(RequestRecord {
            endpoint: UNSENT,
            at: wall_clock(due),
            latency: Duration::ZERO,
            outcome: Outcome::Failed(Failure::Unsent),
            success: false,
            bytes_sent: 0,
            bytes_received: 0,
        });
    }

    /// Releases arrival k at `zero + due(k)` from a thread of its own: nanosleep wakes
    /// within tens of microseconds, where tokio's timer rounds up to the next millisecond,
    /// and timer slack would count as latency measured from the due time.
    fn start_dispatcher(&self, zero: Instant) {
        let Some(Dispatcher { sender }) = self
            .dispatcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let schedule = Arc::clone(&self.schedule);
        std::thread::Builder::new()
            .name("aforo-dispatch".into())
            .spawn(move || {
                for k in 0..schedule.len() {
                    let Some(offset) = schedule.due(k) else { break };
                    let due = zero + offset;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    if goose::is_killswitch_triggered() || sender.send(k).is_err() {
                        break;
                    }
                }
                // Dropping the sender tells the slots the schedule is over.
            })
            .expect("spawn the dispatcher thread");
    }
}

/// Takes the next arrival once it is due. None when the schedule is over or the run was
/// stopped (an arrival taken then is recorded as unsent).
async fn next_due(open: &OpenState, shared: &Shared) -> Option<Instant> {
    let arrival = open.arrivals.lock().await.recv().await;
    let (Some(k), Some(zero)) = (arrival, shared.stage_zero.get()) else {
        if !open.finished.swap(true, Ordering::AcqRel) {
            goose::trigger_killswitch(SCHEDULE_DONE);
        }
        // Let Goose stop this user without spinning.
        tokio::time::sleep(Duration::from_millis(50)).await;
        return None;
    };
    let due = *zero + open.schedule.due(k).unwrap_or_default();
    if goose::is_killswitch_triggered() {
        // Stopped early (the schedule's own end leaves no arrival behind): not sent now.
        open.record_unsent(&shared.recorder, due);
        tokio::time::sleep(Duration::from_millis(50)).await;
        return None;
    }
    open.taken.fetch_add(1, Ordering::Relaxed);
    let others_busy = open.busy.fetch_add(1, Ordering::AcqRel);
    if due.elapsed() > LATE {
        open.late.fetch_add(1, Ordering::Relaxed);
        if others_busy + 1 >= open.slots {
            open.late_all_busy.fetch_add(1, Ordering::Relaxed);
        }
    }
    Some(due)
}

/// A stage's length as Goose runs it: whole seconds, at least one for a stage that is not
/// empty.
fn plan_seconds(d: Duration) -> u64 {
    whole_seconds(d).max(u64::from(!d.is_zero()))
}

fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().round() as u64
}

/// The Goose test plan for closed-model stages. Goose counts whole seconds, so each
/// stage is rounded, and a stage that is not empty lasts at least a second.
pub fn closed_plan(stages: &[StageSpec]) -> String {
    let mut steps = Vec::new();
    let mut current = 0;
    for stage in stages {
        let users = stage.level.round().max(0.0) as u64;
        let seconds = plan_seconds(stage.duration);
        // A jump is a zero-length step; Goose 0.19 never leaves a zero-length step that
        // changes nothing, so one is written only when the count changes.
        if !stage.ramp && users != current {
            steps.push(format!("{users},0s"));
        }
        steps.push(format!("{users},{seconds}s"));
        current = users;
    }
    steps.push("0,0s".into());
    steps.join(";")
}

/// The stages as Goose will run them (closed model: whole seconds, whole users).
pub fn effective_stages(stages: &[StageSpec], model: Model) -> Vec<StageSpec> {
    match model {
        Model::Open { .. } => stages.to_vec(),
        Model::Closed => stages
            .iter()
            .map(|s| StageSpec {
                duration: Duration::from_secs(plan_seconds(s.duration)),
                level: s.level.round(),
                ..s.clone()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(seconds: f64, level: f64, ramp: bool) -> StageSpec {
        StageSpec {
            name: String::new(),
            duration: Duration::from_secs_f64(seconds),
            level,
            ramp,
        }
    }

    #[test]
    fn closed_plans_ramp_hold_and_stop() {
        let plan = closed_plan(&[stage(180.0, 100.0, true), stage(300.0, 100.0, false)]);
        assert_eq!(plan, "100,180s;100,300s;0,0s");
        let jumps = closed_plan(&[
            stage(10.0, 5.0, false),
            stage(10.0, 5.0, false),
            stage(10.0, 8.0, false),
        ]);
        assert_eq!(jumps, "5,0s;5,10s;5,10s;8,0s;8,10s;0,0s");
        assert_eq!(closed_plan(&[stage(0.4, 5.0, false)]), "5,0s;5,1s;0,0s");
        let effective = effective_stages(&[stage(2.6, 4.6, false)], Model::Closed);
        assert_eq!(
            (effective[0].duration, effective[0].level),
            (Duration::from_secs(3), 5.0)
        );
    }
}
