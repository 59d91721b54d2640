//! policy/*.guard on the real templates (they must pass) and on the templates with one
//! thing broken (the matching rule must fail), plus the Academy instance budget.

use std::collections::BTreeSet;

use cfn_guard::commands::Executable;
use cfn_guard::commands::validate::{OutputFormatType, ShowSummaryType};
use cfn_guard::utils::reader::{ReadBuffer, Reader};
use cfn_guard::utils::writer::{WriteBuffer, Writer};
use cfn_guard::{CommandBuilder, ValidateBuilder};
use serde_json::{Value, json};

use crate::template::{self, ACADEMY_TEMPLATES, TEMPLATES};

/// The rules of one guard file that fail on this template, as the cfn-guard CLI's
/// `validate --structured --output-format json` reports them.
fn failing_rules(rules_file: &str, template: &Value) -> BTreeSet<String> {
    let rules_path = template::infra_dir().join("policy").join(rules_file);
    let scratch = tempfile::tempdir().unwrap();
    let data_path = scratch.path().join("template.json");
    std::fs::write(&data_path, serde_json::to_vec(template).unwrap()).unwrap();
    let validate = ValidateBuilder::default()
        .rules(vec![rules_path.display().to_string()])
        .data(vec![data_path.display().to_string()])
        .output_format(OutputFormatType::JSON)
        .structured(true)
        .show_summary(vec![ShowSummaryType::None])
        .try_build()
        .unwrap();
    let mut writer = Writer::new(WriteBuffer::Vec(Vec::new())).unwrap();
    let mut reader = Reader::new(ReadBuffer::Cursor(std::io::Cursor::new(Vec::new())));
    validate
        .execute(&mut writer, &mut reader)
        .unwrap_or_else(|e| panic!("{rules_file}: {e}"));
    let report = writer.stripped().unwrap();
    let report: Value = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}"));
    let mut failing = BTreeSet::new();
    for file in report.as_array().expect("one report per data file") {
        collect_rule_names(&file["not_compliant"], &mut failing);
    }
    failing
}

fn collect_rule_names(v: &Value, into: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("name") {
                into.insert(name.clone());
            }
            map.values().for_each(|v| collect_rule_names(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_rule_names(v, into)),
        _ => {}
    }
}

fn academy(name: &str) -> Value {
    let overrides = if name == "aforo.yaml" {
        template::params("academy")
    } else {
        Default::default()
    };
    template::resolve(&template::load(name), &overrides)
}

#[test]
fn every_template_passes_the_policy() {
    for name in TEMPLATES {
        let failing = failing_rules("aforo.guard", &template::load(name));
        assert!(failing.is_empty(), "{name} breaks {failing:?}");
    }
}

#[test]
fn the_academy_templates_pass_the_academy_rules() {
    for name in ACADEMY_TEMPLATES {
        let failing = failing_rules("academy.guard", &academy(name));
        assert!(failing.is_empty(), "{name} breaks {failing:?}");
    }
}

/// Breaks the real template in one way and expects exactly `rule` to catch it.
fn assert_caught(rules_file: &str, mut template: Value, edit: impl FnOnce(&mut Value), rule: &str) {
    edit(&mut template);
    let failing = failing_rules(rules_file, &template);
    assert!(
        failing.contains(rule),
        "{rule} did not catch the change; failing: {failing:?}"
    );
}

#[test]
fn a_public_bucket_is_caught() {
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| {
            t["Resources"]["VideoBucket"]["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] =
                json!(false)
        },
        "bucket_blocks_public_access",
    );
    assert_caught(
        "aforo.guard",
        template::load("artifacts.yaml"),
        |t| {
            t["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                .as_array_mut()
                .unwrap()
                .push(json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}))
        },
        "bucket_policy_grants_nobody_everything",
    );
}

