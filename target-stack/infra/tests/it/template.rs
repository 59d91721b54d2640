//! Templates as data: YAML with CloudFormation's short-form tags turned into the long form
//! (`!Ref X` → `{"Ref": "X"}`), and parameters substituted as CloudFormation would.

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
    let mut resolved = template.clone();
    resolved["Resources"] = walk(&template["Resources"], &value_of);
    resolved
}
