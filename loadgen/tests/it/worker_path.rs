//! Scenario 2 end to end: a small matrix against the real local stack (tiny videos, no
//! bumpers, steps of seconds), and what its run directories must show.

use std::path::{Path, PathBuf};
use std::process::Command;

use rundir::{RunDir, TaskStatus, WorkerSummary};

use crate::helpers::{exclusive_blocking, in_ci, text};
use crate::runs::target_stack_is_built;

fn have_ffmpeg() -> bool {
    let found = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if in_ci() {
            panic!("CI=true but ffmpeg is missing (apt-get install ffmpeg)");
        }
        eprintln!("\n*** SKIPPED: ffmpeg is not installed; the worker needs it ***\n");
    }
    found
}

fn cell_dir(out: &Path, label: &str) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with(label))
        .unwrap_or_else(|| panic!("no run directory for {label} in {}", out.display()))
}

/// The cell's summary, after checking that tasks.csv accounts for every task.
fn accounted(dir: &Path) -> WorkerSummary {
    let run = RunDir::open(dir).unwrap();
    let summary = run.read_summary().unwrap();
    let worker = summary.worker.expect("a scenario 2 summary");
    let rows = rundir::read_tasks(std::io::BufReader::new(
        std::fs::File::open(run.tasks_path()).unwrap(),
    ))
    .unwrap();
    assert_eq!(rows.len() as u64, worker.enqueued);
    assert_eq!(
        worker.enqueued,
        worker.processed + worker.failed + worker.unfinished,
        "nothing lost: {worker:?}"
    );
    let processed: Vec<_> = rows
        .iter()
        .filter(|r| r.status == TaskStatus::Processed)
        .collect();
    assert_eq!(processed.len() as u64, worker.processed);
    for row in processed {
        let (started, finished) = (row.started_at.unwrap(), row.finished_at.unwrap());
        assert!(row.enqueued_at <= started && started <= finished, "{row:?}");
        assert!(row.worker.starts_with("i-local-"), "{row:?}");
    }
    let queue = std::fs::read_to_string(dir.join("queue.csv")).unwrap();
    let queue = rundir::read_queue(queue.as_bytes()).unwrap();
    assert!(queue.len() > 3, "{queue:?}");
    assert!(
        queue
            .windows(2)
            .all(|w| w[0].finished <= w[1].finished && w[0].at < w[1].at)
    );
    assert!(queue.last().unwrap().finished <= worker.enqueued);
    assert!(
        queue
            .iter()
            .all(|row| row.step.is_some() && row.injecting.is_some())
    );
    worker
}

#[test]
fn a_small_matrix_accounts_for_every_task_obeys_little_and_finds_saturation() {
    if !target_stack_is_built() || !have_ffmpeg() {
        return;
    }
    let _turn = exclusive_blocking();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            "scenario2",
            "--matrix",
            "--size",
            "300KB",
            "--concurrency",
            "1,2",
            "--mode",
            "sustained,saturation",
            "--tasks",
            "4",
            "--step",
            "8s",
            "--steps",
            "4",
            "--drain-timeout",
            "90s",
            "--out",
        ])
        .arg(out.path())
        // Short tasks: no bumpers; the generated videos are cached in the temp dir.
        .env("ANB_BUMPER_SECS", "0")
        .env("XDG_CACHE_HOME", out.path().join("cache"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("videos/min"), "{stdout}");
    let index = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("scenario2-matrix-")
        })
        .expect("a matrix index");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.path()).unwrap()).unwrap();
    assert_eq!(index["cells"].as_array().unwrap().len(), 4);

    for concurrency in [1, 2] {
        let sustained = accounted(&cell_dir(
            out.path(),
            &format!("300KB-c{concurrency}-sustained"),
        ));
        assert_eq!((sustained.processed, sustained.unfinished), (4, 0));
        assert!(sustained.videos_per_minute > 0.0 && sustained.service_us.mean > 0.0);
        // Little's law: the queue's own counts against X × (W + S) from the task times.
        // 35%: one-second samples of a few-second run of 4 tasks.
        let discrepancy = (sustained.mean_in_system - sustained.little_in_system).abs()
            / sustained.little_in_system;
        assert!(
            discrepancy < 0.35,
            "L = {} but X·(W+S) = {} (c{concurrency})",
            sustained.mean_in_system,
            sustained.little_in_system
        );
        assert!(!sustained.queue_verdict.is_growing());

        let saturation = accounted(&cell_dir(
            out.path(),
            &format!("300KB-c{concurrency}-saturation"),
        ));
        assert_eq!(saturation.steps.len(), 4);
        // The staircase starts at half the sustained X and ends at twice it.
        let (first, last) = (&saturation.steps[0], &saturation.steps[3]);
        assert!((first.rate_per_minute - sustained.videos_per_minute / 2.0).abs() < 1e-6);
        assert!(last.rate_per_minute > sustained.videos_per_minute);
        assert!(!first.queue_verdict.is_growing(), "{saturation:?}");
        assert!(
            saturation
                .steps
                .iter()
                .any(|s| s.queue_verdict.is_growing()
                    && s.rate_per_minute > sustained.videos_per_minute),
            "arrivals above the measured capacity make the queue grow: {saturation:?}"
        );
    }
}