#[test]
fn an_unencrypted_bucket_is_caught() {
    assert_caught(
        "aforo.guard",
        template::load("artifacts.yaml"),
        |t| {
            t["Resources"]["ArtifactBucket"]["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("BucketEncryption");
        },
        "bucket_encrypted",
    );
}

#[test]
fn an_unencrypted_or_public_database_is_caught() {
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| t["Resources"]["Database"]["Properties"]["StorageEncrypted"] = json!(false),
        "database_encrypted",
    );
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| t["Resources"]["Database"]["Properties"]["PubliclyAccessible"] = json!(true),
        "database_private",
    );
}

#[test]
fn the_internet_on_anything_but_the_balancer_is_caught() {
    let open =
        json!({"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "0.0.0.0/0"});
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| {
            t["Resources"]["WebSecurityGroup"]["Properties"]["SecurityGroupIngress"] = json!([open])
        },
        "internet_reaches_only_the_balancer",
    );
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| t["Resources"]["WebFromAlb"]["Properties"]["CidrIp"] = json!("0.0.0.0/0"),
        "internet_reaches_only_the_balancer",
    );
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| {
            t["Resources"]["DbSecurityGroup"]["Properties"]["SecurityGroupIngress"][0] =
                json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv6": "::/0"})
        },
        "internet_reaches_only_the_balancer",
    );
    assert_caught(
        "aforo.guard",
        template::load("aforo.yaml"),
        |t| {
            t["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupEgress"] =
                json!([{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}])
        },
        "egress_to_anywhere_is_https_or_http",
    );
}

#[test]
fn an_iam_resource_in_an_academy_template_is_caught() {
    let role = template::load("iam.yaml")["Resources"]["InstanceRole"].clone();
    assert_caught(
        "academy.guard",
        academy("aforo.yaml"),
        |t| t["Resources"]["InstanceRole"] = role,
        "academy_creates_no_iam",
    );
    // And iam.yaml itself is exactly what an Academy account must not deploy.
    assert!(
        failing_rules("academy.guard", &template::load("iam.yaml"))
            .contains("academy_creates_no_iam")
    );
}

#[test]
fn a_group_or_instance_above_the_academy_limits_is_caught() {
    let mut too_big = template::params("academy");
    too_big.insert("WebMaxSize".into(), json!("4"));
    assert_caught(
        "academy.guard",
        template::resolve(&template::load("aforo.yaml"), &too_big),
        |_| {},
        "academy_group_max",
    );
    assert_caught(
        "academy.guard",
        academy("aforo.yaml"),
        |t| {
            t["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["InstanceType"] =
                json!("c7i.xlarge")
        },
        "academy_instances",
    );
    assert_caught(
        "academy.guard",
        academy("aforo.yaml"),
        |t| {
            t["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]["InstanceMarketOptions"] =
                json!({"MarketType": "spot"})
        },
        "academy_instances",
    );
}

/// AWS Academy stops an account at more than 9 instances at once. The worst case of
/// aforo.yaml: every group at its maximum, a green group, and each rolling update's extra
/// batch.
fn instances_at_worst(resolved: &Value) -> i64 {
    resolved["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
        .map(|group| {
            let max = group["Properties"]["MaxSize"]
                .as_i64()
                .expect("MaxSize resolves to a number");
            let surge = group["UpdatePolicy"]["AutoScalingRollingUpdate"]["MaxBatchSize"]
                .as_i64()
                .unwrap_or(0);
            max + surge
        })
        .sum()
}

#[test]
fn the_academy_parameters_stay_within_nine_instances() {
    let worst = instances_at_worst(&academy("aforo.yaml"));
    assert!(
        worst <= 9,
        "up to {worst} instances at once; AWS Academy allows 9"
    );

    let mut too_many = template::params("academy");
    too_many.insert("GreenSize".into(), json!("2"));
    let worst = instances_at_worst(&template::resolve(&template::load("aforo.yaml"), &too_many));
    assert!(
        worst > 9,
        "the budget check must see {worst} instances as too many"
    );
}
