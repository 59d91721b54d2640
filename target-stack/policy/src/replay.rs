//! A measured load replayed through a group's policies: what the group would have done,
//! second by second, had it run these policies under the demand a run measured.
//!
//! A model, not a measurement. Two loads, one driver:
//! - requests ([`replay`], the web group): each second's requests are spread evenly over the
//!   instances serving; an instance's CPU is that share times the CPU-seconds a request cost
//!   in the measured run;
//! - tasks on a queue ([`replay_queue`], the worker group): each second's measured arrivals
//!   wait in one FIFO queue for a free slot (each instance has the run's concurrency in
//!   slots) and hold it for the run's mean service time; busy instances are protected from
//!   scale-in, as the local stack's workers protect themselves.
//!
//! In both, a launch is in service (serves, counts in `GroupInServiceInstances`) after the
//! measured launch delay, its boot, and its metrics count after the group's warm-up, as on
//! AWS and in the local stack. What the group would not see (no demand
//! measured that second) reaches the policies as missing data, never as zero.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::{Change, Group, GroupSpec, InstanceId, Sample, SpecError};

/// What the replay knows of the web system besides its policies, all measured in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayModel {
    /// CPU-seconds one request cost an instance; without it CPU policies see no data.
    pub cpu_seconds_per_request: Option<f64>,
    /// CPUs of one instance (CPU % is of these).
    pub cpus_per_instance: f64,
    /// Requests per second one instance served within the SLO; without it the time above
    /// the SLO is unknown.
    pub capacity_per_instance: Option<f64>,
    /// From a launch decision until the new instance serves (boot, health checks).
    pub launch_delay: Duration,
}

/// What the replay knows of the worker system besides its policies, all measured in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueModel {
    /// The mean time a task held a slot (S).
    pub service_time: Duration,
    /// Tasks one instance processes at once.
    pub slots_per_instance: u32,
    /// CPUs of one instance (CPU % is of these).
    pub cpus_per_instance: f64,
    /// CPUs one busy slot used; without it CPU rules see no data.
    pub cpus_per_busy_slot: Option<f64>,
    /// From a launch decision until the new instance takes tasks.
    pub launch_delay: Duration,
}

/// One second of the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySecond {
    /// Requests (or task arrivals) in this second, as measured; `None` when not measured.
    pub demand: Option<f64>,
    pub desired: u32,
    /// Instances launched and serving, warming ones included: AWS's InService, what
    /// `GroupInServiceInstances` counts.
    pub in_service: u32,
    /// In-service instances past their warm-up: the ones the policies' metrics aggregate.
    pub warmed_up: u32,
    /// Web: the demand per serving instance was above the measured capacity per instance.
    /// Workers: tasks were waiting for a free slot at the end of the second.
    pub above_capacity: Option<bool>,
    /// Each in-service instance's CPU utilisation, 0–1, as the model puts it; `None` without a
    /// CPU cost or a demand.
    pub cpu: Option<f64>,
    /// Workers: tasks waiting for a slot at the end of the second.
    pub waiting: Option<u64>,
}

/// The whole replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub seconds: Vec<ReplaySecond>,
    /// Instance-hours: in-service instances over the replayed seconds.
    pub instance_hours: f64,
    pub scale_outs: u32,
    pub scale_ins: u32,
    /// Seconds above capacity (see [`ReplaySecond::above_capacity`]); `None` when the model
    /// cannot judge it (web: no measured capacity).
    pub seconds_above_capacity: Option<u32>,
    /// Workers: the tasks that got a slot and their mean wait for it, seconds.
    pub tasks_started: Option<u64>,
    /// Workers: tasks whose instance was terminated under them, queued again (as SQS
    /// delivers them again); scale-in protection keeps this at 0.
    pub tasks_redelivered: Option<u64>,
    pub mean_wait_s: Option<f64>,
}

/// What one replayed second fed the policies and what it records.
struct Observed {
    sample: Sample,
    demand: Option<f64>,
    above_capacity: Option<bool>,
    cpu: Option<f64>,
    waiting: Option<u64>,
}

