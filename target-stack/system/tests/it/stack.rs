//! The local stack's parts on real processes: instances of this binary, CPU quotas.

use std::time::Duration;

use local_cloud::cgroup::CgroupSupport;
use local_cloud::instance::{CpuMeter, Instance, LaunchTemplate, Role};

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

/// What every compressed test stack shares: one CPU and one task per instance, health
/// checks every 200 ms (a dead instance is out after 2 failures), half a second of draining.
const FAST_CHECKS: &str = r#"
[instance]
cpus = 1.0
worker_concurrency = 1
[balancer]
interval_secs = 0.2
timeout_secs = 0.5
healthy_threshold = 1
unhealthy_threshold = 2
deregistration_delay_secs = 0.5
"#;

/// A stack whose timings are compressed to seconds: scale out on more than 20 requests/s
/// per web instance, scale in after 3 quiet seconds.
const FAST_STACK: &str = r#"
[web]
name = "web"
min = 1
max = 2
warmup_secs = 1.0
default_cooldown_secs = 1.0

[[web.policies]]
type = "target_tracking"
name = "web-requests-per-target"
metric = "requests_per_target"
target = 20.0
period_secs = 1.0
scale_out_periods = 2
scale_in_periods = 3

[worker]
name = "worker"
min = 1
max = 1
warmup_secs = 1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_group_scales_out_under_load_and_back_in_when_it_stops() {
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let telemetry = env.dir.path().join("telemetry");
    let stack = start_stack(&env, 5.0, FAST_STACK).await;
    let activities = || activities_of(&env);
    let launches = |all: &[rundir::Activity]| {
        all.iter()
            .filter(|a| {
                a.auto_scaling_group_name == "web" && a.description.starts_with("Launching")
            })
            .count()
    };
    assert_eq!(launches(&activities()), 1, "the group starts at min");

    // Load through the balancer: 4 clients as fast as they go (hundreds of requests/s).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = drive_load(
        format!("{}/health", stack.url),
        4,
        std::time::Instant::now(),
        &stop,
    );
    let started = std::time::Instant::now();
    while launches(&activities()) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no scale-out: {:?}",
            activities()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = activities()
        .into_iter()
        .filter(|a| a.auto_scaling_group_name == "web" && a.description.starts_with("Launching"))
        .nth(1)
        .unwrap();
    assert!(
        out.cause.contains("web-requests-per-target") && out.cause.contains("from 1 to 2"),
        "{}",
        out.cause
    );

    // Let the new instance serve a little, then stop the load: the group scales back in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut errors = 0;
    for client in clients {
        errors += client.await.unwrap().iter().filter(|(_, ok)| !ok).count();
    }
    assert_eq!(errors, 0, "scaling out loses no request");
    let started = std::time::Instant::now();
    while !activities()
        .iter()
        .any(|a| a.auto_scaling_group_name == "web" && a.description.starts_with("Terminating"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no scale-in: {:?}",
            activities()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.stop().await.unwrap();

    let metrics = rundir::read_metrics(std::io::BufReader::new(
        std::fs::File::open(telemetry.join("metrics.csv")).unwrap(),
    ))
    .unwrap();
    let in_service: Vec<f64> = metrics
        .iter()
        .filter(|r| r.metric == "GroupInServiceInstances" && r.dimensions[0].1 == "web")
        .map(|r| r.value)
        .collect();
    assert!(
        in_service.contains(&2.0),
        "two web instances in service at some point: {in_service:?}"
    );
    assert!(
        metrics
            .iter()
            .any(|r| r.metric == "RequestCount" && r.value > 20.0)
    );
    // The p95 the latency policies track, as CloudWatch's extended statistic.
    let p95: Vec<f64> = metrics
        .iter()
        .filter(|r| r.metric == "TargetResponseTime" && r.statistic == "p95")
        .map(|r| r.value)
        .collect();
    assert!(
        !p95.is_empty() && p95.iter().all(|s| *s > 0.0 && *s < 5.0),
        "{p95:?}"
    );
}

/// Clients hammering `url` as fast as it answers until `stop`; each returns its outcomes
/// (time since `started`, success).
fn drive_load(
    url: String,
    clients: usize,
    started: std::time::Instant,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<(Duration, bool)>>> {
    (0..clients)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut outcomes = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let ok = client
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    outcomes.push((started.elapsed(), ok));
                }
                outcomes
            })
        })
        .collect()
}

