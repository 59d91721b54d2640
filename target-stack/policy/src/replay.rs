//! A measured load replayed through a group's policies: what the group would have done,
//! second by second, had it run these policies under the demand a run measured.
//!
//! A model, not a measurement. Each second's demand (requests) is spread evenly over the
//! instances serving; an instance's CPU is that share times the CPU-seconds a request cost
//! in the measured run; a launch serves after the measured launch delay and counts as in
//! service after the group's warm-up, as in the local stack. What the group would not see
//! (no demand measured that second) reaches the policies as missing data, never as zero.

use std::time::Duration;

use crate::{Change, Group, GroupSpec, InstanceId, Sample, SpecError};

/// What the replay knows of the system besides its policies, all measured in one run.
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

/// One second of the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySecond {
    /// Requests in this second, as measured; `None` when not measured.
    pub demand: Option<f64>,
    pub desired: u32,
    /// Instances launched and serving (warming ones included).
    pub serving: u32,
    /// Instances past their warm-up (what `GroupInServiceInstances` counts locally).
    pub in_service: u32,
    /// The demand per serving instance was above the measured capacity per instance.
    pub above_capacity: Option<bool>,
    /// Each serving instance's CPU utilisation, 0–1, as the model puts it; `None` without a
    /// CPU cost or a demand.
    pub cpu: Option<f64>,
}

/// The whole replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub seconds: Vec<ReplaySecond>,
    /// Instance-hours: serving instances over the replayed seconds.
    pub instance_hours: f64,
    pub scale_outs: u32,
    pub scale_ins: u32,
    /// Seconds whose demand per instance was above the measured capacity; `None` without a
    /// capacity.
    pub seconds_above_capacity: Option<u32>,
}

/// Replays `demand` (requests in each second; `None` when not measured) through a group
/// built from `spec`. The group starts with its initial capacity already in service, as a
/// run starts on a stack that is up.
pub fn replay(
    spec: &GroupSpec,
    demand: &[Option<f64>],
    model: &ReplayModel,
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
        seconds: Vec::with_capacity(demand.len()),
        instance_hours: 0.0,
        scale_outs: 0,
        scale_ins: 0,
        seconds_above_capacity: model.capacity_per_instance.map(|_| 0),
    };
    for (i, &requests) in demand.iter().enumerate() {
        let now = start + Duration::from_secs(i as u64);
        let serving = group
            .instances()
            .iter()
            .filter(|instance| !instance.terminating && instance.launched_at <= now)
            .count() as u32;
        let in_service = group.in_service_at(now).len() as u32;
        let per_instance = requests
            .filter(|_| serving > 0)
            .map(|r| r / f64::from(serving));
        let mut sample = Sample::at(now);
        let cpu = per_instance
            .zip(model.cpu_seconds_per_request)
            .map(|(share, cost)| (share * cost / model.cpus_per_instance).min(1.0));
        sample.requests_per_target = per_instance;
        sample.avg_cpu = cpu.map(|c| c * 100.0);
        group.observe(sample);
        let above_capacity = model
            .capacity_per_instance
            .zip(requests)
            .map(|(capacity, r)| per_instance.map_or(r > 0.0, |share| share > capacity));
        if above_capacity == Some(true)
            && let Some(count) = &mut replay.seconds_above_capacity
        {
            *count += 1;
        }
        replay.seconds.push(ReplaySecond {
            demand: requests,
            desired: group.desired(),
            serving,
            in_service,
            above_capacity,
            cpu,
        });
        replay.instance_hours += f64::from(serving) / 3600.0;
        let decision = group.decide(now);
        match decision.change {
            Change::None => {}
            Change::Out { .. } => {
                replay.scale_outs += 1;
                launch(&mut group, now + model.launch_delay);
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
                .all(|s| s.serving == 2 && s.in_service == 2)
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
        let peak = run.seconds.iter().map(|s| s.serving).max().unwrap();
        assert_eq!(peak, 3);
        assert!(run.scale_outs >= 1 && run.scale_ins >= 1, "{run:?}");
        assert_eq!(run.seconds.last().unwrap().serving, 1);
        // Before the new instances serve, 150/s on one instance is above its 100/s.
        assert!(run.seconds_above_capacity.unwrap() >= 2, "{run:?}");
        // A launch serves after its delay (2 s from the decision at the end of the second
        // before) and is in service after the warm-up (1 s).
        let first_out = run.seconds.iter().position(|s| s.desired > 1).unwrap();
        assert_eq!(run.seconds[first_out].serving, 1);
        assert_eq!(run.seconds[first_out + 1].serving, 3);
        assert_eq!(run.seconds[first_out + 1].in_service, 1);
        assert_eq!(run.seconds[first_out + 2].in_service, 3);
    }

    #[test]
    fn missing_demand_is_no_data_not_zero() {
        // Unmeasured seconds neither scale in (no datapoints) nor count above capacity.
        let mut demand = vec![Some(150.0); 10];
        demand.extend(vec![None; 30]);
        let run = replay(&tracking(1, 4, 60.0), &demand, &model(Some(100.0))).unwrap();
        assert_eq!(run.seconds.last().unwrap().serving, 3);
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
        let serving: Vec<u32> = run.seconds.iter().map(|s| s.serving).collect();
        // Decided at the end of second 5, serving from second 6.
        assert_eq!(serving, [1, 1, 1, 1, 1, 1, 3, 3, 3, 3]);
        assert_eq!(run.scale_outs, 1);
    }

    proptest! {
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
                prop_assert!(second.serving <= min + extra);
                prop_assert!(second.in_service <= second.serving);
            }
            let hours: f64 = run.seconds.iter().map(|s| f64::from(s.serving)).sum::<f64>() / 3600.0;
            prop_assert!((hours - run.instance_hours).abs() < 1e-9);
        }
    }
}
