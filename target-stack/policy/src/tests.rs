//! Scenario and property tests of the whole engine, driven by a tiny simulated stack that
//! launches what is asked for, stops what is chosen, and samples once a second.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What happened, for checking timing properties afterwards.
#[derive(Debug, Clone)]
struct Activity {
    at: Duration,
    from: u32,
    to: u32,
    /// The policy that caused it; `None` for an operator.
    policy: Option<String>,
}

/// A stack in miniature: instances start the moment they are asked for and exit the moment
/// they are chosen for termination.
struct Sim {
    group: Group,
    now: Duration,
    next_id: u64,
    activities: Vec<Activity>,
}

impl Sim {
    /// The group's initial instances launch at t = 0; the clock starts at `start`.
    fn new(spec: GroupSpec, start: Duration) -> Self {
        let group = Group::new(spec).expect("valid spec");
        let mut sim = Sim {
            group,
            now: Duration::ZERO,
            next_id: 0,
            activities: Vec::new(),
        };
        sim.launch_missing();
        sim.now = start;
        sim
    }

    fn launch_missing(&mut self) {
        for _ in 0..self.group.launches_needed() {
            self.next_id += 1;
            self.group.launched(InstanceId(self.next_id), self.now);
        }
    }

    fn record(&mut self, decision: &Decision) {
        if let Change::In { terminate, .. } = &decision.change {
            for id in terminate {
                self.group.terminated(*id);
            }
        }
        if let Some(cause) = &decision.cause {
            self.activities.push(Activity {
                at: self.now,
                from: cause.from,
                to: cause.to,
                policy: cause.policy().map(str::to_owned),
            });
        }
    }

    /// One second: launch what is missing, sample, decide, stop what was chosen.
    fn step(&mut self, sample: impl FnOnce(&Group, Duration) -> Sample) -> Decision {
        self.now += secs(1);
        self.launch_missing();
        let sample = sample(&self.group, self.now);
        self.group.observe(sample);
        let decision = self.group.decide(self.now);
        self.record(&decision);
        decision
    }

    fn set_desired(&mut self, n: u32, honour: bool) -> Result<Decision, ManualError> {
        let decision = self.group.set_desired(n, self.now, honour)?;
        self.record(&decision);
        Ok(decision)
    }

    fn warmed_up(&self) -> u32 {
        self.group.warmed_up_at(self.now).len() as u32
    }
}

fn group(name: &str, min: u32, max: u32, desired: u32, policies: Vec<PolicySpec>) -> GroupSpec {
    GroupSpec {
        name: name.into(),
        min,
        max,
        desired: Some(desired),
        warmup: Duration::ZERO,
        default_cooldown: secs(300),
        policies,
        scheduled: vec![],
    }
}

fn tracking(name: &str, metric: Metric, target: f64) -> PolicySpec {
    PolicySpec::TargetTracking(TargetTracking {
        name: name.into(),
        metric,
        target,
        period: secs(1),
        scale_out_periods: 1,
        scale_in_periods: 5,
        disable_scale_in: false,
    })
}

fn cpu(value: f64) -> impl Fn(&Group, Duration) -> Sample {
    move |_, at| Sample {
        avg_cpu: Some(value),
        ..Sample::at(at)
    }
}

fn queue(visible: u64, busy: u32) -> impl Fn(&Group, Duration) -> Sample {
    move |_, at| Sample {
        queue_visible: Some(visible),
        busy_workers: Some(busy),
        ..Sample::at(at)
    }
}

/// Steps until the first change, or panics after `limit` seconds.
fn step_until_change(
    sim: &mut Sim,
    limit: u64,
    sample: impl Fn(&Group, Duration) -> Sample,
) -> Decision {
    for _ in 0..limit {
        let decision = sim.step(&sample);
        if decision.change != Change::None {
            return decision;
        }
    }
    panic!(
        "no change within {limit} s; desired {}",
        sim.group.desired()
    );
}

// ---- Examples -------------------------------------------------------------------------

