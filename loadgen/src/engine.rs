//! Runs a workload on Goose, in the closed or the open model.
//!
//! Goose runs the users: their lifecycle and the test plan's ramps. Each Goose user has one
//! on-start transaction (the scenario's setup) and one repeating transaction (one scenario
//! iteration). Requests do not go through Goose's client or its metrics: each user owns a
//! keep-alive connection of the lean client ([`scenarios::http`]) and the scenarios report
//! each request, timed to the microsecond, to our [`Recorder`] (Goose's per-request
//! bookkeeping and reqwest's layers cost half of the generator's throughput: issue 18).
//!
//! - Closed model: users = the stage levels, as a Goose test plan (whole seconds).
//! - Open model: Goose users are slots that take arrivals from a shared [`Schedule`]. Each
//!   waits until its arrival is due and is timed from that instant, so when every slot is
//!   stuck on a stalled target the delay still shows in the latencies (no coordinated
//!   omission). The schedule starts once every slot has started; a slot of a workload that
//!   signs up spends its first arrival on signing up and logging in, so sessions open at
//!   the schedule's pace rather than in a burst at the start. Arrivals that were
//!   due but not yet taken by a slot when the run is stopped early are recorded as errors
//!   of the endpoint [`UNSENT`] at their due time: every arrival that was due is counted.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use scenarios::file::{FileScenario, FileUser};
use scenarios::get::GetScenario;
use scenarios::http::{Connection, Target};
use scenarios::profile::StageSpec;
use scenarios::record::{Exchange, Failure, Outcome, Recorder as _, RequestRecord, wall_clock};
use scenarios::scenario1::{Scenario1, User};
use scenarios::think::{ThinkTime, pause_after};

use crate::recorder::Recorder;
use crate::schedule::Schedule;
use crate::stop::StopSwitch;

/// What the users do.
#[derive(Debug, Clone)]
pub enum Workload {
    Scenario1(Arc<Scenario1>),
    Get(Arc<GetScenario>),
    File(Arc<FileScenario>),
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
            Workload::File(f) => {
                let mut user = f.user(index);
                f.setup(ex, &mut user).await;
                Session::File(user)
            }
        }
    }

    async fn iterate(&self, ex: &mut Exchange<'_>, session: &mut Session) {
        match (self, session) {
            (Workload::Scenario1(s), Session::Web(user)) => s.iterate(ex, user).await,
            (Workload::Get(g), _) => g.iterate(ex).await,
            (Workload::File(f), Session::File(user)) => f.iterate(ex, user).await,
            (Workload::Scenario1(_) | Workload::File(_), _) => {
                unreachable!("sessions match workloads")
            }
        }
    }
}

impl Workload {
    /// Whether a user must set up (sign up, log in) before its first iteration.
    fn needs_setup(&self) -> bool {
        match self {
            Workload::Scenario1(_) => true,
            Workload::Get(_) => false,
            Workload::File(f) => f.has_on_start(),
        }
    }
}

/// A Goose user's state between transactions.
#[derive(Clone)]
enum Session {
    Web(User),
    Get,
    File(FileUser),
}

/// What a Goose user keeps: its connection to the target, its session once set up, and how
/// long it waits before trying a target that refuses every connection again.
#[derive(Clone)]
struct UserState {
    connection: Connection,
    session: Option<Session>,
    refused_backoff: Duration,
    /// Open model: this slot takes arrivals (see `OpenState::active`).
    joined: bool,
    /// Draws the closed model's think times.
    rng: SmallRng,
}

/// A closed-model user whose whole iteration was refused at connect waits before the next
/// one, doubling from [`BACKOFF_MIN`] to [`BACKOFF_MAX`]: a dead target costs a few requests
/// a second per user, not a busy loop of refusals.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

fn next_backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
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
    /// Closed model: the pause after each iteration, and the least time from one
    /// iteration's start to the next.
    pub think_time: Option<ThinkTime>,
    pub pacing: Option<Duration>,
    /// Pulled by whoever ends the run early; the engine reports its reason.
    pub stop: StopSwitch,
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
    /// Open model: the mean time an arrival kept its slot (from sending to the end of its
    /// iteration) when it found every other slot busy, and otherwise. When the first is
    /// much longer, the target slowed down and held the slots: the target, not the number
    /// of slots, limited the rate.
    pub service_when_all_busy: Option<Duration>,
    pub service_otherwise: Option<Duration>,
    /// Set when the run stopped before its plan ended (Ctrl-C, abort on a threshold).
    pub stopped_early: Option<String>,
}

