//! Templates as data: YAML with CloudFormation's short-form tags turned into the long form
//! (`!Ref X` → `{"Ref": "X"}`), and parameters substituted as CloudFormation would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

pub const TEMPLATES: &[&str] = &[
    "artifacts.yaml",
    "aforo.yaml",
    "iam.yaml",
    "loadgen-fleet.yaml",
];

/// The templates an AWS Academy account deploys (all but iam.yaml).
pub const ACADEMY_TEMPLATES: &[&str] = &["artifacts.yaml", "aforo.yaml", "loadgen-fleet.yaml"];

pub fn infra_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

pub fn path(name: &str) -> PathBuf {
    infra_dir().join("templates").join(name)
}

pub fn source(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn load(name: &str) -> Value {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&source(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    long_form(yaml)
}

pub fn params(variant: &str) -> Map<String, Value> {
    let path = infra_dir().join("params").join(format!("{variant}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("{}: not an object: {other}", path.display()),
    }
}

fn long_form(yaml: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap(),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other).unwrap().trim().to_string(),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = long_form(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap();
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): value }),
            }
        }
    }
}

/// Replaces `{"Ref": P}` for every parameter P with its value (the override, else the
/// default), typed as the parameter is, so rules can compare numbers.
pub fn resolve(template: &Value, overrides: &Map<String, Value>) -> Value {
    let mut resolved = template.clone();
    resolved["Resources"] = substitute(&template["Resources"], template, overrides);
    resolved
}

/// The template as CloudFormation instantiates it with these parameters: [`resolve`]d, its
/// Conditions evaluated, the resources and outputs whose condition is false left out, and
/// every `Fn::If` replaced by the branch it takes (`AWS::NoValue` removing the property or
/// list item that holds it).
pub fn realize(template: &Value, overrides: &Map<String, Value>) -> Value {
    let conditions = substitute(&template["Conditions"], template, overrides);
    let mut truth = BTreeMap::new();
    for name in conditions.as_object().into_iter().flat_map(|c| c.keys()) {
        let value = evaluate(&conditions[name.as_str()], &conditions);
        truth.insert(name.clone(), value);
    }
    let mut realized = template.clone();
    for section in ["Resources", "Outputs"] {
        let substituted = substitute(&template[section], template, overrides);
        let kept: Map<String, Value> = substituted
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, item)| item["Condition"].as_str().is_none_or(|c| truth[c]))
            .filter_map(|(name, item)| Some((name.clone(), choose(item, &truth)?)))
            .collect();
        realized[section] = Value::Object(kept);
    }
    realized
}

fn evaluate(condition: &Value, conditions: &Value) -> bool {
    let args = |name: &str| condition[name].as_array().cloned().unwrap_or_default();
    if let Some(name) = condition["Condition"].as_str() {
        evaluate(&conditions[name], conditions)
    } else if condition.get("Fn::Equals").is_some() {
        let pair = args("Fn::Equals");
        pair[0] == pair[1]
    } else if condition.get("Fn::Not").is_some() {
        !evaluate(&args("Fn::Not")[0], conditions)
    } else if condition.get("Fn::And").is_some() {
        args("Fn::And").iter().all(|c| evaluate(c, conditions))
    } else if condition.get("Fn::Or").is_some() {
        args("Fn::Or").iter().any(|c| evaluate(c, conditions))
    } else {
        panic!("a condition this evaluator does not know: {condition}")
    }
}

/// `v` with each `Fn::If` decided; None for `AWS::NoValue`.
fn choose(v: &Value, truth: &BTreeMap<String, bool>) -> Option<Value> {
    match v {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::If") => {
            let branches = map["Fn::If"].as_array().unwrap();
            let condition = branches[0].as_str().unwrap();
            choose(&branches[if truth[condition] { 1 } else { 2 }], truth)
        }
        Value::Object(map) if map.len() == 1 && map.get("Ref") == Some(&json!("AWS::NoValue")) => {
            None
        }
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), choose(v, truth)?)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| choose(v, truth)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// `v` with `{"Ref": P}` replaced by parameter P's value (the override, else the default).
fn substitute(v: &Value, template: &Value, overrides: &Map<String, Value>) -> Value {
    let declared = template["Parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for key in overrides.keys() {
        assert!(
            declared.contains_key(key),
            "the parameter set names {key}, which the template does not declare"
        );
    }
    let value_of = |name: &str| -> Option<Value> {
        let declaration = declared.get(name)?;
        let raw = overrides
            .get(name)
            .or_else(|| declaration.get("Default"))?
            .clone();
        Some(match (declaration["Type"].as_str(), &raw) {
            (Some("Number"), Value::String(s)) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(s.parse::<f64>().unwrap())),
            _ => raw,
        })
    };
    fn walk(v: &Value, value_of: &dyn Fn(&str) -> Option<Value>) -> Value {
        match v {
            Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => map["Ref"]
                .as_str()
                .and_then(value_of)
                .unwrap_or_else(|| v.clone()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), walk(v, value_of)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, value_of)).collect()),
            other => other.clone(),
        }
    }
    walk(v, &value_of)
}
