//! `analyze usl` as a user runs it, on the published Cisco benchmark (copied into
//! capacity-model/tests/data/usl from the reference implementations' test suites).

use std::process::Command;

const CISCO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../capacity-model/tests/data/usl/cisco.csv"
);

fn analyze(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_analyze"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn fits_the_cisco_benchmark_and_prints_it_as_text_and_json() {
    let text = analyze(&["usl", CISCO]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("σ (contention) 0.026716"), "{stdout}");
    assert!(stdout.contains("peak at concurrency 35"), "{stdout}");
    assert!(stdout.contains("a projection"), "{stdout}");

    let json = analyze(&["usl", CISCO, "--json"]);
    let fit: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let sigma = fit["sigma"].as_f64().unwrap();
    assert!((sigma - 0.02671591).abs() / 0.02671591 < 1e-5, "{fit}");
    assert_eq!(fit["peak_concurrency"], 35);
}

#[test]
fn refuses_too_few_points_and_bad_files_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let few = dir.path().join("few.csv");
    std::fs::write(&few, "concurrency,throughput\n1,10\n2,19\n4,35\n").unwrap();
    let out = analyze(&["usl", few.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "bad input exits 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("at least 6 distinct concurrency levels"),
        "{stderr}"
    );

    let missing = analyze(&["usl", "/nonexistent/points.csv"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/points.csv")
    );

    // Without a subcommand it analyses ./runs, which is not here.
    let runs = analyze(&["--runs-dir", "/nonexistent/runs"]);
    assert_eq!(runs.status.code(), Some(2));
}
