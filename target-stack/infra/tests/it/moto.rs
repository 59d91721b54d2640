//! aforo.yaml deployed into the moto server (what moto implements of it: network, security
//! groups, balancer, target group, listener, launch templates, groups, queues, bucket, RDS,
//! SNS; it skips alarms, scaling policies, secrets and standalone security-group rules),
//! then read back through the same lookup loadgen and analyze use.

use std::path::PathBuf;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Parameter, StackStatus};
use infra::{OutputsError, StackTargets};

use crate::template;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn missing(what: &str, how: &str) {
    if in_ci() {
        panic!("CI=true but {what} is not available: {how}");
    }
    eprintln!(
        "\n*** SKIPPED: {what} is not available ({how}). Run `bash .ci/run` to test it. ***\n"
    );
}

/// A program on PATH, or a skip (a failure in CI).
pub fn tool(name: &str, how: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        missing(name, how);
    }
    found
}

/// The moto server CI starts, as an SDK configuration.
async fn moto() -> Option<aws_config::SdkConfig> {
    let Ok(url) = std::env::var("AFORO_TEST_MOTO_URL") else {
        missing(
            "the moto server",
            "set AFORO_TEST_MOTO_URL=http://127.0.0.1:PORT",
        );
        return None;
    };
    let credentials =
        aws_sdk_cloudformation::config::Credentials::new("testing", "testing", None, None, "tests");
    Some(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(credentials)
            .load()
            .await,
    )
}

async fn create_stack(client: &Client, name: &str, template: &str, params: &[(&str, &str)]) {
    let mut call = client
        .create_stack()
        .stack_name(name)
        .template_body(template::source(template));
    for (key, value) in params {
        call = call.parameters(
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(*value)
                .build(),
        );
    }
    call.send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:#?}"));
    for _ in 0..100 {
        let status = client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .unwrap()
            .stacks()[0]
            .stack_status()
            .cloned();
        match status {
            Some(StackStatus::CreateComplete) => return,
            Some(StackStatus::CreateInProgress) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    panic!("{name} still creating after 10 s");
}

#[tokio::test]
async fn the_stack_deploys_into_moto_and_its_outputs_resolve() {
    let Some(config) = moto().await else { return };
    let client = Client::new(&config);
    let app = format!("t{}", std::process::id() % 100_000);
    create_stack(
        &client,
        &format!("{app}-artifacts"),
        "artifacts.yaml",
        &[("AppName", &app)],
    )
    .await;
    let bucket = format!("{app}-artifacts-123456789012-us-east-1");
    create_stack(
        &client,
        &app,
        "aforo.yaml",
        &[
            ("AppName", &app),
            ("ArtifactBucket", &bucket),
            ("AmiId", "ami-03cf127a"),
        ],
    )
    .await;

    let targets = StackTargets::resolve_with(&client, &app, "us-east-1")
        .await
        .unwrap();
    assert!(
        targets.base_url.starts_with(&format!("http://{app}-alb")),
        "{targets:?}"
    );
    assert!(
        targets
            .load_balancer
            .starts_with(&format!("app/{app}-alb/")),
        "{targets:?}"
    );
    assert!(
        targets.target_groups[0].starts_with(&format!("targetgroup/{app}-web/")),
        "{targets:?}"
    );
    assert_eq!(
        targets.autoscaling_groups(),
        vec![format!("{app}-web"), format!("{app}-worker")]
    );
    let worker = targets
        .worker
        .clone()
        .expect("an ANB stack has a worker path");
    assert!(
        worker.queue_url.ends_with(&format!("/{app}-tasks")),
        "{targets:?}"
    );
    assert_eq!(targets.db_instances(), vec![format!("{app}-db")]);

    // What the outputs name exists, as the template describes it.
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&targets.web_group)
        .auto_scaling_group_names(&worker.worker_group)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.auto_scaling_groups().len(), 2);
    for group in groups.auto_scaling_groups() {
        assert_eq!(
            (group.min_size(), group.max_size()),
            (Some(1), Some(3)),
            "{group:?}"
        );
        assert!(group.launch_template().is_some(), "{group:?}");
    }
    let sqs = aws_sdk_sqs::Client::new(&config);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&worker.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let redrive = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .expect("the task queue redrives to the DLQ");
    assert!(
        redrive.contains(&format!("{app}-tasks-dlq")) && redrive.contains('3'),
        "{redrive}"
    );
}

