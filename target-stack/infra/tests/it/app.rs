//! `App=inference`: the template realized as CloudFormation would with seed 000's inference
//! service has a web group and no worker group, and nothing in it refers to what is left out.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::template;

fn realized(app: &str) -> Value {
    let mut params = template::params("standard");
    params.insert("App".into(), json!(app));
    // Seed 000's app at the template's defaults: no predictive or scheduled scaling (the
    // standard parameters turn them on; the next test covers them).
    params.remove("EnablePredictive");
    params.remove("EnableSchedule");
    template::realize(&template::load("aforo.yaml"), &params)
}

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().unwrap()
}

fn groups(t: &Value) -> Vec<&str> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
        .map(|(name, _)| name.as_str())
        .collect()
}

#[test]
fn the_inference_app_has_a_web_group_and_no_worker_group() {
    let anb = realized("anb");
    assert_eq!(groups(&anb), ["WebGroup", "WorkerGroup"]);

    let inference = realized("inference");
    assert_eq!(groups(&inference), ["WebGroup"]);
    // The service keeps no state: no queue, bucket, database or signing key either.
    for gone in [
        "WorkerLaunchTemplate",
        "WorkerSecurityGroup",
        "WorkerToDb",
        "WorkerBacklogPolicy",
        "WorkerAtMaxAlarm",
        "TaskQueue",
        "DeadLetterQueue",
        "DeadLettersAlarm",
        "VideoBucket",
        "VideoBucketPolicy",
        "Database",
        "DbSubnetGroup",
        "DbSecurityGroup",
        "WebToDb",
        "DbSecret",
        "JwtSecret",
    ] {
        assert!(
            resources(&anb).contains_key(gone),
            "{gone} is missing with App=anb"
        );
        assert!(
            !resources(&inference).contains_key(gone),
            "{gone} is created with App=inference"
        );
    }
    let outputs: BTreeSet<&str> = inference["Outputs"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        outputs,
        BTreeSet::from([
            "BaseUrl",
            "LoadBalancer",
            "TargetGroup",
            "App",
            "WebGroup",
            "AlarmTopic",
            "DashboardUrl"
        ])
    );
    // Seed 000's scaling stays: target tracking on CPU and on requests per target.
    let policies: BTreeSet<&str> = resources(&inference)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::AutoScaling::ScalingPolicy")
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        policies,
        BTreeSet::from(["WebCpuPolicy", "WebRequestsPolicy"])
    );
    // The instances are told the slow fraction and nothing of the ANB system.
    let config = resources(&inference)["InstanceConfig"]["Properties"]["Value"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert_eq!(
        config,
        r#"{"inference_slow_fraction": "${InferenceSlowFraction}"}"#
    );
    // The web instances are told which app to run.
    let user_data = resources(&inference)["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
        ["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(user_data.contains("AFORO_APP=${App}"), "{user_data}");
}

/// The dashboard's body as CloudFormation renders it (names stand for the values), parsed:
/// valid JSON for both apps, and with App=inference no widget or line for what is left out.
#[test]
fn the_dashboard_shows_what_each_app_has() {
    for (app, widgets, absent) in [
        ("anb", 8, &[][..]),
        (
            "inference",
            6,
            &["WorkerGroup", "TaskQueue", "DeadLetterQueue", "Database"][..],
        ),
    ] {
        let t = realized(app);
        let body = render(&resources(&t)["Dashboard"]["Properties"]["DashboardBody"]);
        let dashboard: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("App={app}: {e}\n{body}"));
        let all = dashboard["widgets"].as_array().unwrap();
        assert_eq!(all.len(), widgets, "App={app}: {body}");
        for widget in all {
            let metrics = widget["properties"]["metrics"].as_array().unwrap();
            assert!(!metrics.is_empty(), "App={app}: {widget}");
        }
        for name in absent {
            assert!(
                !body.contains(name),
                "App={app}: the dashboard names {name}"
            );
        }
        if app == "anb" {
            for name in ["WorkerGroup", "TaskQueue.QueueName", "Database"] {
                assert!(body.contains(name), "the ANB dashboard lacks {name}");
            }
        }
    }
}

/// A string-valued intrinsic rendered as CloudFormation would, with each resource's name
/// (or `Resource.Attribute`) standing for its value.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(map) => {
            let (function, args) = map.iter().next().unwrap();
            match function.as_str() {
                "Ref" => args.as_str().unwrap().to_string(),
                "Fn::GetAtt" => format!(
                    "{}.{}",
                    args[0].as_str().unwrap(),
                    args[1].as_str().unwrap()
                ),
                "Fn::Join" => args[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(render)
                    .collect::<Vec<_>>()
                    .join(args[0].as_str().unwrap()),
                // The names stand in for ARNs that the split would cut: keep them whole.
                "Fn::Select" => render(&args[1]),
                "Fn::Split" => render(&args[1]),
                "Fn::Sub" => {
                    let (text, vars) = match args {
                        Value::String(s) => (s.as_str(), Map::new()),
                        _ => (
                            args[0].as_str().unwrap(),
                            args[1].as_object().unwrap().clone(),
                        ),
                    };
                    let mut out = text.to_string();
                    for (name, value) in &vars {
                        out = out.replace(&format!("${{{name}}}"), &render(value));
                    }
                    out.replace("${AWS::Region}", "us-east-1")
                }
                other => panic!("render does not know {other}"),
            }
        }
        other => panic!("not a string-valued intrinsic: {other}"),
    }
}