/// A demand the driver replays, one second at a time.
trait Load {
    /// Second `index` (at `now` on the group's clock) with these instances in service
    /// (serving) and, of those, warmed up (aggregated); may mark instances busy on `group`.
    fn second(
        &mut self,
        index: usize,
        now: Duration,
        in_service: &[InstanceId],
        warmed_up: &[InstanceId],
        group: &mut Group,
    ) -> Observed;

    /// Whether [`Observed::above_capacity`] is known at all.
    fn judges_capacity(&self) -> bool;
}

/// Replays `demand` (requests in each second; `None` when not measured) through a group
/// built from `spec`. The group starts with its initial capacity already in service, as a
/// run starts on a stack that is up.
pub fn replay(
    spec: &GroupSpec,
    demand: &[Option<f64>],
    model: &ReplayModel,
) -> Result<Replay, SpecError> {
    let mut load = Requests { demand, model };
    drive(spec, demand.len(), model.launch_delay, &mut load)
}

/// Replays task `arrivals` (tasks queued in each second; `None` when not measured, taken as
/// none arriving) through a worker group built from `spec`, started as [`replay`] starts.
pub fn replay_queue(
    spec: &GroupSpec,
    arrivals: &[Option<u64>],
    model: &QueueModel,
) -> Result<Replay, SpecError> {
    let mut load = Tasks {
        arrivals,
        model,
        slots: BTreeMap::new(),
        waiting: VecDeque::new(),
        started: 0,
        redelivered: 0,
        waited: 0.0,
    };
    let mut replay = drive(spec, arrivals.len(), model.launch_delay, &mut load)?;
    replay.tasks_started = Some(load.started);
    replay.tasks_redelivered = Some(load.redelivered);
    replay.mean_wait_s = (load.started > 0).then(|| load.waited / load.started as f64);
    Ok(replay)
}

fn drive(
    spec: &GroupSpec,
    seconds: usize,
    launch_delay: Duration,
    load: &mut impl Load,
) -> Result<Replay, SpecError> {
    // The clock starts one warm-up in, so that the initial instances, launched at zero, are
    // in service when the replay starts; scheduled actions count from the replay's start.
    let start = spec.warmup;
    let mut spec = spec.clone();
    for action in &mut spec.scheduled {
        action.at += start;
    }
    let mut group = Group::new(spec)?;
    let mut next_id = 0u64;
    let mut launch = |group: &mut Group, at: Duration| {
        for _ in 0..group.launches_needed() {
            next_id += 1;
            group.launched(InstanceId(next_id), at);
        }
    };
    launch(&mut group, Duration::ZERO);
    let mut replay = Replay {
        seconds: Vec::with_capacity(seconds),
        instance_hours: 0.0,
        scale_outs: 0,
        scale_ins: 0,
        seconds_above_capacity: load.judges_capacity().then_some(0),
        tasks_started: None,
        tasks_redelivered: None,
        mean_wait_s: None,
    };
    for index in 0..seconds {
        let now = start + Duration::from_secs(index as u64);
        let in_service = group.in_service_at(now);
        let warmed_up = group.warmed_up_at(now);
        let observed = load.second(index, now, &in_service, &warmed_up, &mut group);
        group.observe(observed.sample);
        if observed.above_capacity == Some(true)
            && let Some(count) = &mut replay.seconds_above_capacity
        {
            *count += 1;
        }
        let serving = in_service.len() as u32;
        replay.seconds.push(ReplaySecond {
            demand: observed.demand,
            desired: group.desired(),
            in_service: serving,
            warmed_up: warmed_up.len() as u32,
            above_capacity: observed.above_capacity,
            cpu: observed.cpu,
            waiting: observed.waiting,
        });
        replay.instance_hours += f64::from(serving) / 3600.0;
        match group.decide(now).change {
            Change::None => {}
            Change::Out { .. } => {
                replay.scale_outs += 1;
                launch(&mut group, now + launch_delay);
            }
            Change::In { terminate, .. } => {
                replay.scale_ins += 1;
                for id in terminate {
                    group.terminated(id);
                }
            }
        }
    }
    Ok(replay)
}

/// Requests spread evenly over the serving instances.
struct Requests<'a> {
    demand: &'a [Option<f64>],
    model: &'a ReplayModel,
}

