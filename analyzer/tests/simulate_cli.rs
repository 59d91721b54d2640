//! `analyze simulate` as a user runs it, on the committed example analyses:
//! capacity-planning/examples (a scenario-1 ramp to 60 users on the local stack, whose web
//! group tracked 60 requests/s per target with at most 3 instances) and
//! capacity-planning/examples/worker-replay (a scenario-2 staircase of 5 MB videos, 10 then
//! 20 a minute, whose worker group scaled out on its queue), each with its stack.toml.

use std::process::Command;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../capacity-planning/examples");
const REHEARSAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target-stack/stacks/rehearsal.toml"
);

fn analyze(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_analyze"))
        .args(args)
        .output()
        .unwrap()
}

fn simulate_json(policies: &[&str]) -> serde_json::Value {
    simulate_json_of(&format!("{EXAMPLES}/analysis.json"), policies)
}

fn simulate_json_of(analysis: &str, policies: &[&str]) -> serde_json::Value {
    let mut args = vec!["simulate", "--analysis", analysis, "--json"];
    for policy in policies {
        args.extend(["--policy", policy]);
    }
    let out = analyze(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The stated tolerance for a run's own policy (the first one simulated): the in-service
/// count as measured in at least 90 % of the (at least `min_compared`) seconds that measured
/// it, a mean difference of at most 0.2 instances, and the run's one scale-out.
fn assert_own_policy_reproduces_the_run(
    simulation: &serde_json::Value,
    min_compared: u64,
) -> &serde_json::Value {
    let policy = &simulation["policies"][0];
    let agreement = &policy["against_measured"];
    let compared = agreement["seconds_compared"].as_u64().unwrap();
    let equal = agreement["seconds_equal"].as_u64().unwrap();
    assert!(compared >= min_compared, "{simulation}");
    assert!(equal as f64 >= 0.9 * compared as f64, "{simulation}");
    assert!(
        agreement["mean_abs_difference"].as_f64().unwrap() <= 0.2,
        "{simulation}"
    );
    assert_eq!(policy["scale_outs"], 1, "{simulation}");
    policy
}

#[test]
fn the_runs_own_policy_replayed_reproduces_its_measured_instances() {
    let own = format!("{EXAMPLES}/stack.toml");
    let simulation = simulate_json(&[&own]);
    let policy = assert_own_policy_reproduces_the_run(&simulation, 80);
    // The modelled CPU gives the energy the run's measured CPU gives (analysis.json's cost
    // section, from the same instance-hours), within a quarter.
    let analysis: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/analysis.json")).unwrap(),
    )
    .unwrap();
    let measured = analysis["cost"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == simulation["run_id"])
        .unwrap()["energy_kwh"]
        .as_f64()
        .unwrap();
    let modelled = policy["energy_kwh"].as_f64().unwrap();
    assert!(
        (modelled - measured).abs() <= 0.25 * measured,
        "modelled {modelled} kWh against {measured} from the measured CPU"
    );
    // The inputs come from the run, with their sources.
    let inputs = &simulation["inputs"];
    assert!(inputs["cpu_seconds_per_request"].as_f64().unwrap() > 0.0);
    assert!(
        inputs["capacity_from"]
            .as_str()
            .unwrap()
            .contains("requests")
    );
}

#[test]
fn other_policies_give_other_fleets_under_the_same_demand() {
    let simulation = simulate_json(&[REHEARSAL, "default"]);
    let seconds = simulation["seconds"].as_u64().unwrap() as f64;
    let rehearsal = &simulation["policies"][0];
    let default = &simulation["policies"][1];
    // rehearsal.toml: at most 2 instances, scaling out above 20 requests/s per target.
    assert!(
        rehearsal["timeline"].as_str().unwrap().contains("2×"),
        "{rehearsal}"
    );
    assert!(
        !rehearsal["timeline"].as_str().unwrap().contains("3×"),
        "{rehearsal}"
    );
    // The defaults read 60 s periods, 3 of them to scale out: not within this 98 s run, so
    // one instance throughout.
    assert_eq!(default["scale_outs"], 0, "{default}");
    let hours = default["instance_hours"].as_f64().unwrap();
    assert!((hours - seconds / 3600.0).abs() < 1e-9, "{default}");
    // Priced as the shipped table's t3.small on demand, $0.0208 an hour.
    let usd = default["instance_usd"].as_f64().unwrap();
    assert!((usd - hours * 0.0208).abs() < 1e-12, "{default}");
    assert!(
        simulation["priced_as"]
            .as_str()
            .unwrap()
            .contains("t3.small")
    );
}

#[test]
fn a_bad_policy_file_or_run_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[web]\nname = \"web\"\nmin = 3\nmax = 1\nwarmup_secs = 1\n",
    )
    .unwrap();
    let analysis = format!("{EXAMPLES}/analysis.json");
    let out = analyze(&[
        "simulate",
        "--analysis",
        &analysis,
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a valid stack configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("default-stack.toml"), "{stderr}");

    let out = analyze(&[
        "simulate",
        "--analysis",
        &analysis,
        "--policy",
        "default",
        "--run",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no run nope"), "{stderr}");

    let text = analyze(&["simulate", "--analysis", &analysis, "--policy", "default"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("a model, not a measurement"), "{stdout}");
    assert!(stdout.contains("Policy default"), "{stdout}");
}

#[test]
fn scheduled_and_predictive_policies_are_replayed_from_a_users_file() {
    // The example run's first seconds (about 500-700 requests/s) come back one 40 s cycle
    // later as a forecast; a scheduled action caps the group at 2 from 60 s.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("what-if.toml");
    std::fs::write(
        &file,
        "[web]\nname = \"web\"\nmin = 1\nmax = 4\nwarmup_secs = 1\n\n\
         [[web.policies]]\ntype = \"predictive\"\nname = \"cycle\"\n\
         metric = \"requests_per_target\"\ntarget = 200.0\ncycle_secs = 40\n\
         buffer_secs = 5\nperiod_secs = 1\nmode = \"forecast_and_scale\"\n\n\
         [[web.scheduled]]\nname = \"cap\"\nat_secs = 60\nmax = 2\n",
    )
    .unwrap();
    let simulation = simulate_json(&[file.to_str().unwrap()]);
    let policy = &simulation["policies"][0];
    let timeline = policy["timeline"].as_str().unwrap();
    // No forecast in the first cycle (35 s with the buffer): one instance until then.
    assert!(timeline.starts_with("1×"), "{timeline}");
    let first = timeline.split(',').next().unwrap();
    let first_len: u32 = first
        .trim_start_matches("1×")
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(first_len >= 35, "{timeline}");
    // The forecast then scales out (500+ requests/s at 200 per instance needs 3 or 4).
    assert!(
        timeline.contains("3×") || timeline.contains("4×"),
        "{timeline}"
    );
    // From 60 s the schedule's max of 2 holds, to the end.
    let last = timeline.rsplit(", ").next().unwrap();
    assert!(last.starts_with("2×"), "{timeline}");
    assert!(policy["scale_outs"].as_u64().unwrap() >= 1);
    assert!(policy["scale_ins"].as_u64().unwrap() >= 1, "{policy}");
}

#[test]
fn the_worker_groups_own_policy_replayed_reproduces_its_instances_and_waits() {
    let dir = format!("{EXAMPLES}/worker-replay");
    let own = format!("{dir}/stack.toml");
    let simulation = simulate_json_of(&format!("{dir}/analysis.json"), &[&own, "default"]);
    assert_eq!(simulation["group"], "worker", "{simulation}");
    let inputs = &simulation["inputs"];
    assert_eq!(inputs["demand"], "tasks");
    assert_eq!(inputs["service_from_tasks"], 45);
    assert_eq!(inputs["slots_per_instance"], 1);
    let policy = assert_own_policy_reproduces_the_run(&simulation, 170);
    // Every task measured is replayed, and waits about as long as it did: within a second
    // of the measured mean (1.3 s; the replay's queue has no polling delay).
    assert_eq!(policy["tasks_started"], 45, "{simulation}");
    let measured_wait = simulation["measured"]["mean_wait_s"].as_f64().unwrap();
    let replayed_wait = policy["mean_wait_s"].as_f64().unwrap();
    assert!(
        (replayed_wait - measured_wait).abs() <= 1.0,
        "replayed {replayed_wait} s against {measured_wait} s measured"
    );
    // The defaults (aforo.yaml's policy: 4 visible tasks per worker over 3 one-minute
    // datapoints) never scale out on this queue of at most 3: one worker throughout, its
    // tasks waiting longer than under the run's own policy.
    let default = &simulation["policies"][1];
    assert_eq!(default["scale_outs"], 0, "{default}");
    assert!(default["timeline"].as_str().unwrap().starts_with("1×"));
    assert!(
        default["mean_wait_s"].as_f64().unwrap() > replayed_wait,
        "{default}"
    );
}

#[test]
fn a_run_or_group_without_the_demand_asked_for_is_refused_with_the_reason() {
    let worker = format!("{EXAMPLES}/worker-replay/analysis.json");
    let out = analyze(&[
        "simulate",
        "--analysis",
        &worker,
        "--policy",
        "default",
        "--group",
        "web",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scenario-1"), "{stderr}");
    // A scenario-2 run analysed before tasks were kept per second: the main example's, with
    // the per-second task counts taken out of its timeline.
    let mut old: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/analysis.json")).unwrap(),
    )
    .unwrap();
    let run = "20261205T063534Z-scenario2-86f3-50MB-c1-sustained";
    let timeline = old["timelines"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["run_id"] == run)
        .expect("the example has the scenario-2 run");
    for second in timeline["seconds"].as_array_mut().unwrap() {
        let second = second.as_object_mut().unwrap();
        second.remove("tasks_enqueued");
        second.remove("tasks_finished");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analysis.json");
    std::fs::write(&path, old.to_string()).unwrap();
    let out = analyze(&[
        "simulate",
        "--analysis",
        path.to_str().unwrap(),
        "--policy",
        "default",
        "--run",
        run,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("run `analyze` on the run again"),
        "{stderr}"
    );
}