/// The endpoint under which an open-model arrival that was due but never sent (the run
/// stopped first) is recorded, as an error without latency. The scenario picks a step only
/// when it sends, so the endpoint it would have used is unknown.
pub const UNSENT: &str = "unsent";

/// How often the open model's dispatcher wakes while a full round of due arrivals is
/// already queued for the slots (otherwise it wakes at each due time).
const BATCHED_WAKE: Duration = Duration::from_millis(1);

/// A late start beyond this is reported (the generator, not the target, set the pace).
const LATE: Duration = Duration::from_millis(10);

struct OpenState {
    schedule: Arc<Schedule>,
    slots: u32,
    ready: AtomicU32,
    /// Arrivals 0..released are due: the dispatcher thread raises it at their due times
    /// and adds a permit to `due` for each. A slot takes a permit, then the next arrival
    /// number from `next`. When the schedule is over (or stopped) the dispatcher adds one
    /// more permit per slot, which finds no arrival: each waiting slot wakes to stop.
    released: Arc<AtomicU64>,
    due: Arc<tokio::sync::Semaphore>,
    next: AtomicU64,
    /// Slots working on an arrival right now.
    busy: AtomicU32,
    late: AtomicU64,
    /// Late arrivals that found every other slot busy (the rest were late because the
    /// generator itself was slow to run).
    late_all_busy: AtomicU64,
    /// Due arrivals not sent because the run stopped early.
    unsent: AtomicU64,
    /// A slot found no arrival left: the schedule is over or stopped.
    finished: AtomicBool,
    /// The dispatcher released every arrival of the schedule (it was not stopped first).
    complete: Arc<AtomicBool>,
    /// Slots that take arrivals. Slots that must sign up join one at a time, when every
    /// slot already taking arrivals is busy: the pool grows to what the target's answer
    /// times need (Little's law), and users sign up at the schedule's pace.
    active: AtomicU32,
    /// A permit lets one more slot join.
    joins: tokio::sync::Semaphore,
    /// Slot time per arrival, split by whether it found every other slot busy.
    service_all_busy: ServiceTime,
    service_otherwise: ServiceTime,
}

/// A running mean of durations, shared by the slots.
#[derive(Default)]
struct ServiceTime {
    micros: AtomicU64,
    count: AtomicU64,
}

