//! `target-stack inject`, scenario 2's driver: the real binary, spoken to in JSON lines as
//! loadgen does, queues tasks on the flavour's queue (the local queue, or SQS on moto) with
//! the video in its storage (a directory, or S3), and reports the workers' task runs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rundir::{InjectReply, InjectRequest, TaskOutcome};
use target_stack::worker::{Outcome, Worker};

use crate::helpers::{TestEnv, have_ffmpeg, on_both_backends};

on_both_backends!(injected_tasks_are_processed_and_traced);

async fn injected_tasks_are_processed_and_traced(env: TestEnv) {
    if !have_ffmpeg() {
        return;
    }
    let env = TestEnv::with(
        env.flavor,
        &[
            ("ANB_BUMPER_SECS", "0"),
            ("ANB_INSTANCE_ID", "i-test-worker"),
        ],
    )
    .await
    .unwrap();
    let mut driver = Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("inject")
        .arg("--cache")
        .arg(env.dir.path().join("cache"))
        .envs(&env.vars)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = driver.stdin.take().unwrap();
    let mut output = BufReader::new(driver.stdout.take().unwrap());
    let mut ask = |request: InjectRequest| -> InjectReply {
        writeln!(input, "{}", serde_json::to_string(&request).unwrap()).unwrap();
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };

    let refused = ask(InjectRequest::Enqueue { count: 1 });
    assert!(
        matches!(&refused, InjectReply::Error { message } if message.contains("prepare")),
        "{refused:?}"
    );
    let InjectReply::Prepared { bytes, .. } = ask(InjectRequest::Prepare {
        size_bytes: 250_000,
    }) else {
        panic!("no video prepared")
    };
    assert!(
        (bytes as f64 - 250_000.0).abs() / 250_000.0 < 0.1,
        "a 250 kB video by bitrate × duration, got {bytes}"
    );
    let InjectReply::Enqueued { tasks } = ask(InjectRequest::Enqueue { count: 2 }) else {
        panic!("nothing queued")
    };
    assert_eq!(tasks.len(), 2);
    let InjectReply::Depth { counts } = ask(InjectRequest::Depth) else {
        panic!("no depth")
    };
    assert_eq!(counts.visible + counts.in_flight, 2, "{counts:?}");

    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        outcomes.extend(worker.poll_once(Duration::from_secs(5)).await.unwrap());
    }
    assert_eq!(outcomes, vec![Outcome::Processed; 2]);

    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
    let InjectReply::Runs { runs } = ask(InjectRequest::Runs {
        task_ids: ids.clone(),
    }) else {
        panic!("no runs")
    };
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        let task = tasks.iter().find(|t| t.task_id == run.task_id).unwrap();
        assert_eq!(run.worker, "i-test-worker");
        assert_eq!(run.outcome, Some(TaskOutcome::Processed));
        assert!(run.enqueued_at <= run.started_at);
        assert!(run.finished_at.unwrap() >= run.started_at);
        assert_eq!(run.enqueued_at, task.enqueued_at);
    }
    drop(input);
    assert!(
        driver.wait().unwrap().success(),
        "the driver ends with its input"
    );
}
