//! The whole pipeline on real runs: a compressed scenario-1 ramp and a tiny scenario 2
//! against the local stack, then `analyze` and `analyze gate` on what they wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// loadgen and target-stack, built beside `analyze` by `cargo test --workspace`.
fn sibling(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_analyze")).with_file_name(name);
    path.is_file().then_some(path)
}

/// loadgen, when target-stack is built beside it too; None (a loud skip, or a failure in
/// CI) when either is missing.
fn loadgen_beside_a_stack() -> Option<PathBuf> {
    let (Some(loadgen), Some(_)) = (sibling("loadgen"), sibling("target-stack")) else {
        let how = "build them with `cargo build -p loadgen -p target-stack` (cargo test --workspace does)";
        assert!(
            !in_ci(),
            "CI=true but loadgen or target-stack is missing: {how}"
        );
        eprintln!("\n*** SKIPPED: loadgen or target-stack is not built; {how} ***\n");
        return None;
    };
    Some(loadgen)
}

fn have(command: &str) -> bool {
    Command::new(command)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("start the program")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The web group scales out above 20 requests/s per instance within two 1 s periods (the
/// stack CI's pipeline rehearses on too).
const FAST_STACK: &str = include_str!("../../target-stack/stacks/rehearsal.toml");

#[test]
fn a_real_ramp_and_worker_run_fill_every_section_of_the_analysis() {
    let Some(loadgen) = loadgen_beside_a_stack() else {
        return;
    };
    if !(have("ffmpeg") && have("ffprobe")) {
        assert!(
            !in_ci(),
            "CI=true but ffmpeg is missing: apt-get install ffmpeg"
        );
        eprintln!("\n*** SKIPPED: scenario 2 needs ffmpeg (apt-get install ffmpeg) ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs_arg = runs.to_str().unwrap();
    let stack = dir.path().join("stack.toml");
    std::fs::write(&stack, FAST_STACK).unwrap();

    // Ramp 3 min and hold 5 min at a tenth: 18 s of ramp (six 3 s slices) and 30 s of hold.
    let ramp = run(
        &loadgen,
        &[
            "run",
            "scenario1",
            "--profile",
            "ramp",
            "--users",
            "8",
            "--time-scale",
            "0.1",
            "--param",
            "upload_size=200KB",
            "--stack-config",
            stack.to_str().unwrap(),
            "--out",
            runs_arg,
        ],
    );
    assert!(ramp.status.success(), "{}", text(&ramp));
    let cell = run(
        &loadgen,
        &[
            "run",
            "scenario2",
            "--size",
            "1MB",
            "--concurrency",
            "1",
            "--mode",
            "sustained",
            "--tasks",
            "2",
            "--out",
            runs_arg,
        ],
    );
    assert!(cell.status.success(), "{}", text(&cell));

    let analyze = Path::new(env!("CARGO_BIN_EXE_analyze"));
    let out = run(analyze, &["--runs-dir", runs_arg, "--since", "1h"]);
    assert!(out.status.success(), "{}", text(&out));
    let a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs.join("analysis.json")).unwrap()).unwrap();
    // The reports crate's snapshot tests render this very analysis:
    // `UPDATE_REPORT_FIXTURE=1 cargo test -p analyzer --test end_to_end` refreshes it.
    if std::env::var_os("UPDATE_REPORT_FIXTURE").is_some() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/tests/data/analysis.json");
        std::fs::copy(runs.join("analysis.json"), fixture).unwrap();
    }

    assert_eq!(a["runs"].as_array().unwrap().len(), 2, "{a:#}");
    let latency = a["latency"].as_array().unwrap();
    assert!(latency.len() >= 6, "every scenario-1 endpoint: {latency:?}");
    assert!(
        latency
            .iter()
            .all(|e| e["p95_ms"].as_f64().unwrap() > 0.0
                && e["latency_samples"].as_u64().unwrap() > 0)
    );
    let stages = a["stages"].as_array().unwrap();
    assert!(
        stages.len() >= 7,
        "six ramp slices and the hold: {stages:#?}"
    );
    let hold = stages.last().unwrap();
    assert_eq!(hold["label"], "hold 8");
    // Throughput counts the answers that arrived in the window: it is known for every point.
    assert!(hold["total"]["rps"].as_f64().unwrap() > 0.0, "{hold:#}");
    assert!(
        hold["kpis"]["cpu_percent:web"].as_f64().is_some(),
        "{hold:#}"
    );
    assert!(
        hold["kpis"]["healthy_hosts"].as_f64().unwrap() >= 1.0,
        "{hold:#}"
    );

    let capacity = &a["capacity"];
    let best = &capacity["knee"]["best_within_slo"];
    assert!(best["rps"].as_f64().unwrap() > 10.0, "{capacity:#}");
    // The best point is one measured load point, quoted whole.
    let label = best["label"].as_str().unwrap();
    let point = stages
        .iter()
        .find(|p| label.starts_with(p["label"].as_str().unwrap()) && p["load"] == best["load"])
        .unwrap_or_else(|| panic!("{label} is a load point: {stages:#?}"));
    assert_eq!(point["total"]["rps"], best["rps"]);
    assert_eq!(point["total"]["samples"], best["samples"]);
    assert_eq!(point["worst_p95_ms"], best["p95_ms"]);
    assert!(
        capacity["rps_per_instance"].as_f64().is_some(),
        "{capacity:#}"
    );
    // Seven noisy points on a shared machine may or may not follow the USL: the section is
    // a fit with coefficients a system can have, or says why there is none.
    let usl = &a["usl"];
    match usl["fit"]["sigma"].as_f64() {
        Some(sigma) => assert!((-0.05..=1.0).contains(&sigma), "{usl:#}"),
        None => assert!(usl["reason"]["reason"].is_string(), "{usl:#}"),
    }
    assert!(a["little"].as_array().unwrap().len() >= 8);

    let scale_outs = a["scale_outs"].as_array().unwrap();
    let web = scale_outs
        .iter()
        .find(|s| s["group"] == "web")
        .unwrap_or_else(|| panic!("the web group scaled out: {scale_outs:#?}\n{}", text(&ramp)));
    assert!(
        web["activity_to_in_service_s"].as_f64().unwrap() >= 0.0,
        "{web:#}"
    );
    // In service when booted; the metrics count after rehearsal.toml's 1 s warm-up, which
    // the run's stack.json recorded (issue 21).
    assert_eq!(
        web["in_service_to_warmed_up_s"].as_f64(),
        Some(1.0),
        "{web:#}"
    );

    let workers = a["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["processed"], 2, "{:#}", workers[0]);
    assert!(workers[0]["service_mean_s"].as_f64().unwrap() > 0.0);
    assert!(
        workers[0]["erlang"]["servers"].as_u64().unwrap() >= 1,
        "{:#}",
        workers[0]
    );

    let summary = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "Capacity",
        "Scalability (USL)",
        "Load points",
        "Scale-outs",
        "in service→warmed up",
        "Workers",
        "Cost and energy (estimates",
    ] {
        assert!(summary.contains(heading), "{heading}:\n{summary}");
    }
    // Every run that measured its group is priced, per request or per video.
    let priced = a["cost"]["runs"].as_array().unwrap();
    assert!(
        priced
            .iter()
            .any(|r| r["usd_per_million_requests"].as_f64().unwrap_or(0.0) > 0.0),
        "{:#}",
        a["cost"]
    );
    assert!(
        priced
            .iter()
            .any(|r| r["usd_per_video"].as_f64().unwrap_or(0.0) > 0.0),
        "{:#}",
        a["cost"]
    );

    // The report: the course's markdown, with the charts it links.
    let report_dir = dir.path().join("report");
    let report = run(
        analyze,
        &[
            "report",
            "--analysis",
            runs.join("analysis.json").to_str().unwrap(),
            "--out",
            report_dir.to_str().unwrap(),
        ],
    );
    assert!(report.status.success(), "{}", text(&report));
    let markdown =
        std::fs::read_to_string(report_dir.join("pruebas_de_carga_entrega4.md")).unwrap();
    let ramp_id = a["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "scenario1")
        .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(markdown.contains(&ramp_id), "{markdown}");
    assert!(markdown.contains("## 3. Escenario 2"), "{markdown}");
    assert!(
        markdown.contains("## 10. Costo y sostenibilidad"),
        "{markdown}"
    );
    assert!(
        markdown.contains("USD por millón de peticiones"),
        "{markdown}"
    );
    for link in markdown
        .split("](")
        .skip(1)
        .filter_map(|r| r.split(')').next())
    {
        assert!(
            report_dir.join(link).is_file(),
            "{link} is linked but not drawn"
        );
    }

    // The gate: a lenient SLO passes and writes JUnit; a 1 ms p95 fails with exit 1.
    let lenient = dir.path().join("lenient.toml");
    std::fs::write(
        &lenient,
        "p95 = \"10s\"\nerrors = \"50%\"\nmax_failed_tasks = 0\n",
    )
    .unwrap();
    let junit = dir.path().join("gate.xml");
    let analysis = runs.join("analysis.json");
    let analysis_arg = analysis.to_str().unwrap();
    let gate = run(
        analyze,
        &[
            "gate",
            "--slo",
            lenient.to_str().unwrap(),
            "--analysis",
            analysis_arg,
            "--baseline",
            analysis_arg,
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert!(gate.status.success(), "{}", text(&gate));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"0\"") && xml.contains("against baseline"),
        "{xml}"
    );
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, "p95 = \"1ms\"\n").unwrap();
    let gate = run(
        analyze,
        &[
            "gate",
            "--slo",
            strict.to_str().unwrap(),
            "--analysis",
            analysis_arg,
        ],
    );
    assert_eq!(gate.status.code(), Some(1), "{}", text(&gate));
    assert!(String::from_utf8_lossy(&gate.stdout).contains("FAIL"));
}

/// The course's report from a plain smoke run, in both languages: not one word of the other
/// language and no number with the other language's decimal separator (issue 16).
#[test]
fn a_smoke_runs_report_speaks_one_language() {
    let Some(loadgen) = loadgen_beside_a_stack() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    // The smoke profile (5 users for 1 min) at a tenth: 6 s against the default local stack.
    let smoke = run(
        &loadgen,
        &[
            "run",
            "scenario1",
            "--profile",
            "smoke",
            "--time-scale",
            "0.1",
            "--out",
            runs.to_str().unwrap(),
        ],
    );
    assert!(smoke.status.success(), "{}", text(&smoke));
    let analyze = Path::new(env!("CARGO_BIN_EXE_analyze"));
    let out = run(
        analyze,
        &["--runs-dir", runs.to_str().unwrap(), "--since", "1h"],
    );
    assert!(out.status.success(), "{}", text(&out));
    for (lang, file) in [
        (reports::Lang::Es, "pruebas_de_carga_entrega4.md"),
        (reports::Lang::En, "capacity-report.md"),
    ] {
        let report_dir = dir.path().join(lang.code());
        let report = run(
            analyze,
            &[
                "report",
                "--analysis",
                runs.join("analysis.json").to_str().unwrap(),
                "--out",
                report_dir.to_str().unwrap(),
                "--lang",
                lang.code(),
            ],
        );
        assert!(report.status.success(), "{}", text(&report));
        let markdown = std::fs::read_to_string(report_dir.join(file)).unwrap();
        assert_eq!(
            reports::lang::foreign_words(&markdown, lang),
            Vec::<String>::new(),
            "{file}:\n{markdown}"
        );
        assert_eq!(
            reports::lang::misplaced_decimals(&markdown, lang),
            Vec::<String>::new(),
            "{file}:\n{markdown}"
        );
    }
}