#[test]
fn cpu_90_on_one_instance_with_target_70_asks_for_two() {
    let spec = group(
        "web",
        1,
        5,
        1,
        vec![tracking("web-cpu-70", Metric::AvgCpu, 70.0)],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    let decision = step_until_change(&mut sim, 5, cpu(90.0));
    assert_eq!(decision.change, Change::Out { by: 1 });
    assert_eq!(decision.desired, 2, "ceil(1 × 90 / 70)");
    let cause = decision.cause.expect("a change has a cause");
    assert_eq!(
        cause.render("2026-11-23T10:00:00Z"),
        "At 2026-11-23T10:00:00Z a monitor alarm TargetTracking-web-web-cpu-70-AlarmHigh in \
         state ALARM triggered policy web-cpu-70 changing the desired capacity from 1 to 2."
    );
    let Source::Alarm { breaches, .. } = &cause.source else {
        panic!("expected an alarm, got {:?}", cause.source);
    };
    assert_eq!((breaches[0].value, breaches[0].threshold), (90.0, 70.0));
}

#[test]
fn backlog_of_30_at_10_per_instance_asks_for_three_capped_at_max() {
    let backlog = |max| {
        let spec = group(
            "worker",
            1,
            max,
            1,
            vec![tracking("backlog-10", Metric::BacklogPerInstance, 10.0)],
        );
        let mut sim = Sim::new(spec, Duration::ZERO);
        step_until_change(&mut sim, 5, queue(30, 1)).desired
    };
    assert_eq!(backlog(5), 3, "ceil(30 / 10)");
    assert_eq!(backlog(2), 2, "capped at max");
}

#[test]
fn seed_002_queue_of_9_adds_one_then_waits_out_the_60_s_cooldown_then_adds_another() {
    let spec = group(
        "worker",
        1,
        5,
        1,
        vec![PolicySpec::QueueRules(QueueRules::seed_002("seed-002"))],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    for _ in 0..200 {
        sim.step(queue(9, 1));
    }
    let outs: Vec<(u64, u32)> = sim
        .activities
        .iter()
        .map(|a| (a.at.as_secs(), a.to))
        .collect();
    let first = outs[0].0;
    assert_eq!(
        outs,
        vec![
            (first, 2),
            (first + 60, 3),
            (first + 120, 4),
            (first + 180, 5)
        ],
        "one at a time, exactly a cooldown apart"
    );
    assert!(
        first <= 2,
        "the first scale-out waits only for one 2 s period"
    );
}

#[test]
fn seed_002_idle_queue_removes_one_after_the_sustain_window_then_not_again_within_180_s() {
    // 10 workers, 1 busy (10 %), queue 1: idle by both of the seed's measures.
    let spec = group(
        "worker",
        1,
        10,
        10,
        vec![PolicySpec::QueueRules(QueueRules::seed_002("seed-002"))],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    for _ in 0..700 {
        sim.step(queue(1, 1));
    }
    let ins: Vec<(u64, u32, u32)> = sim
        .activities
        .iter()
        .map(|a| (a.at.as_secs(), a.from, a.to))
        .collect();
    assert_eq!(
        ins,
        vec![(300, 10, 9), (480, 9, 8), (660, 8, 7)],
        "first after 300 s idle, then one per 180 s cooldown"
    );
}

#[test]
fn a_manual_set_desired_above_max_is_clamped_and_starts_the_cooldown() {
    let spec = group("web", 1, 3, 1, vec![tracking("cpu", Metric::AvgCpu, 70.0)]);
    let mut sim = Sim::new(spec, secs(10));
    let decision = sim.set_desired(10, false).expect("not honouring cooldown");
    assert_eq!(decision.desired, 3);
    assert_eq!(decision.change, Change::Out { by: 2 });
    let cause = decision.cause.expect("a change has a cause");
    assert_eq!(cause.source, Source::UserRequest);
    assert!(decision.reason.contains("asked 10"), "{}", decision.reason);
    // The default cooldown (300 s) now refuses a request that honours it.
    assert_eq!(
        sim.set_desired(1, true),
        Err(ManualError::InCooldown {
            group: "web".into(),
            remaining: secs(300),
        })
    );
    sim.now += secs(300);
    assert_eq!(sim.set_desired(1, true).map(|d| d.desired), Ok(1));
}

#[test]
fn target_tracking_counts_warming_capacity_and_does_not_launch_again_for_the_same_load() {
    let mut spec = group("web", 1, 10, 1, vec![tracking("cpu", Metric::AvgCpu, 70.0)]);
    spec.warmup = secs(30);
    // The first instance is in service at 30 s and runs at 90 % throughout.
    let mut sim = Sim::new(spec, secs(30));
    let first = step_until_change(&mut sim, 5, cpu(90.0));
    assert_eq!(first.desired, 2);
    for _ in 0..25 {
        let decision = sim.step(cpu(90.0));
        assert_eq!(decision.change, Change::None, "{}", decision.reason);
    }
    assert_eq!(sim.group.warming_at(sim.now).len(), 1);
}

/// AWS: an instance is InService once launched (`GroupInServiceInstances` counts it); the
/// warm-up only keeps its metrics out of the group's aggregates (issue 21).
#[test]
fn a_warming_instance_is_in_service_but_left_out_of_the_aggregates() {
    let mut spec = group("web", 1, 3, 1, vec![]);
    spec.warmup = secs(30);
    let mut g = Group::new(spec).unwrap();
    g.launched(InstanceId(1), secs(0));
    assert_eq!(g.in_service_at(secs(0)), [InstanceId(1)]);
    assert_eq!(g.warming_at(secs(0)), [InstanceId(1)]);
    assert!(g.warmed_up_at(secs(29)).is_empty());
    assert_eq!(g.warmed_up_at(secs(30)), [InstanceId(1)]);
    g.launched(InstanceId(2), secs(20));
    assert_eq!(g.in_service_at(secs(35)).len(), 2);
    assert_eq!(g.warming_at(secs(35)), [InstanceId(2)]);
    // CPUUtilization for scaling averages the warmed-up instance only.
    let readings = [(InstanceId(1), 80.0), (InstanceId(2), 20.0)];
    assert_eq!(g.average_cpu(secs(35), readings), Some(80.0));
    assert_eq!(g.average_cpu(secs(50), readings), Some(50.0));
}

#[test]
fn scale_in_waits_until_no_instance_is_warming_up() {
    let mut spec = group("web", 1, 10, 4, vec![tracking("cpu", Metric::AvgCpu, 70.0)]);
    spec.warmup = secs(20);
    // Four instances in service from 20 s; an operator asks for a fifth at 20 s, which the
    // simulated stack launches at 21 s, so it is warm at 41 s.
    let mut sim = Sim::new(spec, secs(20));
    sim.set_desired(5, false).expect("not honouring cooldown");
    let decision = step_until_change(&mut sim, 60, cpu(10.0));
    assert!(matches!(decision.change, Change::In { .. }));
    // The low alarm is ready from 26 s, but the fifth instance warms until 41 s.
    assert_eq!(sim.now, secs(41), "{}", decision.reason);
}

#[test]
fn busy_workers_keep_desired_up_and_only_idle_newest_workers_are_terminated() {
    let spec = group("worker", 1, 5, 4, vec![]);
    let mut sim = Sim::new(spec, secs(1));
    // Ids 1..=4 launched together; 1 and 3 are busy.
    sim.group.set_busy(InstanceId(1), true);
    sim.group.set_busy(InstanceId(3), true);
    let decision = sim.set_desired(1, false).expect("not honouring cooldown");
    assert_eq!(decision.desired, 2, "two busy workers cannot be stopped");
    assert_eq!(
        decision.change,
        Change::In {
            by: 2,
            terminate: vec![InstanceId(4), InstanceId(2)]
        }
    );
}

#[test]
fn the_largest_scale_out_wins_among_several_policies() {
    let spec = group(
        "web",
        1,
        10,
        1,
        vec![
            tracking("cpu", Metric::AvgCpu, 70.0),
            tracking("rps", Metric::RequestsPerTarget, 10.0),
        ],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    let decision = step_until_change(&mut sim, 5, |_, at| Sample {
        avg_cpu: Some(90.0),
        requests_per_target: Some(45.0),
        ..Sample::at(at)
    });
    assert_eq!(decision.desired, 5, "ceil(45 / 10) beats ceil(90 / 70)");
    assert_eq!(decision.cause.as_ref().and_then(Cause::policy), Some("rps"));
}

#[test]
fn scale_in_needs_every_policy_to_agree() {
    let spec = group(
        "web",
        1,
        10,
        6,
        vec![
            tracking("cpu", Metric::AvgCpu, 70.0),
            tracking("rps", Metric::RequestsPerTarget, 10.0),
        ],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    // CPU is idle but requests sit at target: the request policy holds the group.
    let busy_requests = |_: &Group, at| Sample {
        avg_cpu: Some(5.0),
        requests_per_target: Some(10.0),
        ..Sample::at(at)
    };
    for _ in 0..60 {
        let decision = sim.step(busy_requests);
        assert_eq!(decision.change, Change::None, "{}", decision.reason);
    }
    // Once requests drop too, both agree and the smaller cut wins.
    let decision = step_until_change(&mut sim, 20, |_, at| Sample {
        avg_cpu: Some(5.0),
        requests_per_target: Some(4.0),
        ..Sample::at(at)
    });
    assert_eq!(
        decision.desired, 3,
        "ceil(6 × 4 / 10) = 3 beats ceil(6 × 5 / 70) = 1"
    );
}

#[test]
fn disable_scale_in_gives_a_policy_no_veto_over_the_others() {
    let mut out_only = tracking("rps", Metric::RequestsPerTarget, 10.0);
    if let PolicySpec::TargetTracking(p) = &mut out_only {
        p.disable_scale_in = true;
    }
    let spec = group(
        "web",
        1,
        10,
        6,
        vec![tracking("cpu", Metric::AvgCpu, 70.0), out_only],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    let decision = step_until_change(&mut sim, 20, |_, at| Sample {
        avg_cpu: Some(5.0),
        requests_per_target: Some(1.0),
        ..Sample::at(at)
    });
    assert_eq!(decision.desired, 1);
}

#[test]
fn a_step_policy_in_its_cooldown_vetoes_another_policys_scale_in() {
    // The step is bounded above so that the flap guard (latency projected onto a smaller
    // group) does not also hold the group: the veto alone must.
    let step_out = PolicySpec::StepScaling(StepScaling {
        name: "latency".into(),
        metric: Metric::LatencyP95,
        steps: vec![Step {
            lower_bound: Some(500.0),
            upper_bound: Some(1000.0),
            adjustment: Adjustment::ChangeInCapacity(1),
        }],
        period: secs(1),
        evaluation_periods: 1,
        cooldown: secs(1000),
        min_adjustment_magnitude: None,
    });
    let spec = group(
        "web",
        1,
        10,
        5,
        vec![tracking("cpu", Metric::AvgCpu, 70.0), step_out],
    );
    let mut sim = Sim::new(spec, Duration::ZERO);
    let slow_but_idle = |_: &Group, at| Sample {
        avg_cpu: Some(5.0),
        latency_p95_ms: Some(900.0),
        ..Sample::at(at)
    };
    let first = step_until_change(&mut sim, 5, slow_but_idle);
    assert_eq!(first.desired, 6);
    for _ in 0..100 {
        let decision = sim.step(slow_but_idle);
        assert_eq!(decision.change, Change::None, "{}", decision.reason);
    }
}

#[test]
fn a_policy_without_data_yet_vetoes_scale_in_even_if_it_never_scales_in() {
    // Found by the steady-signal property: while the only instance warmed up, the request
    // policy had no datapoint, abstained, and the queue policy scaled the group to zero;
    // the request policy's last datapoint then scaled it back, and so on.
    let mut requests = tracking("requests", Metric::RequestsPerTarget, 1.0);
    if let PolicySpec::TargetTracking(p) = &mut requests {
        p.period = secs(2);
        p.disable_scale_in = true;
    }
    let queue_in = PolicySpec::StepScaling(StepScaling {
        name: "queue".into(),
        metric: Metric::QueueVisible,
        steps: vec![Step {
            lower_bound: None,
            upper_bound: Some(32.0),
            adjustment: Adjustment::ChangeInCapacity(-2),
        }],
        period: secs(1),
        evaluation_periods: 2,
        cooldown: secs(5),
        min_adjustment_magnitude: None,
    });
    let mut spec = group("web", 0, 1, 1, vec![requests, queue_in]);
    spec.warmup = secs(3);
    let mut sim = Sim::new(spec, Duration::ZERO);
    for _ in 0..100 {
        let decision = sim.step(|_, at| Sample {
            requests_per_target: Some(79.0),
            queue_visible: Some(0),
            ..Sample::at(at)
        });
        assert_eq!(
            decision.change,
            Change::None,
            "at {:?}: {}",
            sim.now,
            decision.reason
        );
    }
}

#[test]
fn stale_samples_are_refused_and_nothing_happens_without_data() {
    let spec = group("web", 1, 5, 2, vec![tracking("cpu", Metric::AvgCpu, 70.0)]);
    let mut group = Group::new(spec).expect("valid spec");
    assert!(group.observe(Sample::at(secs(5))));
    assert!(!group.observe(Sample::at(secs(4))));
    let decision = group.decide(secs(60));
    assert_eq!(decision.change, Change::None, "{}", decision.reason);
}

#[test]
fn an_invalid_spec_is_refused_at_construction() {
    let spec = group("web", 4, 2, 3, vec![]);
    assert!(matches!(
        Group::new(spec),
        Err(SpecError::MinAboveMax { .. })
    ));
}

// ---- Properties -----------------------------------------------------------------------

fn arb_metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::AvgCpu),
        Just(Metric::RequestsPerTarget),
        Just(Metric::LatencyP95),
        Just(Metric::BacklogPerInstance),
        Just(Metric::QueueVisible),
        Just(Metric::Utilisation),
    ]
}

fn arb_tracked_metric() -> impl Strategy<Value = Metric> {
    arb_metric().prop_filter("target tracking needs a per-instance metric", |m| {
        *m != Metric::QueueVisible
    })
}

/// Metrics whose value does not depend on the group's size when the sample does not.
fn arb_size_free_metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::AvgCpu),
        Just(Metric::RequestsPerTarget),
        Just(Metric::LatencyP95),
        Just(Metric::QueueVisible),
    ]
}

