//! The launch templates' user data, run as an instance would run it, under a scratch root:
//! the release is packed by infra/package.sh from the binary these tests built, fetched from
//! S3 (moto) with the real AWS CLI, and bootstrap.sh reads its configuration from SSM and
//! its secrets from Secrets Manager (moto). Then the systemd units it wrote pass
//! `systemd-analyze verify`, and the program they start is byte for byte this build's.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::missing;

fn infra() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra")
}

/// The `!Sub` body of one launch template's user data, with CloudFormation's variables
/// replaced as the stack would.
fn user_data(launch_template: &str, vars: &[(&str, &str)]) -> String {
    let template = std::fs::read_to_string(infra().join("templates/aforo.yaml")).unwrap();
    let start = template
        .find(&format!("\n  {launch_template}:\n"))
        .unwrap_or_else(|| panic!("{launch_template} not in aforo.yaml"));
    let body_start = start + template[start..].find("Fn::Base64: !Sub |\n").unwrap() + 19;
    let mut script = String::new();
    for line in template[body_start..].lines() {
        let Some(line) = line.strip_prefix("            ") else {
            break;
        };
        script.push_str(line);
        script.push('\n');
    }
    for (name, value) in vars {
        script = script.replace(&format!("${{{name}}}"), value);
    }
    script = script.replace("${!", "${");
    let unresolved: Vec<&str> = script
        .match_indices("${")
        .map(|(i, _)| &script[i..script[i..].find('}').map_or(script.len(), |j| i + j + 1)])
        .filter(|v| !v.starts_with("${AFORO_ROOT"))
        .collect();
    assert!(
        unresolved.is_empty(),
        "user data variables not substituted: {unresolved:?}"
    );
    script
}

