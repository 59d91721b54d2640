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
    for gone in [
        "WorkerLaunchTemplate",
        "WorkerSecurityGroup",
        "WorkerToDb",
        "WorkerBacklogPolicy",
        "WorkerAtMaxAlarm",
    ] {
        assert!(
            !resources(&inference).contains_key(gone),
            "{gone} is created with App=inference"
        );
    }
    assert!(inference["Outputs"].get("WorkerGroup").is_none());
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
    // The database admits the web instances only.
    let ingress = resources(&inference)["DbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    // The web instances are told which app to run.
    let user_data = resources(&inference)["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
        ["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(user_data.contains("AFORO_APP=${App}"), "{user_data}");
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