/// A running stack in `env`'s directory: the grace period, `FAST_CHECKS`, then `groups`.
async fn start_stack(
    env: &TestEnv,
    grace_secs: f64,
    groups: &str,
) -> local_cloud::supervisor::RunningStack {
    let config = format!("health_check_grace_secs = {grace_secs:?}\n{FAST_CHECKS}{groups}");
    use local_cloud::config::StackConfig;
    use target_stack::hosting::{Placement, up};
    let data_dir = env.dir.path().join("stack");
    let settings = target_stack::Settings::from_lookup(|k| {
        (k == "ANB_DATA_DIR").then(|| data_dir.display().to_string())
    })
    .unwrap();
    let placement = Placement {
        binary: env!("CARGO_BIN_EXE_target-stack").into(),
        telemetry_dir: env.dir.path().join("telemetry"),
        bind: "127.0.0.1:0".parse().unwrap(),
    };
    up(
        StackConfig::parse(&config, "test").unwrap(),
        placement,
        &settings,
    )
    .await
    .unwrap()
}

fn activities_of(env: &TestEnv) -> Vec<rundir::Activity> {
    let file = std::fs::File::open(env.dir.path().join("telemetry/activities.jsonl")).unwrap();
    rundir::read_activities(std::io::BufReader::new(file)).unwrap()
}

/// Issue 21: on AWS an instance is InService once launched; the warm-up only keeps its
/// metrics out of the aggregates. A web instance serving in its 60 s warm-up is in service
/// in the status (the dashboard's source) and in metrics.csv, and shown as warming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_instance_in_its_warm_up_counts_as_in_service() {
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let stack = start_stack(
        &env,
        5.0,
        "[web]\nname = \"web\"\nmin = 1\nmax = 1\nwarmup_secs = 60.0\n\
         [worker]\nname = \"worker\"\nmin = 0\nmax = 0\nwarmup_secs = 0.5\n",
    )
    .await;
    let health = reqwest::get(format!("{}/health", stack.url)).await.unwrap();
    assert_eq!(health.status(), 200, "the instance serves");
    // Telemetry is written each second; wait for two.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let web = stack.status().groups[0].clone();
    assert_eq!(
        (web.name.as_str(), web.in_service, web.warming, web.pending),
        ("web", 1, 1, 0),
        "{web:?}"
    );
    stack.stop().await.unwrap();
    let metrics = rundir::read_metrics(std::io::BufReader::new(
        std::fs::File::open(env.dir.path().join("telemetry/metrics.csv")).unwrap(),
    ))
    .unwrap();
    let of = |name: &str| -> Vec<f64> {
        metrics
            .iter()
            .filter(|r| r.metric == name && r.dimensions[0].1 == "web")
            .map(|r| r.value)
            .collect()
    };
    let in_service = of("GroupInServiceInstances");
    assert!(
        !in_service.is_empty() && in_service.iter().all(|&n| n == 1.0),
        "{in_service:?}"
    );
    assert!(of("GroupPendingInstances").iter().all(|&n| n == 0.0));
}

/// Two web instances, health checks every 200 ms: a dead one is out after 2 failed checks.
const TWO_WEB: &str = r#"
[web]
name = "web"
min = 2
max = 2
warmup_secs = 0.5
[worker]
name = "worker"
min = 0
max = 0
warmup_secs = 0.5
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_api_instance_is_taken_out_and_replaced_with_bounded_errors() {
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let stack = start_stack(&env, 2.0, TWO_WEB).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let started = std::time::Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = drive_load(format!("{}/health", stack.url), 4, started, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = started.elapsed();
    let victim = stack.kill_one("web").await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }
    let total = outcomes.len();
    let errors: Vec<Duration> = outcomes
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(t, _)| *t)
        .collect();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    // The balancer sends to the dead target until 2 failed checks 200 ms apart (each up to
    // 500 ms): at most ~0.9 s of its share of the traffic, plus what was in flight.
    let detection = Duration::from_millis(2 * 200 + 500);
    let bound = (rate * detection.as_secs_f64()) as usize + 4;
    println!(
        "killed {victim} at {killed_at:?}: {} errors of {total} requests ({:.2}%), {rate:.0} req/s, bound {bound}",
        errors.len(),
        errors.len() as f64 * 100.0 / total as f64
    );
    assert!(
        errors.len() <= bound,
        "{} errors, bound {bound}",
        errors.len()
    );
    let settle = killed_at + detection + Duration::from_secs(1);
    assert!(
        errors.iter().all(|t| *t >= killed_at && *t <= settle),
        "errors outside the detection window: {errors:?}"
    );

    // The group replaced it: two web instances in service again, and the activities say why.
    let activities = activities_of(&env);
    let terminated = activities
        .iter()
        .find(|a| a.description == format!("Terminating EC2 instance: {victim}"))
        .unwrap();
    assert!(
        terminated.cause.contains("exited") || terminated.cause.contains("health check"),
        "{}",
        terminated.cause
    );
    let launches = activities
        .iter()
        .filter(|a| a.auto_scaling_group_name == "web" && a.description.starts_with("Launching"))
        .count();
    assert_eq!(launches, 3, "two at creation, one replacement");
    assert_eq!(stack.status().groups[0].in_service, 2);
    stack.stop().await.unwrap();
}