/// `App=inference` deploys seed 000's service as the web group alone, and `--aws-stack`
/// resolves it to the balancer and that one group.
#[tokio::test]
async fn the_inference_stack_deploys_into_moto_with_a_web_group_only() {
    let Some(config) = moto().await else { return };
    let client = Client::new(&config);
    let app = format!("i{}", std::process::id() % 100_000);
    create_stack(
        &client,
        &app,
        "aforo.yaml",
        &[
            ("AppName", &app),
            ("App", "inference"),
            ("ArtifactBucket", "artifacts"),
            ("AmiId", "ami-03cf127a"),
        ],
    )
    .await;

    let targets = StackTargets::resolve_with(&client, &app, "us-east-1")
        .await
        .unwrap();
    assert_eq!(targets.app, infra::StackApp::Inference);
    assert_eq!(targets.worker, None);
    assert_eq!(targets.autoscaling_groups(), vec![format!("{app}-web")]);
    assert!(
        targets.base_url.starts_with(&format!("http://{app}-alb")),
        "{targets:?}"
    );
    // Nothing of the ANB system was created.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(&app)
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty(), "{queues:?}");
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{app}-web"))
        .auto_scaling_group_names(format!("{app}-worker"))
        .send()
        .await
        .unwrap();
    let names: Vec<_> = groups
        .auto_scaling_groups()
        .iter()
        .filter_map(|g| g.auto_scaling_group_name())
        .collect();
    assert_eq!(names, [format!("{app}-web")]);
}