impl Load for Requests<'_> {
    fn second(
        &mut self,
        index: usize,
        now: Duration,
        serving: &[InstanceId],
        _warmed_up: &[InstanceId],
        _group: &mut Group,
    ) -> Observed {
        let requests = self.demand[index];
        let serving = serving.len() as u32;
        let per_instance = requests
            .filter(|_| serving > 0)
            .map(|r| r / f64::from(serving));
        let cpu = per_instance
            .zip(self.model.cpu_seconds_per_request)
            .map(|(share, cost)| (share * cost / self.model.cpus_per_instance).min(1.0));
        let mut sample = Sample::at(now);
        sample.requests_per_target = per_instance;
        // Every serving instance is a healthy target here (the replay has no health checks).
        sample.request_targets = Some(serving);
        sample.avg_cpu = cpu.map(|c| c * 100.0);
        Observed {
            sample,
            demand: requests,
            above_capacity: self
                .model
                .capacity_per_instance
                .zip(requests)
                .map(|(capacity, r)| per_instance.map_or(r > 0.0, |share| share > capacity)),
            cpu,
            waiting: None,
        }
    }

    fn judges_capacity(&self) -> bool {
        self.model.capacity_per_instance.is_some()
    }
}

/// Tasks in one FIFO queue, served by the instances' slots. Times are seconds from the
/// replay's start.
struct Tasks<'a> {
    arrivals: &'a [Option<u64>],
    model: &'a QueueModel,
    /// Each serving instance's slots and the task each holds.
    slots: BTreeMap<InstanceId, Vec<Slot>>,
    /// Arrival times of the tasks waiting for a slot, oldest first.
    waiting: VecDeque<f64>,
    started: u64,
    redelivered: u64,
    waited: f64,
}

/// One slot of a worker: the task it holds arrived, started and will end at these times
/// (all three equal for a slot that never held one).
#[derive(Clone, Copy)]
struct Slot {
    arrived: f64,
    start: f64,
    until: f64,
}

impl Slot {
    fn empty(at: f64) -> Self {
        Self {
            arrived: at,
            start: at,
            until: at,
        }
    }

    /// How long its task was busy within the second from `from`.
    fn busy_within(self, from: f64) -> f64 {
        (self.until.min(from + 1.0) - self.start.max(from)).max(0.0)
    }
}

impl Tasks<'_> {
    /// The slot that frees first, and when; on a tie the newest instance's, as a worker
    /// that has just booted polls the queue at once (and so that scale-in, newest first,
    /// meets busy instances as it does on a real group).
    fn first_free(&self, from: f64) -> Option<(InstanceId, usize, f64)> {
        self.slots
            .iter()
            .flat_map(|(id, slots)| {
                slots
                    .iter()
                    .enumerate()
                    .map(move |(k, slot)| (*id, k, slot.until.max(from)))
            })
            .min_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)))
    }
}

