//! Scenario files end to end: `loadgen check`, think time against a server of known speed
//! (the interactive response-time law), and the escenario-1 file against `scenario1` on the
//! real local target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::calibration::{Behaviour, CalibrationServer};

use crate::helpers::{loadgen, only_run, read_run, text};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/examples")
        .join(name)
}

#[test]
fn check_describes_a_good_file_and_names_the_line_of_a_bad_one() {
    let good = example("ml-inference.toml");
    let output = loadgen(&["check", good.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("predict") && said.contains("POST /predict"),
        "{said}"
    );
    assert!(said.contains("85.0 % of iterations"), "{said}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\n\n[[steps]]\nname = \"predict\"\npath = \"/predict/{modl}\"\n",
    )
    .unwrap();
    let output = loadgen(&["check", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(&format!("{}:5:", bad.display())) && said.contains("unknown variable"),
        "{said}"
    );
    // `run` refuses it the same way, before any load.
    let output = loadgen(&["run", bad.to_str().unwrap(), "--host", "http://127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains(":5:"));
}

/// A server that answers in 2 ms: fast against think times and pacing.
async fn fast_server() -> CalibrationServer {
    CalibrationServer::start(Behaviour {
        delay: Duration::from_millis(2),
        stall: None,
        workers: None,
    })
    .await
    .unwrap()
}

/// Requests a second over the run's whole seconds (the first and last are partial), and
/// those seconds' counts.
fn inner_rate(run: &crate::helpers::ReadRun) -> (f64, Vec<u64>) {
    let mut per_second: BTreeMap<_, u64> = BTreeMap::new();
    for row in &run.requests {
        *per_second.entry(row.timestamp).or_default() += row.counts.requests;
    }
    let counts: Vec<u64> = per_second.values().copied().collect();
    let inner = counts[1..counts.len() - 1].to_vec();
    (inner.iter().sum::<u64>() as f64 / inner.len() as f64, inner)
}

/// N users thinking Z between answers of a server that takes R serve X = N / (R + Z): the
/// interactive response-time law, which holds whatever the server as long as the generator
/// keeps up (a 2 ms server and 100 ms of thinking: 4 users make 39 requests a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_time_makes_users_people_by_the_response_time_law() {
    let _turn = crate::helpers::exclusive().await;
    let server = fast_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.toml");
    std::fs::write(
        &file,
        "name = \"hello\"\n[[steps]]\nname = \"hello\"\npath = \"/\"\n",
    )
    .unwrap();
    let out = dir.path().join("runs");
    let output = crate::helpers::loadgen_async(&format!(
        "run {} --host {} --users 4 --duration 5s --think-time exp:100ms --out {}",
        file.display(),
        server.url(),
        out.display()
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let run = read_run(&only_run(&out));
    assert_eq!(run.manifest.scenario, "hello");
    assert_eq!(
        run.manifest.workload.think_time.as_deref(),
        Some("exp:100ms")
    );
    assert_eq!(run.manifest.workload.think_time_s, Some(0.1));

    let (measured, inner) = inner_rate(&run);
    let response_s = run.latency["hello"].0.mean() / 1e6;
    let law = 4.0 / (response_s + 0.1);
    // Exponential think times: over 3 s, about 120 requests, whose count varies by about
    // 1/sqrt(120) = 9 %; 25 % is almost three of those.
    assert!(
        (measured - law).abs() / law < 0.25,
        "measured {measured:.1} req/s, the law says {law:.1} (R = {:.1} ms) over {inner:?}",
        response_s * 1000.0
    );
}

/// A failed check is counted by what the answer was: a 200 whose body or status the step
/// did not expect is a check failure, apart from transport errors and HTTP errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_are_counted_apart_from_transport_errors() {
    let _turn = crate::helpers::exclusive().await;
    let server = fast_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.toml");
    // The calibration server answers every request `200 Hello, world!`.
    std::fs::write(
        &file,
        r#"name = "checks"
[settings]
order = "sequence"

[[steps]]
name = "hello"
path = "/"
check = { status = [200], body_contains = "Hello" }

[[steps]]
name = "goodbye"
path = "/"
check = { body_contains = "Goodbye" }

[[steps]]
name = "created"
path = "/"
check = { status = [201] }
"#,
    )
    .unwrap();
    let out = dir.path().join("runs");
    let output = crate::helpers::loadgen_async(&format!(
        "run {} --host {} --users 1 --duration 2s --out {}",
        file.display(),
        server.url(),
        out.display()
    ))
    .await;
    // Two steps in three fail: the default error threshold fails the run (exit 1), which
    // still writes its directory.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("✗ errors"),
        "{}",
        text(&output)
    );
    let run = read_run(&only_run(&out));
    let mut totals: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for row in &run.requests {
        let t = totals.entry(row.endpoint.as_str()).or_default();
        let counts = &row.counts;
        t[0] += counts.requests;
        t[1] += counts.successes;
        t[2] += counts
            .check_failures
            .expect("loadgen writes check_failures");
        t[3] += counts.errors_4xx + counts.errors_5xx + counts.errors_other;
    }
    let [requests, successes, checks, errors] = totals["hello"];
    assert!(requests > 10, "{totals:?}");
    assert_eq!((successes, checks, errors), (requests, 0, 0), "{totals:?}");
    for step in ["goodbye", "created"] {
        let [requests, successes, checks, errors] = totals[step];
        assert!(requests > 10, "{totals:?}");
        assert_eq!(
            (successes, checks, errors),
            (0, requests, 0),
            "{step}: {totals:?}"
        );
    }
}

/// Pacing: each user's iterations start a fixed interval apart, whatever the answer time (2
/// users, 250 ms: 8 requests a second), and the manifest says Z is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_spaces_each_users_iterations() {
    let _turn = crate::helpers::exclusive().await;
    let server = fast_server().await;
    let out = tempfile::tempdir().unwrap();
    let output = crate::helpers::loadgen_async(&format!(
        "run get --host {} --param path=/ --users 2 --duration 5s --pacing 250ms --out {}",
        server.url(),
        out.path().display()
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    assert_eq!(run.manifest.workload.pacing_s, Some(0.25));
    assert_eq!(run.manifest.workload.think_time_s, None);
    let (measured, inner) = inner_rate(&run);
    // Pacing is exact up to the timer's millisecond: 8 a second, give or take one.
    assert!(
        (measured - 8.0).abs() <= 1.0,
        "{measured} req/s over {inner:?}"
    );
}

/// The escenario-1 file and `scenario1` draw their steps alike: the draws of each step
/// (requests plus skips) over two runs against the local target fit one distribution (a
/// chi-square test of homogeneity at the 0.1 % level).
#[test]
fn the_escenario1_file_and_scenario1_make_the_same_step_mix() {
    if !crate::runs::target_stack_is_built() {
        return;
    }
    let _turn = crate::helpers::exclusive_blocking();
    let draws = |scenario: &str| -> BTreeMap<String, u64> {
        let out = tempfile::tempdir().unwrap();
        let output = crate::helpers::loadgen_with_env(
            &[
                "run",
                scenario,
                "--users",
                "6",
                "--duration",
                "8s",
                "--out",
                out.path().to_str().unwrap(),
            ],
            &[("ANB_BUMPER_SECS", "0")],
        );
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        let run = read_run(&only_run(out.path()));
        let mut draws: BTreeMap<String, u64> = BTreeMap::new();
        for row in &run.requests {
            *draws.entry(row.endpoint.clone()).or_default() += row.counts.requests;
        }
        for skip in &run.summary.skipped {
            *draws.entry(skip.step.clone()).or_default() += skip.count;
        }
        // Setup is once per user, not part of the mix.
        for setup in ["signup", "login"] {
            draws.remove(setup);
        }
        draws
    };
    let file = draws(example("escenario1.toml").to_str().unwrap());
    let builtin = draws("scenario1");
    let steps: Vec<&String> = builtin.keys().collect();
    assert_eq!(
        file.keys().collect::<Vec<_>>(),
        steps,
        "{file:?} {builtin:?}"
    );
    let (n_file, n_builtin) = (
        file.values().sum::<u64>() as f64,
        builtin.values().sum::<u64>() as f64,
    );
    assert!(n_file > 100.0 && n_builtin > 100.0, "{file:?} {builtin:?}");
    let mut chi2 = 0.0;
    for step in &steps {
        let (a, b) = (file[*step] as f64, builtin[*step] as f64);
        let pooled = (a + b) / (n_file + n_builtin);
        for (observed, n) in [(a, n_file), (b, n_builtin)] {
            let expected = pooled * n;
            chi2 += (observed - expected).powi(2) / expected;
        }
    }
    // Five degrees of freedom: P(χ² > 20.5) = 0.001.
    assert!(chi2 < 20.5, "χ² = {chi2:.1}: {file:?} against {builtin:?}");
}

/// Issue 19's first criterion: the inference example against `target-stack inference`
/// writes a run whose requests.csv names the file's steps, without errors.
#[test]
fn the_inference_example_loads_seed_000s_service() {
    if !crate::runs::target_stack_is_built() {
        return;
    }
    let _turn = crate::helpers::exclusive_blocking();
    let exe = Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("target-stack");
    let data = tempfile::tempdir().unwrap();
    let mut service = std::process::Command::new(exe)
        .args(["inference", "--bind", "127.0.0.1:0"])
        .env("ANB_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(service.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let output = loadgen(&[
        "run",
        example("ml-inference.toml").to_str().unwrap(),
        "--host",
        &url,
        "--users",
        "4",
        "--duration",
        "5s",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let _ = service.kill();
    let _ = service.wait();
    assert!(output.status.success(), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    let by_step = crate::helpers::requests_by_endpoint(&run.requests);
    assert!(
        by_step
            .get("predict")
            .is_some_and(|(requests, _)| *requests >= 5),
        "{by_step:?}"
    );
    assert!(
        by_step
            .keys()
            .all(|step| ["predict", "info", "health", "load_test"].contains(&step.as_str()))
    );
    assert!(
        by_step.values().all(|(_, errors)| *errors == 0),
        "{by_step:?}"
    );
    assert_eq!(run.manifest.scenario, "ml-inference");
    assert!(
        run.manifest
            .workload
            .scenario_file
            .as_deref()
            .is_some_and(|f| f.ends_with("ml-inference.toml"))
    );
}