impl ServiceTime {
    fn add(&self, time: Duration) {
        self.micros
            .fetch_add(time.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn mean(&self) -> Option<Duration> {
        let count = self.count.load(Ordering::Relaxed);
        (count > 0).then(|| Duration::from_micros(self.micros.load(Ordering::Relaxed) / count))
    }
}

/// An arrival a slot took: when it was due, and whether every other slot was busy then.
struct Taken {
    due: Instant,
    all_busy: bool,
}

struct Shared {
    /// When the stages start: Goose's start (closed), every slot logged in (open).
    stage_zero: Arc<OnceLock<Instant>>,
    workload: Workload,
    recorder: Arc<Recorder>,
    /// Where every user's connection goes.
    target: Arc<Target>,
    next_user: AtomicU64,
    open: Option<OpenState>,
    think_time: Option<ThinkTime>,
    pacing: Option<Duration>,
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
            OpenState {
                schedule: Arc::new(Schedule::new(&config.stages)),
                slots: max_in_flight.max(1),
                released: Arc::new(AtomicU64::new(0)),
                due: Arc::new(tokio::sync::Semaphore::new(0)),
                next: AtomicU64::new(0),
                busy: AtomicU32::new(0),
                late_all_busy: AtomicU64::new(0),
                ready: AtomicU32::new(0),
                late: AtomicU64::new(0),
                unsent: AtomicU64::new(0),
                finished: AtomicBool::new(false),
                complete: Arc::new(AtomicBool::new(false)),
                active: AtomicU32::new(0),
                joins: tokio::sync::Semaphore::new(0),
                service_all_busy: ServiceTime::default(),
                service_otherwise: ServiceTime::default(),
            }
        }),
    };
    let target = Target::new(&config.host, config.request_timeout)
        .map_err(|e| anyhow::anyhow!("--host: {e}"))?;
    let shared = Arc::new(Shared {
        stage_zero,
        workload,
        recorder,
        target,
        next_user: AtomicU64::new(0),
        open,
        think_time: config.think_time,
        pacing: config.pacing,
    });

    let setup: TransactionFunction = {
        let shared = Arc::clone(&shared);
        Arc::new(move |user: &mut GooseUser| {
            let shared = Arc::clone(&shared);
            Box::pin(async move {
                // Open-model slots that must sign up do it at their first arrival (at the
                // schedule's pace), not all together before the schedule starts; the others
                // take arrivals from the start.
                let set_up_now = shared.open.is_none() || !shared.workload.needs_setup();
                let mut state = UserState {
                    connection: shared.target.connection(),
                    session: None,
                    refused_backoff: Duration::ZERO,
                    joined: set_up_now,
                    rng: SmallRng::from_rng(&mut rand::rng()),
                };
                if set_up_now {
                    let index = shared.next_user.fetch_add(1, Ordering::Relaxed);
                    let mut ex = Exchange::new(&mut state.connection, &*shared.recorder, None);
                    state.session = Some(shared.workload.setup(&mut ex, index).await);
                    if ex.only_refused() {
                        state.refused_backoff = next_backoff(state.refused_backoff);
                    }
                }
                user.set_session_data(state);
                if let Some(open) = &shared.open
                    && open.ready.fetch_add(1, Ordering::AcqRel) + 1 == open.slots
                {
                    let zero = Instant::now();
                    let _ = shared.stage_zero.set(zero);
                    if shared.workload.needs_setup() {
                        open.admit_one();
                    } else {
                        open.active.store(open.slots, Ordering::Release);
                    }
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
                if let Some(open) = &shared.open
                    && !user
                        .get_session_data::<UserState>()
                        .is_some_and(|state| state.joined)
                {
                    if !open.join().await {
                        return Ok(());
                    }
                    if let Some(state) = user.get_session_data_mut::<UserState>() {
                        state.joined = true;
                    }
                }
                let taken = match &shared.open {
                    None => None,
                    Some(open) => match next_due(open, &shared).await {
                        Some(taken) => Some(taken),
                        None => return Ok(()),
                    },
                };
                let Some(state) = user.get_session_data_mut::<UserState>() else {
                    return Ok(());
                };
                // Read only where it is used (the open model's service times, pacing): a
                // clock read is half a percent of the generator's time (issue 18's profile).
                let sent = (shared.open.is_some() || shared.pacing.is_some()).then(Instant::now);
                let mut ex = Exchange::new(
                    &mut state.connection,
                    &*shared.recorder,
                    taken.as_ref().map(|t| t.due),
                );
                match &mut state.session {
                    Some(session) => shared.workload.iterate(&mut ex, session).await,
                    // This arrival is the user's first visit: it signs up and logs in.
                    None => {
                        let index = shared.next_user.fetch_add(1, Ordering::Relaxed);
                        state.session = Some(shared.workload.setup(&mut ex, index).await);
                    }
                }
                if let (Some(open), Some(taken)) = (&shared.open, &taken) {
                    let service = if taken.all_busy {
                        &open.service_all_busy
                    } else {
                        &open.service_otherwise
                    };
                    service.add(sent.map_or(Duration::ZERO, |s| s.elapsed()));
                    open.busy.fetch_sub(1, Ordering::AcqRel);
                } else if ex.only_refused() {
                    state.refused_backoff = next_backoff(state.refused_backoff);
                    tokio::time::sleep(state.refused_backoff).await;
                } else {
                    state.refused_backoff = Duration::ZERO;
                    let pause = pause_after(
                        shared.think_time.as_ref(),
                        shared.pacing,
                        sent.map_or(Duration::ZERO, |s| s.elapsed()),
                        &mut state.rng,
                    );
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
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
        let stop = config.stop.clone();
        Some(tokio::spawn(async move {
            tokio::time::sleep(planned + grace).await;
            stop.pull(format!(
                "the plan did not end {grace:?} after its planned {planned:?}; stopped"
            ));
        }))
    } else {
        None
    };
    GooseAttack::initialize_with_config(goose_config)
        .map_err(|e| anyhow::anyhow!("cannot start Goose: {e}"))?
        // Goose gives every user a reqwest client, which loadgen does not use (requests go
        // through scenarios::http); one shared client instead of one per user saves loading
        // the platform's root certificates once per user (about 4 ms each) at the start.
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )
        .map_err(|e| anyhow::anyhow!("cannot configure Goose's client: {e}"))?
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
            let released = open.released.load(Ordering::Acquire);
            for k in open.next.load(Ordering::Acquire).min(released)..released {
                open.record_unsent(
                    &shared.recorder,
                    *zero + open.schedule.due(k).unwrap_or_default(),
                );
            }
        }
        report.unsent = open.unsent.load(Ordering::Relaxed);
        // Every released arrival was either sent or recorded unsent.
        report.arrivals = open.released.load(Ordering::Acquire) - report.unsent;
        report.late_arrivals = open.late.load(Ordering::Relaxed);
        report.late_all_busy = open.late_all_busy.load(Ordering::Relaxed);
        report.service_when_all_busy = open.service_all_busy.mean();
        report.service_otherwise = open.service_otherwise.mean();
        if !open.complete.load(Ordering::Acquire) && goose::is_killswitch_triggered() {
            report.stopped_early = Some(stop_reason(&config.stop));
        }
    } else if goose::is_killswitch_triggered() {
        report.stopped_early = Some(stop_reason(&config.stop));
    }
    Ok(report)
}

/// Why the kill switch was pulled, as recorded by whoever pulled it.
fn stop_reason(stop: &StopSwitch) -> String {
    stop.take_reason()
        .unwrap_or_else(|| "interrupted (Ctrl-C)".to_string())
}

impl OpenState {
    /// Lets one more slot take arrivals, unless every slot already does.
    fn admit_one(&self) {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.slots).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.joins.add_permits(1);
        }
    }

    /// Waits until this slot may take arrivals; false when the run ends first.
    async fn join(&self) -> bool {
        loop {
            if self.finished.load(Ordering::Acquire) || goose::is_killswitch_triggered() {
                // Let Goose stop this user without spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return false;
            }
            if let Ok(Ok(permit)) =
                tokio::time::timeout(Duration::from_millis(100), self.joins.acquire()).await
            {
                permit.forget();
                return true;
            }
        }
    }

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

    /// Releases the arrivals at their due times (`zero + due(k)`) from a thread of its own:
    /// nanosleep wakes within tens of microseconds, where tokio's timer rounds up to the next
    /// millisecond, and timer slack would count as latency measured from the due time. Each
    /// wake releases every arrival due by then with one atomic store and one `add_permits`:
    /// at tens of thousands of arrivals a second the thread costs a few wakes per
    /// millisecond, not a channel message and a lock per arrival.
    /// Called once, by the last slot to get ready.
    fn start_dispatcher(&self, zero: Instant) {
        let schedule = Arc::clone(&self.schedule);
        let complete = Arc::clone(&self.complete);
        let released = Arc::clone(&self.released);
        let due = Arc::clone(&self.due);
        let slots = self.slots as usize;
        std::thread::Builder::new()
            .name("aforo-dispatch".into())
            .spawn(move || {
                let len = schedule.len();
                let mut k = 0;
                while k < len && !goose::is_killswitch_triggered() {
                    let now = Instant::now();
                    let before = k;
                    while let Some(offset) = schedule.due(k)
                        && zero + offset <= now
                    {
                        k += 1;
                    }
                    if k > before {
                        released.store(k, Ordering::Release);
                        due.add_permits((k - before) as usize);
                    }
                    if let Some(offset) = schedule.due(k) {
                        let mut wait = (zero + offset).saturating_duration_since(Instant::now());
                        if due.available_permits() >= slots {
                            // A round of due arrivals is queued: no slot waits for the next
                            // one, so it can be released a little late (its latency still
                            // counts from its due time) and the thread wakes less, which on
                            // a shared core is the generator's CPU.
                            wait = wait.max(BATCHED_WAKE);
                        }
                        // Wake at least every 50 ms to notice a stop.
                        std::thread::sleep(wait.min(Duration::from_millis(50)));
                    }
                }
                complete.store(k >= len, Ordering::Release);
                // One permit more per slot finds no arrival: the schedule is over.
                due.add_permits(slots);
            })
            .expect("spawn the dispatcher thread");
    }
}