impl Load for Tasks<'_> {
    fn second(
        &mut self,
        index: usize,
        now: Duration,
        serving: &[InstanceId],
        warmed_up: &[InstanceId],
        group: &mut Group,
    ) -> Observed {
        let from = index as f64;
        let to = from + 1.0;
        let service = self.model.service_time.as_secs_f64();
        // A terminated instance's unfinished tasks go back to the queue's front, as SQS
        // delivers them again (scale-in protection should make this never happen). A task
        // counts as started once, by the start that finishes it, and its wait runs from its
        // first arrival to that start.
        let mut cut_short: Vec<Slot> = Vec::new();
        self.slots.retain(|id, slots| {
            let keep = serving.contains(id);
            if !keep {
                cut_short.extend(slots.iter().filter(|s| s.until > from));
            }
            keep
        });
        for task in cut_short.iter().rev() {
            self.redelivered += 1;
            self.started -= 1;
            self.waited -= task.start - task.arrived;
            self.waiting.push_front(task.arrived);
        }
        for id in serving {
            self.slots
                .entry(*id)
                .or_insert_with(|| vec![Slot::empty(from); self.model.slots_per_instance as usize]);
        }
        let arrivals = self.arrivals[index];
        let n = arrivals.unwrap_or(0);
        // Spread evenly over the second: the grid knows the second, not the instant.
        self.waiting
            .extend((0..n).map(|k| from + (k as f64 + 0.5) / n as f64));
        let mut ended_busy: BTreeMap<InstanceId, f64> = BTreeMap::new();
        while let (Some(&arrived), Some((id, k, free))) =
            (self.waiting.front(), self.first_free(from))
        {
            let start = free.max(arrived);
            if start >= to {
                break;
            }
            self.waiting.pop_front();
            self.waited += start - arrived;
            self.started += 1;
            if let Some(slots) = self.slots.get_mut(&id) {
                // The task it replaces ended within this second: keep its busy time.
                *ended_busy.entry(id).or_default() += slots[k].busy_within(from);
                slots[k] = Slot {
                    arrived,
                    start,
                    until: start + service,
                };
            }
        }
        let mut busy_warmed_up = 0;
        for (id, slots) in &self.slots {
            let busy = slots.iter().any(|slot| slot.until > to);
            group.set_busy(*id, busy);
            busy_warmed_up += u32::from(busy && warmed_up.contains(id));
        }
        let cpu_of = |id: &InstanceId| {
            let busy = self.slots.get(id).map_or(0.0, |slots| {
                slots.iter().map(|slot| slot.busy_within(from)).sum::<f64>()
            }) + ended_busy.get(id).copied().unwrap_or(0.0);
            self.model
                .cpus_per_busy_slot
                .map(|per_slot| (busy * per_slot / self.model.cpus_per_instance).min(1.0))
        };
        let mean = |ids: &[InstanceId]| -> Option<f64> {
            let cpus: Option<Vec<f64>> = ids.iter().map(cpu_of).collect();
            cpus.filter(|c| !c.is_empty())
                .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        };
        let waiting = self.waiting.len() as u64;
        let mut sample = Sample::at(now);
        sample.queue_visible = Some(waiting);
        sample.busy_workers = Some(busy_warmed_up);
        sample.avg_cpu = mean(warmed_up).map(|c| c * 100.0);
        Observed {
            sample,
            demand: arrivals.map(|n| n as f64),
            above_capacity: Some(waiting > 0),
            cpu: mean(serving),
            waiting: Some(waiting),
        }
    }

    fn judges_capacity(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Target tracking on requests per target at `target`, 1 s periods, 2 out and 3 in.
    fn tracking(min: u32, max: u32, target: f64) -> GroupSpec {
        serde_json::from_value(serde_json::json!({
            "name": "web", "min": min, "max": max, "warmup_secs": 1.0,
            "default_cooldown_secs": 1.0,
            "policies": [{
                "type": "target_tracking", "name": "rpt", "metric": "requests_per_target",
                "target": target, "period_secs": 1.0, "scale_out_periods": 2,
                "scale_in_periods": 3
            }]
        }))
        .unwrap()
    }

    fn model(capacity: Option<f64>) -> ReplayModel {
        ReplayModel {
            cpu_seconds_per_request: Some(0.001),
            cpus_per_instance: 1.0,
            capacity_per_instance: capacity,
            launch_delay: Duration::ZERO,
        }
    }

    #[test]
    fn a_load_within_the_target_keeps_the_initial_capacity() {
        let demand = vec![Some(50.0); 3600];
        let run = replay(&tracking(2, 4, 60.0), &demand, &model(Some(100.0))).unwrap();
        assert_eq!((run.scale_outs, run.scale_ins), (0, 0));
        assert!(
            run.seconds
                .iter()
                .all(|s| s.in_service == 2 && s.warmed_up == 2)
        );
        assert!(
            (run.instance_hours - 2.0).abs() < 1e-9,
            "{}",
            run.instance_hours
        );
        assert_eq!(run.seconds_above_capacity, Some(0));
    }

    #[test]
    fn a_step_of_demand_scales_out_to_what_the_target_needs_and_back_in() {
        // 1 instance; 150 requests/s for 20 s needs 3 at 60 per target (capped at max 4),
        // then 30/s needs 1 again.
        let mut demand = vec![Some(30.0); 5];
        demand.extend(vec![Some(150.0); 20]);
        demand.extend(vec![Some(30.0); 40]);
        let model = ReplayModel {
            launch_delay: Duration::from_secs(2),
            ..model(Some(100.0))
        };
        let run = replay(&tracking(1, 4, 60.0), &demand, &model).unwrap();
        let peak = run.seconds.iter().map(|s| s.in_service).max().unwrap();
        assert_eq!(peak, 3);
        assert!(run.scale_outs >= 1 && run.scale_ins >= 1, "{run:?}");
        assert_eq!(run.seconds.last().unwrap().in_service, 1);
        // Before the new instances serve, 150/s on one instance is above its 100/s.
        assert!(run.seconds_above_capacity.unwrap() >= 2, "{run:?}");
        // A launch is in service after its delay (2 s from the decision at the end of the
        // second before) and warmed up after the warm-up (1 s).
        let first_out = run.seconds.iter().position(|s| s.desired > 1).unwrap();
        assert_eq!(run.seconds[first_out].in_service, 1);
        assert_eq!(run.seconds[first_out + 1].in_service, 3);
        assert_eq!(run.seconds[first_out + 1].warmed_up, 1);
        assert_eq!(run.seconds[first_out + 2].warmed_up, 3);
    }

    #[test]
    fn missing_demand_is_no_data_not_zero() {
        // Unmeasured seconds neither scale in (no datapoints) nor count above capacity.
        let mut demand = vec![Some(150.0); 10];
        demand.extend(vec![None; 30]);
        let run = replay(&tracking(1, 4, 60.0), &demand, &model(Some(100.0))).unwrap();
        assert_eq!(run.seconds.last().unwrap().in_service, 3);
        assert_eq!(run.scale_ins, 0);
        assert!(run.seconds[10..].iter().all(|s| s.above_capacity.is_none()));
        let unknown = replay(&tracking(1, 4, 60.0), &demand, &model(None)).unwrap();
        assert_eq!(unknown.seconds_above_capacity, None);
    }

    #[test]
    fn a_scheduled_action_counts_from_the_replays_start() {
        let mut spec = tracking(1, 4, 1000.0);
        spec.scheduled = vec![crate::ScheduledAction {
            name: "peak".into(),
            at: Duration::from_secs(5),
            every: None,
            min: Some(3),
            max: None,
            desired: None,
        }];
        let run = replay(&spec, &[Some(10.0); 10], &model(None)).unwrap();
        let serving: Vec<u32> = run.seconds.iter().map(|s| s.in_service).collect();
        // Decided at the end of second 5, serving from second 6.
        assert_eq!(serving, [1, 1, 1, 1, 1, 1, 3, 3, 3, 3]);
        assert_eq!(run.scale_outs, 1);
    }

    /// A worker group on the queue rules, compressed to 1 s periods: out above `queue_above`
    /// waiting tasks, in after `sustain` seconds of an idle queue.
    fn workers(min: u32, max: u32, queue_above: f64, sustain: u64) -> GroupSpec {
        serde_json::from_value(serde_json::json!({
            "name": "worker", "min": min, "max": max, "warmup_secs": 1.0,
            "policies": [{
                "type": "queue_rules", "name": "rules", "period_secs": 1.0,
                "scale_out_queue_above": queue_above, "scale_in_sustain_secs": sustain,
                "scale_out_cooldown_secs": 2.0, "scale_in_cooldown_secs": 2.0
            }]
        }))
        .unwrap()
    }

    fn queue_model(service_secs: f64, slots: u32) -> QueueModel {
        QueueModel {
            service_time: Duration::from_secs_f64(service_secs),
            slots_per_instance: slots,
            cpus_per_instance: 1.0,
            cpus_per_busy_slot: Some(1.0 / f64::from(slots)),
            launch_delay: Duration::ZERO,
        }
    }

    #[test]
    fn a_task_waits_for_the_slot_the_one_before_it_holds() {
        // One slot, S = 2 s; two tasks in second 0 arrive at 0.25 and 0.75 s. The first
        // starts at once and ends at 2.25; the second waits 1.5 s for it: mean wait 0.75 s.
        let mut arrivals = vec![Some(2)];
        arrivals.extend(vec![Some(0); 5]);
        let run = replay_queue(&workers(1, 1, 100.0, 60), &arrivals, &queue_model(2.0, 1)).unwrap();
        assert_eq!(run.tasks_started, Some(2));
        assert!((run.mean_wait_s.unwrap() - 0.75).abs() < 1e-9, "{run:?}");
        let waiting: Vec<u64> = run.seconds.iter().map(|s| s.waiting.unwrap()).collect();
        assert_eq!(waiting, [1, 1, 0, 0, 0, 0]);
        assert_eq!(run.seconds_above_capacity, Some(2));
        // The slot is busy from 0.25 to 4.25: a quarter idle in second 0 and in second 4.
        let cpu: Vec<f64> = run.seconds.iter().map(|s| s.cpu.unwrap()).collect();
        assert!(
            (cpu[0] - 0.75).abs() < 1e-9 && (cpu[2] - 1.0).abs() < 1e-9,
            "{cpu:?}"
        );
        assert!((cpu[4] - 0.25).abs() < 1e-9 && cpu[5] == 0.0, "{cpu:?}");
    }

    #[test]
    fn a_backlog_scales_the_workers_out_and_an_idle_queue_back_in() {
        // One task a second at S = 3 s needs 3 slots; one instance of one slot falls behind.
        let mut arrivals = vec![Some(1); 60];
        arrivals.extend(vec![Some(0); 60]);
        let run = replay_queue(&workers(1, 3, 3.0, 5), &arrivals, &queue_model(3.0, 1)).unwrap();
        let peak = run.seconds.iter().map(|s| s.in_service).max().unwrap();
        assert_eq!(peak, 3, "{run:?}");
        assert!(run.scale_outs >= 2 && run.scale_ins >= 2, "{run:?}");
        assert_eq!(run.seconds.last().unwrap().in_service, 1);
        // Every task got a slot once the queue drained; the early ones waited.
        assert_eq!(run.tasks_started, Some(60));
        assert!(run.mean_wait_s.unwrap() > 0.0);
        // With enough workers from the start, nobody waits.
        let ample = replay_queue(&workers(3, 3, 3.0, 5), &arrivals, &queue_model(3.0, 1)).unwrap();
        assert_eq!(ample.mean_wait_s, Some(0.0));
        assert_eq!(ample.seconds_above_capacity, Some(0));
    }

    #[test]
    fn a_busy_worker_is_not_scaled_in_under_its_task() {
        // Four instances (a scheduled minimum, dropped at 3 s), one long task on the newest:
        // the idle queue scales the group in to one, newest first, and the busy instance is
        // the one kept (utilisation never scales out here, so the anti-flap guard is quiet).
        let spec: GroupSpec = serde_json::from_value(serde_json::json!({
            "name": "worker", "min": 1, "max": 4, "warmup_secs": 1.0,
            "policies": [{
                "type": "queue_rules", "name": "rules", "period_secs": 1.0,
                "scale_out_utilisation_above": 100.0, "scale_out_cpu_above": 100.0,
                "scale_in_utilisation_below": 60.0, "scale_in_sustain_secs": 2.0,
                "scale_out_cooldown_secs": 2.0, "scale_in_cooldown_secs": 2.0
            }],
            "scheduled": [
                { "name": "up", "at_secs": 0.0, "min": 4 },
                { "name": "down", "at_secs": 3.0, "min": 1 }
            ]
        }))
        .unwrap();
        let mut arrivals = vec![Some(0), Some(0), Some(1)];
        arrivals.extend(vec![Some(0); 37]);
        let run = replay_queue(&spec, &arrivals, &queue_model(60.0, 1)).unwrap();
        assert_eq!(run.seconds[2].in_service, 4, "{run:?}");
        assert_eq!(run.seconds.last().unwrap().in_service, 1, "{run:?}");
        assert_eq!(run.tasks_redelivered, Some(0), "{run:?}");
        // The survivor is still busy: one full CPU.
        assert_eq!(run.seconds.last().unwrap().cpu, Some(1.0));
    }

    #[test]
    fn a_task_cut_short_waits_again_from_its_first_arrival_and_counts_once() {
        // S = 10 s, one slot each. Two tasks arrive in second 0 (0.25 and 0.75 s) on
        // instances 1 and 2; instance 2 goes at 1 s, so its task (the first, as the newest
        // instance takes the tie) queues again and starts on instance 3 at 2 s: it waited
        // 1.75 s from its first arrival, and two tasks started in all.
        let model = queue_model(10.0, 1);
        let arrivals = [Some(2), Some(0), Some(0)];
        let mut group = Group::new(workers(1, 3, 3.0, 5)).unwrap();
        let mut tasks = Tasks {
            arrivals: &arrivals,
            model: &model,
            slots: BTreeMap::new(),
            waiting: VecDeque::new(),
            started: 0,
            redelivered: 0,
            waited: 0.0,
        };
        let serving = [
            vec![InstanceId(1), InstanceId(2)],
            vec![InstanceId(1)],
            vec![InstanceId(1), InstanceId(3)],
        ];
        for (index, ids) in serving.iter().enumerate() {
            let now = Duration::from_secs(index as u64);
            tasks.second(index, now, ids, ids, &mut group);
        }
        assert_eq!((tasks.started, tasks.redelivered), (2, 1));
        assert!((tasks.waited - 1.75).abs() < 1e-9, "{}", tasks.waited);
        assert!(tasks.waiting.is_empty());
    }

    #[test]
    fn without_a_cpu_per_slot_the_cpu_is_no_data() {
        let model = QueueModel {
            cpus_per_busy_slot: None,
            ..queue_model(2.0, 1)
        };
        let run = replay_queue(&workers(1, 2, 3.0, 5), &[Some(1); 10], &model).unwrap();
        assert!(run.seconds.iter().all(|s| s.cpu.is_none()));
    }

    proptest! {
        /// Every task arrives, waits and gets a slot in order: none is lost, whatever the
        /// policy does, and the group stays within min..max.
        #[test]
        fn a_queue_replay_loses_no_task_and_never_leaves_min_to_max(
            arrivals in proptest::collection::vec(proptest::option::of(0u64..4), 1..150),
            min in 1u32..3,
            extra in 0u32..3,
            slots in 1u32..3,
            service in 0.2f64..6.0,
            delay in 0u64..4,
        ) {
            let spec = workers(min, min + extra, 2.0, 3);
            let model = QueueModel { launch_delay: Duration::from_secs(delay), ..queue_model(service, slots) };
            let run = replay_queue(&spec, &arrivals, &model).unwrap();
            let total: u64 = arrivals.iter().flatten().sum();
            let left = run.seconds.last().unwrap().waiting.unwrap();
            prop_assert_eq!(run.tasks_started.unwrap() + left, total);
            // Busy instances are protected, so scale-in never cuts a task short.
            prop_assert_eq!(run.tasks_redelivered, Some(0));
            for second in &run.seconds {
                prop_assert!((min..=min + extra).contains(&second.desired));
                prop_assert!(second.in_service <= min + extra);
                prop_assert!(second.cpu.is_none_or(|c| (0.0..=1.0).contains(&c)));
            }
        }

        /// Whatever the demand, the group stays within min..max and instance-hours are the
        /// serving instances' seconds.
        #[test]
        fn a_replay_never_leaves_min_to_max(
            demand in proptest::collection::vec(proptest::option::of(0.0f64..2000.0), 1..200),
            min in 1u32..3,
            extra in 0u32..4,
            delay in 0u64..5,
        ) {
            let spec = tracking(min, min + extra, 60.0);
            let model = ReplayModel { launch_delay: Duration::from_secs(delay), ..model(Some(90.0)) };
            let run = replay(&spec, &demand, &model).unwrap();
            for second in &run.seconds {
                prop_assert!((min..=min + extra).contains(&second.desired));
                prop_assert!(second.in_service <= min + extra);
                prop_assert!(second.warmed_up <= second.in_service);
            }
            let hours: f64 = run.seconds.iter().map(|s| f64::from(s.in_service)).sum::<f64>() / 3600.0;
            prop_assert!((hours - run.instance_hours).abs() < 1e-9);
        }
    }
}
