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

/// The value `key` has in the template's `attributes` list (`[{Key, Value}]`).
fn attribute<'a>(attributes: &'a Value, key: &str) -> &'a Value {
    &attributes
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == key)
        .unwrap_or_else(|| panic!("no attribute {key}"))["Value"]
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

#[test]
fn the_local_stacks_default_times_are_the_deployed_ones() {
    // The grace period, the warm-up, the health checks and the balancer's timeouts: a
    // rehearsal on the defaults reacts on AWS's clock.
    let template = template::load("aforo.yaml");
    let resources = &template["Resources"];
    let local: toml::Value = toml::from_str(scaling_policy::stack_toml::DEFAULT).unwrap();
    let secs = |value: &toml::Value| {
        value
            .as_float()
            .or_else(|| value.as_integer().map(|n| n as f64))
            .unwrap_or_else(|| panic!("{value} is not a number"))
    };
    for group in ["WebGroup", "WorkerGroup"] {
        let asg = &resources[group]["Properties"];
        assert_eq!(
            secs(&local["health_check_grace_secs"]),
            number(&asg["HealthCheckGracePeriod"]),
            "{group}"
        );
    }
    for (group, section) in [("WebGroup", "web"), ("WorkerGroup", "worker")] {
        assert_eq!(
            secs(&local[section]["warmup_secs"]),
            number(&resources[group]["Properties"]["DefaultInstanceWarmup"]),
            "{group}"
        );
    }
    let target_group = &resources["WebTargetGroup"]["Properties"];
    let balancer = &local["balancer"];
    for (key, property) in [
        ("interval_secs", "HealthCheckIntervalSeconds"),
        ("timeout_secs", "HealthCheckTimeoutSeconds"),
        ("healthy_threshold", "HealthyThresholdCount"),
        ("unhealthy_threshold", "UnhealthyThresholdCount"),
    ] {
        assert_eq!(
            secs(&balancer[key]),
            number(&target_group[property]),
            "{key}"
        );
    }
    assert_eq!(
        balancer["health_path"].as_str(),
        target_group["HealthCheckPath"].as_str()
    );
    let attributes = &target_group["TargetGroupAttributes"];
    assert_eq!(
        secs(&balancer["deregistration_delay_secs"]),
        number(attribute(
            attributes,
            "deregistration_delay.timeout_seconds"
        ))
    );
    assert_eq!(
        balancer["algorithm"].as_str(),
        attribute(attributes, "load_balancing.algorithm.type").as_str()
    );
    let load_balancer = resources
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer")
        .expect("aforo.yaml has a load balancer");
    assert_eq!(
        secs(&balancer["idle_timeout_secs"]),
        number(attribute(
            &load_balancer["Properties"]["LoadBalancerAttributes"],
            "idle_timeout.timeout_seconds"
        ))
    );
}