fn arb_target_tracking() -> impl Strategy<Value = PolicySpec> {
    (
        arb_tracked_metric(),
        1.0..100.0_f64,
        1..=3_u64,
        1..=3_u32,
        1..=6_u32,
        any::<bool>(),
    )
        .prop_map(|(metric, target, period, out, inn, disable)| {
            PolicySpec::TargetTracking(TargetTracking {
                name: String::new(),
                metric,
                target,
                period: secs(period),
                scale_out_periods: out,
                scale_in_periods: inn,
                disable_scale_in: disable,
            })
        })
}

fn arb_adjustment(sign: i32) -> impl Strategy<Value = Adjustment> {
    prop_oneof![
        (1..=3_i32).prop_map(move |n| Adjustment::ChangeInCapacity(sign * n)),
        (10..=100_i32).prop_map(move |p| Adjustment::PercentChangeInCapacity(sign * p)),
    ]
}

fn arb_step_scaling(metric: impl Strategy<Value = Metric>) -> impl Strategy<Value = PolicySpec> {
    (
        metric,
        0.0..50.0_f64,
        1.0..60.0_f64,
        arb_adjustment(1),
        arb_adjustment(-1),
        0..3_u8,
        (1..=3_u64, 1..=3_u32, 0..=30_u64),
    )
        .prop_map(
            |(metric, low, gap, up, down, shape, (period, eval, cooldown))| {
                let out = Step {
                    lower_bound: Some(low + gap),
                    upper_bound: None,
                    adjustment: up,
                };
                let inn = Step {
                    lower_bound: None,
                    upper_bound: Some(low),
                    adjustment: down,
                };
                let steps = match shape {
                    0 => vec![out],
                    1 => vec![inn],
                    _ => vec![inn, out],
                };
                PolicySpec::StepScaling(StepScaling {
                    name: String::new(),
                    metric,
                    steps,
                    period: secs(period),
                    evaluation_periods: eval,
                    cooldown: secs(cooldown),
                    min_adjustment_magnitude: None,
                })
            },
        )
}