/// A worker group scaling on its queue (seed 002's rules, compressed to seconds).
const QUEUE_SCALING: &str = r#"
[web]
name = "web"
min = 1
max = 1
warmup_secs = 0.5
[worker]
name = "worker"
min = 1
max = 3
warmup_secs = 0.5
[[worker.policies]]
type = "queue_rules"
name = "worker-queue-rules"
period_secs = 1.0
scale_out_queue_above = 3.0
scale_out_utilisation_above = 1000.0
scale_out_cpu_above = 1000.0
scale_in_queue_below = 1.0
scale_in_utilisation_below = 30.0
scale_in_sustain_secs = 2.0
scale_out_cooldown_secs = 1.0
scale_in_cooldown_secs = 1.0
step = 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_group_scales_out_on_a_backlog_drains_it_and_scales_in() {
    if !crate::helpers::have_ffmpeg() {
        return;
    }
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let stack = start_stack(&env, 5.0, QUEUE_SCALING).await;
    // Synthetic tasks straight into the stack's queue, as an operator would queue them.
    let data = env.dir.path().join("stack");
    let tasks = 12;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .args(["enqueue", &tasks.to_string(), "--size", "300KB"])
        .env("ANB_DATA_DIR", &data)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && printed.contains("queued 12 task(s)"),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settings = target_stack::Settings::from_lookup(|k| {
        (k == "ANB_DATA_DIR").then(|| data.display().to_string())
    })
    .unwrap();
    let backends = target_stack::Backends::connect(&settings).await.unwrap();
    let owner = backends
        .db
        .user_by_email(
            &target_stack::domain::Email::parse(target_stack::inject::SYNTHETIC_EMAIL).unwrap(),
        )
        .await
        .unwrap()
        .expect("the synthetic owner exists")
        .id;

    let worker_activity = |what: &str| {
        activities_of(&env)
            .into_iter()
            .filter(|a| a.auto_scaling_group_name == "worker" && a.description.starts_with(what))
            .count()
    };
    let started = std::time::Instant::now();
    while worker_activity("Launching") < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no worker scale-out: {:?}",
            activities_of(&env)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Drained: every video processed, nothing left in the queue.
    loop {
        let depth = backends.queue.depth().await.unwrap();
        let videos = backends.db.videos_of(owner).await.unwrap();
        let done = videos
            .iter()
            .filter(|v| v.status == target_stack::domain::VideoStatus::Processed)
            .count();
        if depth.visible + depth.in_flight == 0 && done == tasks {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not drained: {depth:?}, {done} of {tasks} processed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    while worker_activity("Terminating") < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no worker scale-in: {:?}",
            activities_of(&env)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = activities_of(&env)
        .into_iter()
        .find(|a| {
            a.auto_scaling_group_name == "worker"
                && a.description.starts_with("Launching")
                && a.cause.contains("worker-queue-rules")
        })
        .expect("a scale-out caused by the queue rules");
    println!("worker scale-out cause: {}", out.cause);
    stack.stop().await.unwrap();

    // Every task traced to a named worker instance; more than one worker did the work.
    let ids: Vec<String> = backends
        .db
        .videos_of(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.task_id)
        .collect();
    let runs = backends.db.task_runs_of(&ids).await.unwrap();
    assert!(runs.len() >= tasks, "{runs:?}");
    assert!(runs.iter().all(|r| r.worker.starts_with("i-local-")
        && r.finished_at.is_some_and(|f| f >= r.started_at)
        && r.started_at >= r.enqueued_at));
    let workers: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r.worker.as_str()).collect();
    assert!(workers.len() >= 2, "one worker did everything: {workers:?}");

    // The queue's CloudWatch metrics: every delete counted once, the backlog aged.
    let metrics = rundir::read_metrics(std::io::BufReader::new(
        std::fs::File::open(env.dir.path().join("telemetry/metrics.csv")).unwrap(),
    ))
    .unwrap();
    let of = |name: &'static str| {
        metrics
            .iter()
            .filter(move |r| r.metric == name)
            .map(|r| r.value)
    };
    assert_eq!(of("NumberOfMessagesDeleted").sum::<f64>(), tasks as f64);
    assert!(of("ApproximateAgeOfOldestMessage").any(|age| age >= 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_status_scale_and_kill_through_the_cli() {
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let stack = start_stack(&env, 5.0, FAST_STACK).await;
    let data_dir = env.dir.path().join("stack");
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
            .args(args)
            .env("ANB_DATA_DIR", &data_dir)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ok, json, _) = cli(&["status", "--json"]);
    assert!(ok);
    let status: local_cloud::control::StackStatus = serde_json::from_str(&json).unwrap();
    let web = status.groups.iter().find(|g| g.name == "web").unwrap();
    assert_eq!((web.desired, web.max), (1, 2));
    assert!(status.queue.is_some(), "the ANB stack reports its queue");

    let (ok, answer, _) = cli(&["scale", "web", "2"]);
    assert!(ok && answer.contains("\"desired\":2"), "{answer}");
    let started = std::time::Instant::now();
    while stack
        .status()
        .groups
        .iter()
        .find(|g| g.name == "web")
        .unwrap()
        .in_service
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "scale web 2 launched nothing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, table, _) = cli(&["status"]);
    assert!(
        ok && table.contains("in service") && table.contains("web"),
        "{table}"
    );

    let (ok, answer, _) = cli(&["chaos", "kill", "--group", "web"]);
    assert!(ok && answer.contains("i-local-"), "{answer}");
    let (ok, _, error) = cli(&["scale", "nope", "1"]);
    assert!(!ok && error.contains("no group \"nope\""), "{error}");
    stack.stop().await.unwrap();

    let elsewhere = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("status")
        .env("ANB_DATA_DIR", elsewhere.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("target-stack up"));
}

/// Seed 000's system on the local stack: the inference service as the web group, with its
/// target tracking on CPU 70 % and requests per target, and no worker group.
const INFERENCE_WEB: &str = r#"
[web]
name = "web"
min = 1
max = 2
warmup_secs = 0.5

[[web.policies]]
type = "target_tracking"
name = "web-cpu-70"
metric = "avg_cpu"
target = 70.0

[[web.policies]]
type = "target_tracking"
name = "web-requests-per-target"
metric = "requests_per_target"
target = 50.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_the_inference_app_answers_predictions_through_the_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    std::fs::write(
        &config,
        format!("health_check_grace_secs = 5.0\n{FAST_CHECKS}{INFERENCE_WEB}"),
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let telemetry = dir.path().join("telemetry");
    let mut up = tokio::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("up")
        .args(["--app", "inference", "--bind", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--telemetry")
        .arg(&telemetry)
        .env("ANB_DATA_DIR", &data_dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(up.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("`up` ended without saying where it listens")
    })
    .await
    .expect("the stack starts within 90 s");

    let client = reqwest::Client::new();
    let features: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).collect();
    for _ in 0..5 {
        let response = client
            .post(format!("{url}/predict"))
            .json(&serde_json::json!({ "features": features }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["prediction"].as_u64().unwrap() < 2, "{body}");
        assert_eq!(body["instance_id"], "i-local-0001", "{body}");
    }
    let refused = client
        .post(format!("{url}/predict"))
        .json(&serde_json::json!({ "features": [1, 2, 3] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "the balancer passes the 400 on");

    // One group, web, running the inference role; no worker group, no database.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .args(["status", "--json"])
        .env("ANB_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    let status: local_cloud::control::StackStatus = serde_json::from_slice(&status.stdout).unwrap();
    let names: Vec<&str> = status.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["web"]);
    assert_eq!(status.queue, None, "the inference app has no queue");
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("status")
        .env("ANB_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("queue: none"), "{text}");
    let stack: rundir::StackDescription =
        serde_json::from_slice(&std::fs::read(telemetry.join("stack.json")).unwrap()).unwrap();
    assert_eq!(stack.app.as_deref(), Some("inference"));
    assert_eq!(stack.groups.len(), 1);
    assert!(
        stack.groups[0].policies[0].contains("average CPU % at 70")
            && stack.groups[0].policies[1].contains("requests/s per target at 50"),
        "{:?}",
        stack.groups[0].policies
    );
    assert!(
        !data_dir.join("anb.sqlite3").exists(),
        "no database for inference"
    );
    assert!(
        std::fs::read_dir(data_dir.join("logs"))
            .unwrap()
            .flatten()
            .any(|f| f
                .file_name()
                .to_string_lossy()
                .starts_with("inference-i-local-")),
        "the web instance runs `target-stack inference`"
    );

    crate::helpers::sigterm(up.id().unwrap());
    let exit = tokio::time::timeout(Duration::from_secs(60), up.wait())
        .await
        .expect("the stack stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit}");
}