fn have(tool: &str, how: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing(tool, how);
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn user_data_installs_this_build_as_valid_systemd_services() {
    let Ok(moto) = std::env::var("AFORO_TEST_MOTO_URL") else {
        missing(
            "the moto server",
            "set AFORO_TEST_MOTO_URL=http://127.0.0.1:PORT",
        );
        return;
    };
    if !(have("aws", "pip install awscli")
        && have("systemd-analyze", "apt-get install systemd")
        && have("python3", "apt-get install python3"))
    {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_target-stack");
    let suffix = std::process::id();
    let bucket = format!("aforo-userdata-{suffix}");
    let aws = |args: &[&str]| {
        let mut cmd = Command::new("aws");
        cmd.args(args)
            .env("AWS_ENDPOINT_URL", &moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1");
        run(&mut cmd)
    };

    // The release, as deploy.sh uploads it.
    let artifact = scratch.path().join("release.tar.gz");
    run(Command::new(infra().join("package.sh"))
        .arg(&artifact)
        .arg(binary));
    aws(&["s3", "mb", &format!("s3://{bucket}")]);
    aws(&[
        "s3",
        "cp",
        artifact.to_str().unwrap(),
        &format!("s3://{bucket}/artifacts/release.tar.gz"),
    ]);
    // What the stack creates: the secrets and the instance configuration.
    let db_secret = aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("aforo-{suffix}/db"),
        "--secret-string",
        r#"{"username": "anb", "password": "p@ss/w:rd"}"#,
        "--query",
        "ARN",
        "--output",
        "text",
    ]);
    let jwt_secret = aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("aforo-{suffix}/jwt"),
        "--secret-string",
        &"k".repeat(64),
        "--query",
        "ARN",
        "--output",
        "text",
    ]);
    // The instance configuration as InstanceConfig writes it for each App.
    let anb_config = serde_json::json!({
        "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/aforo-tasks",
        "dlq_url": "https://sqs.us-east-1.amazonaws.com/123456789012/aforo-tasks-dlq",
        "bucket": "aforo-videos", "db_host": "aforo-db.example.internal", "db_name": "anb",
        "db_secret_arn": db_secret.trim(), "jwt_secret_arn": jwt_secret.trim(),
        "worker_concurrency": "2", "visibility_secs": "600",
    });
    let inference_config = serde_json::json!({ "inference_slow_fraction": "0.1" });
    let config_name = |app: &str| format!("/aforo-{suffix}/{app}/instance-config");
    for (app, config) in [("anb", &anb_config), ("inference", &inference_config)] {
        aws(&[
            "ssm",
            "put-parameter",
            "--name",
            &config_name(app),
            "--type",
            "String",
            "--value",
            &config.to_string(),
        ]);
    }

    // App=inference: the same web launch template runs seed 000's service instead.
    for (launch_template, app, unit, command) in [
        ("WebLaunchTemplate", "anb", "aforo-web.service", "api"),
        (
            "WorkerLaunchTemplate",
            "anb",
            "aforo-worker.service",
            "worker",
        ),
        (
            "WebLaunchTemplate",
            "inference",
            "aforo-web.service",
            "inference",
        ),
    ] {
        let root = scratch.path().join(format!("{app}-{unit}"));
        std::fs::create_dir_all(&root).unwrap();
        let script = user_data(
            launch_template,
            &[
                ("AWS::Region", "us-east-1"),
                ("App", app),
                ("InstanceConfig", &config_name(app)),
                ("ArtifactBucket", &bucket),
                ("ArtifactKey", "artifacts/release.tar.gz"),
            ],
        );
        let systemctl_log = root.join("systemctl.log");
        let systemctl = scratch.path().join("systemctl");
        std::fs::write(&systemctl, "#!/bin/sh\necho \"$@\" >> \"$SYSTEMCTL_LOG\"\n").unwrap();
        run(Command::new("chmod").arg("+x").arg(&systemctl));
        run(Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("AFORO_ROOT", &root)
            .env("AFORO_SYSTEMCTL", &systemctl)
            .env("SYSTEMCTL_LOG", &systemctl_log)
            .env("AFORO_SKIP_PACKAGES", "1")
            .env("AFORO_INSTANCE_ID", "i-0123456789abcdef0")
            .env("AWS_ENDPOINT_URL", &moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing"));

        // The unit starts this build's binary.
        let unit_text =
            std::fs::read_to_string(root.join("etc/systemd/system").join(unit)).unwrap();
        let exec = unit_text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        let (program, args) = exec.split_once(' ').unwrap();
        assert_eq!(args, command, "{unit}");
        let installed = root.join(program.trim_start_matches('/'));
        assert_eq!(
            std::fs::read(&installed).unwrap(),
            std::fs::read(binary).unwrap(),
            "{unit} starts {}, which is not this build's target-stack",
            installed.display()
        );
        let version = run(Command::new(&installed).arg("--version"));
        assert_eq!(
            version.trim(),
            format!("target-stack {}", env!("CARGO_PKG_VERSION"))
        );

        // systemd accepts the unit (it needs the stock units beside it in the root).
        let stock = Path::new("/usr/lib/systemd/system");
        let lib = root.join("usr/lib/systemd");
        std::fs::create_dir_all(&lib).unwrap();
        run(Command::new("cp").arg("-r").arg(stock).arg(&lib));
        let verify = Command::new("systemd-analyze")
            .arg(format!("--root={}", root.display()))
            .arg("verify")
            .arg(format!("/etc/systemd/system/{unit}"))
            .output()
            .unwrap();
        assert!(
            verify.status.success() && verify.stderr.is_empty(),
            "systemd-analyze verify {unit}:\n{}",
            String::from_utf8_lossy(&verify.stderr)
        );

        // The environment carries the configuration and the secrets, readable by root only.
        let env_path = root.join("etc/aforo/aforo.env");
        let env = std::fs::read_to_string(&env_path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "aforo.env is {mode:o}");
        let expected: &[&str] = if app == "anb" {
            &[
                "DATABASE_URL=postgres://anb:p%40ss%2Fw%3Ard@aforo-db.example.internal:5432/anb?sslmode=require",
                "ANB_STORAGE=s3://aforo-videos/videos",
                "ANB_QUEUE=https://sqs.us-east-1.amazonaws.com/123456789012/aforo-tasks",
                "ANB_INSTANCE_ID=i-0123456789abcdef0",
                "ANB_BIND=0.0.0.0:8080",
                // Behind the ALB only: its X-Forwarded-For entry names the client to throttle.
                "ANB_TRUST_FORWARDED_FOR=true",
            ]
        } else {
            &[
                "ANB_INSTANCE_ID=i-0123456789abcdef0",
                "ANB_BIND=0.0.0.0:8080",
                "ANB_INFERENCE_SLOW_FRACTION=0.1",
            ]
        };
        for expected in expected {
            assert!(
                env.lines().any(|l| l == *expected),
                "{unit}: no {expected} in\n{env}"
            );
        }
        let has_secrets = env.contains(&format!("ANB_JWT_SECRET={}", "k".repeat(64)))
            && env.contains("DATABASE_URL=");
        assert_eq!(has_secrets, app == "anb", "{app} {unit}:\n{env}");
        let agent = root.join("opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json");
        let agent: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(agent).unwrap()).unwrap();
        assert!(agent["metrics"]["metrics_collected"]["mem"].is_object());

        let calls = std::fs::read_to_string(&systemctl_log).unwrap();
        assert_eq!(calls, format!("daemon-reload\nenable --now {unit}\n"));
    }
}