fn arb_queue_rules() -> impl Strategy<Value = PolicySpec> {
    (1..=3_u64, 0..=20_u64, 0..=40_u64, 0..=40_u64, 1..=3_u32).prop_map(
        |(period, sustain, out_cooldown, in_cooldown, step)| {
            PolicySpec::QueueRules(QueueRules {
                period: secs(period),
                scale_in_sustain: secs(sustain),
                scale_out_cooldown: secs(out_cooldown),
                scale_in_cooldown: secs(in_cooldown),
                step,
                ..QueueRules::seed_002("")
            })
        },
    )
}

fn arb_any_policy() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        arb_target_tracking(),
        arb_step_scaling(arb_metric()),
        arb_queue_rules(),
        arb_predictive()
    ]
}

fn arb_predictive() -> impl Strategy<Value = PolicySpec> {
    let metric = prop_oneof![Just(Metric::AvgCpu), Just(Metric::RequestsPerTarget)];
    (metric, 1.0..100.0_f64, 5..=60_u64, 0..5_u64, any::<bool>()).prop_map(
        |(metric, target, cycle, buffer, scales)| {
            PolicySpec::Predictive(Predictive {
                name: String::new(),
                metric,
                target,
                cycle: secs(cycle),
                buffer: secs(buffer),
                period: secs(1),
                mode: if scales {
                    PredictiveMode::ForecastAndScale
                } else {
                    PredictiveMode::ForecastOnly
                },
            })
        },
    )
}

fn arb_cooldown_policy() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![arb_step_scaling(arb_metric()), arb_queue_rules()]
}

