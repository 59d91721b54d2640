//! The local stack's parts on real processes: instances of this binary, CPU quotas.

use std::time::Duration;

use target_stack::stack::cgroup::CgroupSupport;
use target_stack::stack::instance::{CpuMeter, Instance, LaunchTemplate, Role};

use crate::helpers::{Flavor, TestEnv};

fn template(env: &TestEnv, role: Role) -> LaunchTemplate {
    LaunchTemplate {
        binary: env!("CARGO_BIN_EXE_target-stack").into(),
        role,
        data_dir: env.dir.path().to_path_buf(),
        env: vec![("ANB_JWT_SECRET".into(), crate::helpers::JWT_SECRET.into())],
        cpus: None,
    }
}

#[tokio::test]
async fn api_instances_share_the_stacks_backends_and_stop_gracefully() {
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let none = CgroupSupport::Unavailable {
        why: "not needed".into(),
    };
    let mut first = Instance::launch(&template(&env, Role::Api), 1, &none)
        .await
        .unwrap();
    let mut second = Instance::launch(&template(&env, Role::Api), 2, &none)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    // Sign up through one instance, log in through the other: one database.
    let signup = client
        .post(format!("http://{}/api/auth/signup", first.address.unwrap()))
        .json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": "ab@example.com",
            "password1": "s3cret-pass", "password2": "s3cret-pass", "city": "Cali", "country": "CO"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let login = client
        .post(format!("http://{}/api/auth/login", second.address.unwrap()))
        .json(&serde_json::json!({"email": "ab@example.com", "password": "s3cret-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(first.name(), "i-local-0001");
    assert!(first.is_running() && second.is_running());
    let cpu = first
        .cpu_percent()
        .expect("a running process has a CPU reading");
    assert!((0.0..=100.0).contains(&cpu));

    second.kill_now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_running(), "killed instances are seen as gone");
    first.terminate(Duration::from_secs(10)).await;
}

#[test]
fn a_cpu_quota_caps_what_an_instance_can_use() {
    let cgroups = CgroupSupport::detect();
    if let CgroupSupport::Unavailable { why } = &cgroups {
        eprintln!(
            "\n*** SKIPPED: no CPU quotas on this machine ({why}); the stack runs without them ***\n"
        );
        return;
    }
    let mut spinner = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let quota = cgroups
        .limit(&format!("aforo-test-{}", spinner.id()), 0.25, spinner.id())
        .unwrap();
    let mut meter = CpuMeter::new(spinner.id(), 1.0);
    std::thread::sleep(Duration::from_millis(1500));
    let share_of_a_core = meter.sample().unwrap();
    spinner.kill().unwrap();
    spinner.wait().unwrap();
    drop(quota);
    // Without the quota a busy loop takes a whole core.
    assert!(
        (15.0..=35.0).contains(&share_of_a_core),
        "a busy loop limited to 0.25 CPU used {share_of_a_core:.0}% of a core"
    );
}