/// The AWS CLI against moto; its trimmed standard output.
fn aws_cli(aws: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(aws)
        .args(args)
        .envs(cli_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// With an ACM certificate (requested from moto's ACM), the balancer gets an HTTPS
/// listener on 443 and the HTTP listener redirects to it.
#[tokio::test]
async fn with_a_certificate_the_stack_deploys_an_https_listener_into_moto() {
    let Some(config) = moto().await else { return };
    let Some(aws) = tool("aws", "pip install awscli") else {
        return;
    };
    let client = Client::new(&config);
    let app = format!("h{}", std::process::id() % 100_000);
    let certificate = aws_cli(
        &aws,
        &[
            "acm",
            "request-certificate",
            "--domain-name",
            "anb.example.org",
            "--query",
            "CertificateArn",
            "--output",
            "text",
        ],
    );
    create_stack(
        &client,
        &app,
        "aforo.yaml",
        &[
            ("AppName", &app),
            ("ArtifactBucket", "artifacts"),
            ("AmiId", "ami-03cf127a"),
            ("CertificateArn", &certificate),
        ],
    )
    .await;

    let targets = StackTargets::resolve_with(&client, &app, "us-east-1")
        .await
        .unwrap();
    assert!(
        targets.base_url.starts_with(&format!("https://{app}-alb")),
        "{targets:?}"
    );
    let balancer = aws_cli(
        &aws,
        &[
            "elbv2",
            "describe-load-balancers",
            "--names",
            &format!("{app}-alb"),
            "--query",
            "LoadBalancers[0].LoadBalancerArn",
            "--output",
            "text",
        ],
    );
    let listeners: serde_json::Value = serde_json::from_str(&aws_cli(
        &aws,
        &[
            "elbv2",
            "describe-listeners",
            "--load-balancer-arn",
            &balancer,
            "--query",
            "Listeners",
            "--output",
            "json",
        ],
    ))
    .unwrap();
    let on_port = |port: i64| {
        listeners
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["Port"] == port)
            .unwrap_or_else(|| panic!("no listener on {port}: {listeners}"))
            .clone()
    };
    let https = on_port(443);
    assert_eq!(https["Protocol"], "HTTPS", "{https}");
    assert_eq!(
        https["Certificates"][0]["CertificateArn"],
        certificate.as_str(),
        "{https}"
    );
    assert_eq!(https["DefaultActions"][0]["Type"], "forward", "{https}");
    let http = on_port(80);
    let redirect = &http["DefaultActions"][0];
    assert_eq!(redirect["Type"], "redirect", "{http}");
    assert_eq!(redirect["RedirectConfig"]["Protocol"], "HTTPS", "{http}");
    assert_eq!(
        redirect["RedirectConfig"]["StatusCode"], "HTTP_301",
        "{http}"
    );
}

#[tokio::test]
async fn a_missing_stack_is_named_with_the_way_to_deploy_it() {
    let Some(config) = moto().await else { return };
    let err = StackTargets::resolve_with(&Client::new(&config), "no-such-stack", "us-east-1")
        .await
        .unwrap_err();
    assert!(matches!(err, OutputsError::NoSuchStack { .. }), "{err}");
    assert!(err.to_string().contains("deploy.sh"), "{err}");
}

#[tokio::test]
async fn a_stack_of_another_template_is_refused() {
    let Some(config) = moto().await else { return };
    let client = Client::new(&config);
    let name = format!("other{}", std::process::id() % 100_000);
    create_stack(&client, &name, "artifacts.yaml", &[("AppName", &name)]).await;
    let err = StackTargets::resolve_with(&client, &name, "us-east-1")
        .await
        .unwrap_err();
    assert!(matches!(err, OutputsError::Missing { .. }), "{err}");
}

/// fleet.sh against the fleet template in moto: one Fargate task per generator, each told
/// its shard, the shared start and where to upload (moto records the tasks without running
/// them, so no load is sent anywhere).
#[tokio::test]
async fn fleet_sh_starts_one_generator_per_shard() {
    let Some(config) = moto().await else { return };
    let Some(aws) = tool("aws", "pip install awscli") else {
        return;
    };
    let client = Client::new(&config);
    let app = format!("f{}", std::process::id() % 100_000);
    let stack = format!("{app}-loadgen");
    let aws_cli = |args: &[&str]| {
        let out = std::process::Command::new(&aws)
            .args(args)
            .envs(cli_env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let vpc = aws_cli(&[
        "ec2",
        "describe-vpcs",
        "--query",
        "Vpcs[0].VpcId",
        "--output",
        "text",
    ]);
    let subnet = aws_cli(&[
        "ec2",
        "describe-subnets",
        "--query",
        "Subnets[0].SubnetId",
        "--output",
        "text",
    ]);
    let role = "arn:aws:iam::123456789012:role/LabRole";
    create_stack(
        &client,
        &stack,
        "loadgen-fleet.yaml",
        &[
            ("AppName", &app),
            ("Image", "aforo/loadgen:test"),
            ("ExecutionRoleArn", role),
            ("TaskRoleArn", role),
            ("VpcId", &vpc),
            ("SubnetIds", &subnet),
        ],
    )
    .await;

    let out = std::process::Command::new(template::infra_dir().join("fleet.sh"))
        .args([
            "--stack",
            &stack,
            "--lead",
            "60",
            "3",
            "--",
            "scenario1",
            "--users",
            "7",
        ])
        .envs(cli_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fleet.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tasks = aws_cli(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &format!("{app}-loadgen"),
        "--query",
        "taskArns",
        "--output",
        "json",
    ]);
    let tasks: Vec<String> = serde_json::from_str(&tasks).unwrap();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    let mut args = vec!["ecs", "describe-tasks", "--cluster"];
    let cluster = format!("{app}-loadgen");
    args.push(&cluster);
    args.push("--tasks");
    args.extend(tasks.iter().map(String::as_str));
    args.extend([
        "--query",
        "tasks[].overrides.containerOverrides[0].command",
        "--output",
        "json",
    ]);
    let commands: Vec<Vec<String>> = serde_json::from_str(&aws_cli(&args)).unwrap();
    let mut shards: Vec<String> = Vec::new();
    let mut starts = std::collections::BTreeSet::new();
    for command in &commands {
        let after = |flag: &str| {
            let i = command
                .iter()
                .position(|a| a == flag)
                .unwrap_or_else(|| panic!("no {flag} in {command:?}"));
            command[i + 1].clone()
        };
        assert_eq!(
            &command[..5],
            ["loadgen", "run", "scenario1", "--users", "7"]
        );
        shards.push(after("--shard"));
        starts.insert(after("--start-at"));
        assert_eq!(
            after("--upload"),
            format!("s3://{app}-artifacts-123456789012-us-east-1/runs")
        );
    }
    shards.sort();
    assert_eq!(shards, ["1/3", "2/3", "3/3"]);
    assert_eq!(starts.len(), 1, "one shared start: {starts:?}");
}

fn cli_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL",
            std::env::var("AFORO_TEST_MOTO_URL").unwrap_or_default(),
        ),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

/// The target-stack binary `cargo test --workspace` built beside these tests.
fn target_stack_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("target-stack");
    if !path.is_file() {
        missing(
            "the target-stack binary",
            "cargo build -p target-stack (cargo test --workspace does)",
        );
        return None;
    }
    Some(path)
}

fn deploy_sh(args: &[&str]) -> std::process::Output {
    std::process::Command::new(template::infra_dir().join("deploy.sh"))
        .args(args)
        .envs(cli_env())
        .env("AFORO_AMI", "ami-03cf127a")
        .output()
        .unwrap()
}

/// deploy.sh end to end against moto, in the Academy variant: the artifact bucket, the
/// release (packed from this build's binary), no IAM stack, the system stack with
/// LabInstanceProfile; run again, it uploads a new release and updates the stack in place.
#[tokio::test]
async fn deploy_sh_creates_then_updates_an_academy_stack() {
    let Some(config) = moto().await else { return };
    let Some(binary) = target_stack_binary() else {
        return;
    };
    if tool("aws", "pip install awscli").is_none() {
        return;
    }
    let client = Client::new(&config);
    let app = format!("d{}", std::process::id() % 100_000);
    let binary = binary.to_str().unwrap();
    let deploy = || {
        let out = deploy_sh(&[
            "--academy",
            "--stack",
            &app,
            "--region",
            "us-east-1",
            "--binary",
            binary,
        ]);
        assert!(
            out.status.success(),
            "deploy.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    deploy();
    let targets = StackTargets::resolve_with(&client, &app, "us-east-1")
        .await
        .unwrap();
    assert_eq!(targets.web_group, format!("{app}-web"));
    assert!(
        StackTargets::resolve_with(&client, &format!("{app}-iam"), "us-east-1")
            .await
            .is_err_and(|e| matches!(e, OutputsError::NoSuchStack { .. })),
        "an Academy deployment creates no IAM stack"
    );
    let parameter = |stack: aws_sdk_cloudformation::types::Stack, key: &str| {
        stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value().map(str::to_string))
            .unwrap_or_default()
    };
    let described = || async {
        client
            .describe_stacks()
            .stack_name(&app)
            .send()
            .await
            .unwrap()
            .stacks()[0]
            .clone()
    };
    let stack = described().await;
    assert_eq!(
        parameter(stack.clone(), "InstanceProfileName"),
        "LabInstanceProfile"
    );
    assert_eq!(parameter(stack.clone(), "InstanceType"), "t3.small");
    let first_key = parameter(stack, "ArtifactKey");
    assert!(first_key.starts_with("artifacts/aforo-"), "{first_key}");

    // A second deploy, a second later: a new release key, the same stack, updated.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    deploy();
    let stack = described().await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::UpdateComplete));
    let second_key = parameter(stack, "ArtifactKey");
    assert_ne!(first_key, second_key);

    let refused = deploy_sh(&["--academy", "--region", "eu-west-1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("us-east-1 and us-west-2"));
}