/// A group with the given policies, named p0, p1, … so names are unique.
fn arb_group(
    policy: impl Strategy<Value = PolicySpec>,
    policies: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = GroupSpec> {
    (
        0..=3_u32,
        0..=6_u32,
        0..=10_u64,
        0..=30_u64,
        prop::collection::vec(policy, policies),
    )
        .prop_flat_map(|(min, extra, warmup, cooldown, policies)| {
            (min..=min + extra).prop_map(move |desired| GroupSpec {
                name: "g".into(),
                min,
                max: min + extra,
                desired: Some(desired),
                warmup: secs(warmup),
                default_cooldown: secs(cooldown),
                policies: policies
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, p)| named(p, format!("p{i}")))
                    .collect(),
                scheduled: vec![],
            })
        })
}

fn named(policy: PolicySpec, name: String) -> PolicySpec {
    match policy {
        PolicySpec::TargetTracking(p) => PolicySpec::TargetTracking(TargetTracking { name, ..p }),
        PolicySpec::StepScaling(p) => PolicySpec::StepScaling(StepScaling { name, ..p }),
        PolicySpec::QueueRules(p) => PolicySpec::QueueRules(QueueRules { name, ..p }),
        PolicySpec::Predictive(p) => PolicySpec::Predictive(Predictive { name, ..p }),
    }
}

fn arb_sample_values() -> impl Strategy<Value = SampleValues> {
    (
        prop::option::weighted(0.9, 0.0..150.0_f64),
        prop::option::weighted(0.9, 0.0..100.0_f64),
        prop::option::weighted(0.9, 0.0..2000.0_f64),
        prop::option::weighted(0.9, 0..40_u64),
        prop::option::weighted(0.9, 0..12_u32),
    )
        .prop_map(|(cpu, rpt, latency, queue, busy)| SampleValues {
            cpu,
            rpt,
            latency,
            queue,
            busy,
        })
}

#[derive(Debug, Clone, Copy)]
struct SampleValues {
    cpu: Option<f64>,
    rpt: Option<f64>,
    latency: Option<f64>,
    queue: Option<u64>,
    busy: Option<u32>,
}

impl SampleValues {
    fn at(self, at: Duration) -> Sample {
        Sample {
            at,
            avg_cpu: self.cpu,
            requests_per_target: self.rpt,
            // Over the warmed-up instances, as before the balancer's division mattered.
            request_targets: None,
            latency_p95_ms: self.latency,
            queue_visible: self.queue,
            busy_workers: self.busy,
        }
    }
}

/// What happens in one simulated second besides sampling.
#[derive(Debug, Clone)]
enum Op {
    Nothing,
    SetDesired {
        n: u32,
        honour: bool,
    },
    /// Marks the instance at this position (modulo the count) busy or idle.
    Busy {
        index: usize,
        busy: bool,
    },
    /// The instance at this position dies on its own.
    Crash {
        index: usize,
    },
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => Just(Op::Nothing),
        1 => (0..15_u32, any::<bool>()).prop_map(|(n, honour)| Op::SetDesired { n, honour }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(index, busy)| Op::Busy { index, busy }),
        1 => any::<usize>().prop_map(|index| Op::Crash { index }),
    ]
}

fn nth_instance(group: &Group, index: usize) -> Option<InstanceId> {
    let instances = group.instances();
    (!instances.is_empty()).then(|| instances[index % instances.len()].id)
}

impl Sim {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Nothing => {}
            Op::SetDesired { n, honour } => {
                // A refusal (cooldown) is a legitimate outcome here.
                let _ = self.set_desired(n, honour);
            }
            Op::Busy { index, busy } => {
                if let Some(id) = nth_instance(&self.group, index) {
                    self.group.set_busy(id, busy);
                }
            }
            Op::Crash { index } => {
                if let Some(id) = nth_instance(&self.group, index) {
                    self.group.terminated(id);
                }
            }
        }
    }
}

fn scale_out_cooldown(spec: &GroupSpec, policy: &str) -> Option<Duration> {
    spec.policies
        .iter()
        .find(|p| p.name() == policy)
        .and_then(|p| match p {
            PolicySpec::StepScaling(p) => Some(p.cooldown),
            PolicySpec::QueueRules(p) => Some(p.scale_out_cooldown),
            PolicySpec::TargetTracking(_) | PolicySpec::Predictive(_) => None,
        })
}

fn scale_in_cooldown(spec: &GroupSpec, policy: &str) -> Option<Duration> {
    spec.policies
        .iter()
        .find(|p| p.name() == policy)
        .and_then(|p| match p {
            PolicySpec::StepScaling(p) => Some(p.cooldown),
            PolicySpec::QueueRules(p) => Some(p.scale_in_cooldown),
            PolicySpec::TargetTracking(_) | PolicySpec::Predictive(_) => None,
        })
}

/// How often the direction of change flips in a run (out → in or in → out).
fn direction_switches(activities: &[Activity]) -> usize {
    let directions: Vec<bool> = activities.iter().map(|a| a.to > a.from).collect();
    directions.windows(2).filter(|w| w[0] != w[1]).count()
}