#[test]
fn predictive_and_scheduled_scaling_are_available_and_off_by_default() {
    let mut params = Map::new();
    params.insert("App".into(), json!("inference"));
    let off = template::realize(&template::load("aforo.yaml"), &params);
    for name in ["WebPredictivePolicy", "ScheduledUp", "ScheduledDown"] {
        assert!(
            !resources(&off).contains_key(name),
            "{name} is on by default"
        );
    }
    params.insert("EnablePredictive".into(), json!("ForecastAndScale"));
    params.insert("EnableSchedule".into(), json!("true"));
    let on = template::realize(&template::load("aforo.yaml"), &params);
    let predictive = &resources(&on)["WebPredictivePolicy"]["Properties"];
    assert_eq!(
        predictive["PredictiveScalingConfiguration"]["Mode"],
        "ForecastAndScale"
    );
    assert_eq!(
        predictive["PredictiveScalingConfiguration"]["MetricSpecifications"][0]["TargetValue"],
        70
    );
    assert!(resources(&on).contains_key("ScheduledUp"));
    assert!(resources(&on).contains_key("ScheduledDown"));
}

/// Every `Ref`, `GetAtt` and `${…}` of the realized template names a parameter, a pseudo
/// parameter, a `Fn::Sub` variable or a resource that exists with these parameters.
#[test]
fn nothing_refers_to_a_resource_left_out() {
    for app in ["anb", "inference"] {
        let t = realized(app);
        let mut known: BTreeSet<String> = resources(&t).keys().cloned().collect();
        known.extend(t["Parameters"].as_object().unwrap().keys().cloned());
        let mut dangling = Vec::new();
        for section in ["Resources", "Outputs"] {
            walk(&t[section], &known, &BTreeSet::new(), &mut dangling);
        }
        assert!(dangling.is_empty(), "App={app}: {dangling:?}");
    }
}

fn walk(v: &Value, known: &BTreeSet<String>, locals: &BTreeSet<String>, out: &mut Vec<String>) {
    fn check(
        name: &str,
        known: &BTreeSet<String>,
        locals: &BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        let name = name.split('.').next().unwrap();
        if !(name.starts_with("AWS::") || known.contains(name) || locals.contains(name)) {
            out.push(name.to_string());
        }
    }
    match v {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Ref") {
                check(name, known, locals, out);
            }
            if let Some(target) = map.get("Fn::GetAtt") {
                match target {
                    Value::Array(parts) => check(parts[0].as_str().unwrap(), known, locals, out),
                    Value::String(s) => check(s, known, locals, out),
                    _ => {}
                }
            }
            if let Some(sub) = map.get("Fn::Sub") {
                let (text, vars) = match sub {
                    Value::String(s) => (s.as_str(), Map::new()),
                    Value::Array(parts) => (
                        parts[0].as_str().unwrap(),
                        parts[1].as_object().cloned().unwrap_or_default(),
                    ),
                    _ => ("", Map::new()),
                };
                let mut locals = locals.clone();
                locals.extend(vars.keys().cloned());
                for (i, _) in text.match_indices("${") {
                    let name = &text[i + 2..i + 2 + text[i + 2..].find('}').unwrap()];
                    // `${!x}` is a literal `${x}` in the result.
                    if !name.starts_with('!') {
                        check(name, known, &locals, out);
                    }
                }
                for value in vars.values() {
                    walk(value, known, &locals, out);
                }
                return;
            }
            for value in map.values() {
                walk(value, known, locals, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, known, locals, out)),
        _ => {}
    }
}
