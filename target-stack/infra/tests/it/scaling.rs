//! The local stack's default scaling policies are the ones aforo.yaml deploys (issue 21): a
//! rehearsal on one machine scales by the same rule as the deployment, so its reaction
//! times mean the same thing.

use scaling_policy::stack_toml::StackGroups;
use scaling_policy::{GroupSpec, Metric, PolicySpec, TargetTracking};
use serde_json::{Value, json};

use crate::template;

/// The local group's target tracking policy on `metric`.
fn tracking(group: &GroupSpec, metric: Metric) -> &TargetTracking {
    group
        .policies
        .iter()
        .find_map(|p| match p {
            PolicySpec::TargetTracking(t) if t.metric == metric => Some(t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{}: no target tracking on {metric:?}", group.name))
}

fn parameter(template: &Value, name: &str) -> f64 {
    template["Parameters"][name]["Default"]
        .as_f64()
        .unwrap_or_else(|| panic!("parameter {name} has no numeric default"))
}

#[test]
fn the_local_stacks_default_policies_are_the_deployed_ones() {
    let template = template::load("aforo.yaml");
    let resources = &template["Resources"];
    let local = StackGroups::parse("").unwrap();
    let config = |name: &str| &resources[name]["Properties"]["TargetTrackingConfiguration"];
    for name in ["WebCpuPolicy", "WebRequestsPolicy", "WorkerBacklogPolicy"] {
        assert_eq!(
            resources[name]["Properties"]["PolicyType"], "TargetTrackingScaling",
            "{name}"
        );
    }

    // Web: 70 % CPU (ASGAverageCPUUtilization, warming instances left out).
    assert_eq!(
        config("WebCpuPolicy")["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "ASGAverageCPUUtilization"
    );
    assert_eq!(
        config("WebCpuPolicy")["TargetValue"],
        json!({"Ref": "WebCpuTarget"})
    );
    let cpu = tracking(&local.web, Metric::AvgCpu);
    assert_eq!(cpu.target, parameter(&template, "WebCpuTarget"));

    // Web: ALBRequestCountPerTarget is a sum per minute; the local metric is per second.
    assert_eq!(
        config("WebRequestsPolicy")["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "ALBRequestCountPerTarget"
    );
    let requests = tracking(&local.web, Metric::RequestsPerTarget);
    assert_eq!(
        requests.target * 60.0,
        parameter(&template, "WebRequestsPerTarget")
    );

    // Worker: visible messages over GroupInServiceInstances, by metric math.
    let worker = config("WorkerBacklogPolicy");
    assert_eq!(
        worker["TargetValue"],
        json!({"Ref": "WorkerBacklogPerInstance"})
    );
    let metrics = worker["CustomizedMetricSpecification"]["Metrics"]
        .as_array()
        .unwrap();
    let metric_name = |id: &str| {
        metrics.iter().find(|m| m["Id"] == id).unwrap()["MetricStat"]["Metric"]["MetricName"]
            .clone()
    };
    assert_eq!(metric_name("queued"), "ApproximateNumberOfMessagesVisible");
    assert_eq!(metric_name("workers"), "GroupInServiceInstances");
    assert!(
        metrics
            .iter()
            .any(|m| m["Expression"] == "queued / workers" && m["ReturnData"] == true)
    );
    let backlog = tracking(&local.worker, Metric::BacklogPerInstance);
    assert_eq!(
        backlog.target,
        parameter(&template, "WorkerBacklogPerInstance")
    );
    assert_eq!(
        local.worker.policies.len(),
        1,
        "{:?}",
        local.worker.policies
    );

    // Target tracking's alarms as AWS creates them: 1-minute datapoints, 3 to scale out and
    // 15 to scale in, on every default policy.
    for policy in [cpu, requests, backlog] {
        assert_eq!(policy.period.as_secs(), 60, "{}", policy.name);
        assert_eq!(
            (policy.scale_out_periods, policy.scale_in_periods),
            (3, 15),
            "{}",
            policy.name
        );
    }
}