proptest! {
    #[test]
    fn desired_never_leaves_min_max_whatever_the_samples_and_operator_commands(
        spec in arb_group(arb_any_policy(), 0..=3),
        seconds in prop::collection::vec((arb_sample_values(), arb_op()), 1..200),
    ) {
        let (min, max) = (spec.min, spec.max);
        let mut sim = Sim::new(spec, Duration::ZERO);
        for (values, op) in &seconds {
            sim.apply(op);
            prop_assert!((min..=max).contains(&sim.group.desired()));
            let decision = sim.step(|_, at| values.at(at));
            prop_assert_eq!(decision.desired, sim.group.desired());
            prop_assert!(
                (min..=max).contains(&decision.desired),
                "desired {} outside {}..={}: {}", decision.desired, min, max, decision.reason
            );
        }
    }

    #[test]
    fn step_and_queue_rules_respect_their_cooldowns(
        spec in arb_group(arb_cooldown_policy(), 1..=2),
        seconds in prop::collection::vec((arb_sample_values(), arb_op()), 1..250),
    ) {
        let mut sim = Sim::new(spec.clone(), Duration::ZERO);
        for (values, op) in &seconds {
            sim.apply(op);
            sim.step(|_, at| values.at(at));
        }
        let mut last_out: Option<Duration> = None;
        let mut last_any: Option<Duration> = None;
        for activity in &sim.activities {
            let out = activity.to > activity.from;
            if let Some(policy) = &activity.policy {
                let (since, cooldown) = if out {
                    (last_out, scale_out_cooldown(&spec, policy))
                } else {
                    (last_any, scale_in_cooldown(&spec, policy))
                };
                if let (Some(since), Some(cooldown)) = (since, cooldown) {
                    prop_assert!(
                        activity.at - since >= cooldown,
                        "{} by {} at {:?} only {:?} after the previous one (cooldown {:?})",
                        if out { "scale-out" } else { "scale-in" },
                        policy, activity.at, activity.at - since, cooldown
                    );
                }
            }
            if out {
                last_out = Some(activity.at);
            }
            last_any = Some(activity.at);
        }
    }

    #[test]
    fn a_steady_signal_never_makes_the_group_change_direction_twice(
        spec in arb_group(
            prop_oneof![
                arb_target_tracking(),
                arb_step_scaling(arb_size_free_metric()),
                arb_queue_rules(),
            ],
            1..=3,
        ),
        values in arb_sample_values(),
    ) {
        let mut sim = Sim::new(spec, Duration::ZERO);
        for _ in 0..400 {
            sim.step(|_, at| values.at(at));
        }
        prop_assert!(
            direction_switches(&sim.activities) <= 1,
            "flapped: {:?}", sim.activities
        );
    }

    #[test]
    fn a_steady_total_load_never_makes_the_group_change_direction_twice(
        spec in arb_group(arb_any_policy(), 1..=3),
        load in 0.0..600.0_f64,
        queue in 0..40_u64,
        busy in 0..12_u32,
    ) {
        // The same work spread over whatever is in service: per-instance metrics fall as
        // capacity grows, as on a real group.
        let mut sim = Sim::new(spec, Duration::ZERO);
        for _ in 0..400 {
            sim.step(|group, at| {
                let n = group.warmed_up_at(at).len() as u32;
                let per_instance = (n > 0).then(|| load / f64::from(n));
                Sample {
                    avg_cpu: per_instance,
                    requests_per_target: per_instance,
                    latency_p95_ms: per_instance,
                    queue_visible: Some(queue),
                    busy_workers: Some(busy.min(n)),
                    ..Sample::at(at)
                }
            });
        }
        prop_assert!(
            direction_switches(&sim.activities) <= 1,
            "flapped: {:?}", sim.activities
        );
    }

    #[test]
    fn warming_and_terminating_instances_are_left_out_of_average_cpu(
        launches in prop::collection::vec((0..60_u64, 0.0..100.0_f64), 1..10),
        keep in 0..10_u32,
        warmup in 0..30_u64,
        now in 0..90_u64,
    ) {
        let mut spec = group("web", 0, 20, 20, vec![]);
        spec.warmup = secs(warmup);
        let mut group = Group::new(spec).expect("valid spec");
        let mut readings = Vec::new();
        for (i, (launched, cpu)) in launches.iter().enumerate() {
            let id = InstanceId(i as u64);
            group.launched(id, secs(*launched));
            readings.push((id, *cpu));
        }
        // Shrinking marks the newest instances terminating.
        group.set_desired(keep, Duration::ZERO, false).expect("not honouring cooldown");
        let counted: Vec<f64> = group
            .instances()
            .iter()
            .zip(&readings)
            .filter(|(i, _)| !i.terminating && i.launched_at + secs(warmup) <= secs(now))
            .map(|(_, (_, cpu))| *cpu)
            .collect();
        readings.push((InstanceId(999), 100.0)); // not in the group
        let mean = (!counted.is_empty()).then(|| counted.iter().sum::<f64>() / counted.len() as f64);
        let got = group.average_cpu(secs(now), readings.iter().copied());
        match (got, mean) {
            (Some(got), Some(mean)) => prop_assert!((got - mean).abs() < 1e-9, "{} != {}", got, mean),
            (got, mean) => prop_assert_eq!(got, mean),
        }
    }

    #[test]
    fn target_tracking_does_not_add_capacity_for_the_same_load_while_it_warms_up(
        start in 1..=4_u32,
        target in 20.0..90.0_f64,
        overload in 1.05..3.0_f64,
        out_periods in 1..=3_u32,
        warmup in 10..60_u64,
    ) {
        let mut spec = group("web", 1, 50, start, vec![PolicySpec::TargetTracking(TargetTracking {
            name: "cpu".into(),
            metric: Metric::AvgCpu,
            target,
            period: secs(1),
            scale_out_periods: out_periods,
            scale_in_periods: 15,
            disable_scale_in: false,
        })]);
        spec.warmup = secs(warmup);
        let cpu = target * overload;
        // The initial instances are warmed up from `warmup` on; load per warmed-up
        // instance stays the same, as the new ones carry none until they are warm.
        let mut sim = Sim::new(spec, secs(warmup));
        let first = step_until_change(&mut sim, 10, move |_, at| Sample {
            avg_cpu: Some(cpu),
            ..Sample::at(at)
        });
        let launched_at = sim.now;
        prop_assert!(
            matches!(first.change, Change::Out { .. }),
            "expected a scale-out: {}",
            first.reason
        );
        while sim.now + secs(1) < launched_at + secs(warmup) {
            let decision = sim.step(move |_, at| Sample { avg_cpu: Some(cpu), ..Sample::at(at) });
            prop_assert_eq!(sim.warmed_up(), start);
            prop_assert_eq!(&decision.change, &Change::None, "{}", decision.reason);
        }
    }

    #[test]
    fn busy_workers_are_never_chosen_for_termination(
        spec in arb_group(arb_any_policy(), 0..=2),
        seconds in prop::collection::vec((arb_sample_values(), arb_op()), 1..200),
    ) {
        let mut sim = Sim::new(spec, Duration::ZERO);
        let check = |group: &Group, decision: &Decision| -> Result<(), TestCaseError> {
            if let Change::In { terminate, .. } = &decision.change {
                for id in terminate {
                    let instance = group.instances().iter().find(|i| i.id == *id);
                    prop_assert!(
                        instance.is_some_and(|i| !i.busy),
                        "chose {} which is busy or unknown: {:?}", id, instance
                    );
                }
            }
            Ok(())
        };
        for (values, op) in &seconds {
            // Check each decision before the simulated stack stops what it chose.
            if let Op::SetDesired { n, honour } = op {
                if let Ok(decision) = sim.group.set_desired(*n, sim.now, *honour) {
                    check(&sim.group, &decision)?;
                    sim.record(&decision);
                }
            } else {
                sim.apply(op);
            }
            sim.now += secs(1);
            sim.launch_missing();
            sim.group.observe(values.at(sim.now));
            let decision = sim.group.decide(sim.now);
            check(&sim.group, &decision)?;
            sim.record(&decision);
        }
    }
}