/// Takes the next arrival once it is due. None when the schedule is over or the run was
/// stopped (an arrival taken then is recorded as unsent).
async fn next_due(open: &OpenState, shared: &Shared) -> Option<Taken> {
    let arrival = if open.finished.load(Ordering::Acquire) {
        None
    } else {
        match open.due.acquire().await {
            Ok(permit) => {
                permit.forget();
                let k = open.next.fetch_add(1, Ordering::AcqRel);
                (k < open.released.load(Ordering::Acquire)).then_some(k)
            }
            Err(_) => None,
        }
    };
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
    let others_busy = open.busy.fetch_add(1, Ordering::AcqRel);
    let all_busy = others_busy + 1 >= open.slots;
    if others_busy + 1 >= open.active.load(Ordering::Acquire) {
        // No slot is left waiting for the next arrival: one more joins.
        open.admit_one();
    }
    if due.elapsed() > LATE {
        open.late.fetch_add(1, Ordering::Relaxed);
        if all_busy {
            open.late_all_busy.fetch_add(1, Ordering::Relaxed);
        }
    }
    Some(Taken { due, all_busy })
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
    fn a_refused_user_backs_off_doubling_within_bounds() {
        let mut wait = Duration::ZERO;
        let waits: Vec<_> = (0..8)
            .map(|_| {
                wait = next_backoff(wait);
                wait.as_millis()
            })
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
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