fn scheduled(
    name: &str,
    at: u64,
    every: Option<u64>,
    limits: (Option<u32>, Option<u32>),
    desired: Option<u32>,
) -> ScheduledAction {
    ScheduledAction {
        name: name.into(),
        at: secs(at),
        every: every.map(secs),
        min: limits.0,
        max: limits.1,
        desired,
    }
}

#[test]
fn a_scheduled_action_sets_the_limits_and_moves_desired_into_them() {
    let mut spec = group("web", 1, 4, 1, vec![]);
    spec.scheduled = vec![
        // Business hours: at least 3 from 10 s; back to 1..=4 at 20 s.
        scheduled("morning", 10, None, (Some(3), None), None),
        scheduled("evening", 20, None, (Some(1), Some(4)), Some(1)),
    ];
    let mut g = Group::new(spec).unwrap();
    assert_eq!(g.decide(secs(5)).change, Change::None);
    let morning = g.decide(secs(10));
    assert_eq!(morning.change, Change::Out { by: 2 });
    assert_eq!(g.limits(), (3, 4));
    let cause = morning.cause.unwrap();
    assert_eq!(cause.policy(), Some("morning"));
    assert_eq!(
        cause.render("2026-12-04T10:00:00Z"),
        "At 2026-12-04T10:00:00Z a scheduled action morning update of AutoScalingGroup \
         constraints to min: 3, max: 4, desired: 3 changing the desired capacity from 1 to 3."
    );
    // Applied once: the next second does nothing more.
    assert_eq!(g.decide(secs(11)).change, Change::None);
    let evening = g.decide(secs(25));
    assert_eq!(evening.desired, 1);
    assert!(
        matches!(evening.change, Change::In { by: 2, .. }),
        "{evening:?}"
    );
    assert_eq!(g.limits(), (1, 4));
}

#[test]
fn a_recurring_action_falls_due_at_each_recurrence_once() {
    let mut spec = group("web", 1, 4, 1, vec![]);
    spec.scheduled = vec![
        scheduled("up", 10, Some(100), (None, None), Some(3)),
        scheduled("down", 60, Some(100), (None, None), Some(1)),
    ];
    let mut g = Group::new(spec).unwrap();
    let mut desired = Vec::new();
    for t in 0..=260 {
        g.decide(secs(t));
        desired.push(g.desired());
    }
    assert_eq!(
        (desired[9], desired[10], desired[59], desired[60]),
        (1, 3, 3, 1)
    );
    assert_eq!(
        (desired[110], desired[160], desired[210], desired[260]),
        (3, 1, 3, 1)
    );
    // A check that skips a recurrence applies its latest one only.
    let mut spec = group("web", 1, 4, 1, vec![]);
    spec.scheduled = vec![scheduled("up", 10, Some(100), (None, None), Some(3))];
    let mut g = Group::new(spec).unwrap();
    assert_eq!(g.decide(secs(350)).desired, 3);
}

#[test]
fn scheduled_actions_are_checked_when_read() {
    let toml = |extra: &str| {
        format!(
            "{{\"name\": \"web\", \"min\": 1, \"max\": 3, \"warmup_secs\": 0, \
             \"scheduled\": [{{\"name\": \"a\", \"at_secs\": 5{extra}}}]}}"
        )
    };
    let parse = |text: String| {
        serde_json::from_str::<GroupSpec>(&text)
            .map_err(|e| e.to_string())
            .and_then(|spec| Group::new(spec).map(|_| ()).map_err(|e| e.to_string()))
    };
    assert!(parse(toml(", \"desired\": 2")).is_ok());
    assert!(
        parse(toml(""))
            .unwrap_err()
            .contains("sets none of min, max and desired")
    );
    assert!(
        parse(toml(", \"min\": 3, \"max\": 2"))
            .unwrap_err()
            .contains("above max")
    );
    assert!(
        parse(toml(", \"desired\": 2, \"every_secs\": 0"))
            .unwrap_err()
            .contains("above 0")
    );
    assert!(
        parse(toml(", \"desire\": 2"))
            .unwrap_err()
            .contains("unknown field")
    );
}

proptest! {
    /// With scheduled actions changing the limits, desired stays within the limits in
    /// force, and policies still never leave them.
    #[test]
    fn desired_stays_within_the_limits_scheduled_actions_set(
        spec in arb_group(arb_any_policy(), 0..=2),
        actions in prop::collection::vec(
            (0..120_u64, prop::option::of(1..60_u64), prop::option::of(0..4_u32),
             prop::option::of(0..5_u32), prop::option::of(0..8_u32)),
            1..4,
        ),
        seconds in prop::collection::vec(arb_sample_values(), 1..150),
    ) {
        let mut spec = spec;
        spec.scheduled = actions
            .iter()
            .enumerate()
            .map(|(i, &(at, every, min, extra, desired))| {
                let max = min.map(|m| m + extra.unwrap_or(0)).or(extra);
                scheduled(&format!("s{i}"), at, every, (min, max), desired.or(Some(1)))
            })
            .collect();
        prop_assume!(spec.validate().is_ok());
        let mut sim = Sim::new(spec, Duration::ZERO);
        for values in &seconds {
            let decision = sim.step(|_, at| values.at(at));
            let (min, max) = sim.group.limits();
            prop_assert!(min <= max);
            // Above max only as far as busy workers, which are never stopped, hold it.
            let busy = sim.group.instances().iter().filter(|i| i.busy).count() as u32;
            prop_assert!(
                decision.desired >= min && decision.desired <= max.max(busy),
                "desired {} outside {}..={} ({} busy): {}",
                decision.desired, min, max, busy, decision.reason
            );
        }
    }
}

fn predictive(mode: PredictiveMode) -> PolicySpec {
    PolicySpec::Predictive(Predictive {
        name: "daily".into(),
        metric: Metric::RequestsPerTarget,
        target: 50.0,
        cycle: secs(100),
        buffer: secs(10),
        period: secs(1),
        mode,
    })
}

/// Runs a group second by second under `load(t)` requests/s in all, launching what it asks
/// for at once (no warm-up); returns desired after each second.
fn run_under(spec: GroupSpec, seconds: u64, load: impl Fn(u64) -> f64) -> (Group, Vec<u32>) {
    let mut g = Group::new(spec).unwrap();
    let mut next = 0;
    let mut desired = Vec::new();
    for t in 0..seconds {
        let now = secs(t);
        for _ in 0..g.launches_needed() {
            next += 1;
            g.launched(InstanceId(next), now);
        }
        let serving = g.warmed_up_at(now).len().max(1) as f64;
        let decision = {
            g.observe(Sample {
                requests_per_target: Some(load(t) / serving),
                ..Sample::at(now)
            });
            g.decide(now)
        };
        if let Change::In { terminate, .. } = &decision.change {
            for id in terminate {
                g.terminated(*id);
            }
        }
        desired.push(g.desired());
    }
    (g, desired)
}

/// A peak of 200 requests/s from 20 s to 40 s of each 100 s cycle, 50 otherwise.
fn daily_peak(t: u64) -> f64 {
    if (20..40).contains(&(t % 100)) {
        200.0
    } else {
        50.0
    }
}

#[test]
fn predictive_scaling_launches_the_forecast_capacity_ahead_of_a_repeating_peak() {
    let spec = group(
        "web",
        1,
        6,
        1,
        vec![predictive(PredictiveMode::ForecastAndScale)],
    );
    let (_, desired) = run_under(spec, 200, daily_peak);
    // First cycle: nothing to forecast from, so no change.
    assert!(desired[..100].iter().all(|&d| d == 1), "{desired:?}");
    // Second cycle: 4 instances (200 / 50) are asked for 10 s before the peak's 120 s.
    assert_eq!(desired[109], 1, "{desired:?}");
    assert_eq!(desired[110], 4, "{desired:?}");
    // It never scales in itself.
    assert!(desired[110..].iter().all(|&d| d == 4), "{desired:?}");
}

#[test]
fn a_forecast_only_policy_reports_and_never_acts() {
    let spec = group(
        "web",
        1,
        6,
        1,
        vec![predictive(PredictiveMode::ForecastOnly)],
    );
    let (mut g, desired) = run_under(spec, 200, daily_peak);
    assert!(desired.iter().all(|&d| d == 1), "{desired:?}");
    let reason = g.decide(secs(210)).reason;
    assert!(reason.contains("forecast only"), "{reason}");
}

#[test]
fn a_forecast_holds_target_trackings_scale_in_at_the_forecast() {
    // Target tracking at 50 per target follows the load; the forecast keeps the group at
    // 4 through the quiet seconds just before the next peak instead of letting it shrink.
    let mut tt = tracking("tt", Metric::RequestsPerTarget, 50.0);
    if let PolicySpec::TargetTracking(p) = &mut tt {
        p.scale_in_periods = 3;
    }
    let spec = group(
        "web",
        1,
        6,
        1,
        vec![tt, predictive(PredictiveMode::ForecastAndScale)],
    );
    let (_, desired) = run_under(spec, 240, daily_peak);
    // After the second peak (120–140 s) tracking scales in, but not below the forecast:
    // 4 from 210 s (the third peak, at 220 s, is 10 s ahead).
    assert!(
        desired[150] < 4,
        "tracking scaled in after the peak: {desired:?}"
    );
    // From 213 s tracking sees three quiet periods and would cut to 1; the forecast of the
    // peak 10 s ahead holds it at 4 until the peak arrives.
    assert!(desired[210..225].iter().all(|&d| d == 4), "{desired:?}");
}
