//! The worker on real videos: the ffmpeg pipeline end to end, idempotence, retries into the
//! dead-letter queue, a worker killed mid-task (once, or on every delivery), and graceful
//! shutdown.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use target_stack::db::{RunOutcome, TaskRunStart};
use target_stack::domain::VideoStatus;
use target_stack::queue::{Delivery, TaskMessage};
use target_stack::worker::{Outcome, Worker};

use crate::helpers::{
    Flavor, Frame, TestApp, TestEnv, fake_mp4, have_ffmpeg, on_both_backends, probe, real_mp4,
};

on_both_backends!(
    processes_a_real_video_into_720p_without_audio_with_bumpers,
    a_task_delivered_twice_produces_one_result,
    a_poison_task_is_retried_then_lands_in_the_dead_letter_queue,
    a_dead_lettered_task_whose_worker_died_fails_its_video_and_closes_its_run,
    a_redelivery_closes_the_run_its_dead_worker_left_open,
    a_task_that_kills_its_worker_on_every_delivery_ends_failed_with_no_open_run,
);

/// Uploads a file through the API; returns the video id.
async fn upload_file(env: &TestEnv, file: &Path) -> i64 {
    let app = TestApp::spawn(env).await;
    let token = app.user("ana@example.com", "Bogotá").await;
    let response = app
        .upload(&token, Some("jugada"), std::fs::read(file).unwrap())
        .await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["video_id"].as_i64().unwrap()
}

async fn processes_a_real_video_into_720p_without_audio_with_bumpers(env: TestEnv) {
    if !have_ffmpeg() {
        return;
    }
    // A 4:3 clip with audio, longer than the (shortened) maximum: trimmed, pillarboxed,
    // silenced, framed by 1 s bumpers.
    let env = TestEnv::with(
        env.flavor,
        &[("ANB_MAX_CLIP_SECS", "3"), ("ANB_BUMPER_SECS", "1")],
    )
    .await
    .unwrap();
    let source = real_mp4(env.dir.path(), 5, "320x240");
    let video_id = upload_file(&env, &source).await;
    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    assert_eq!(
        worker.poll_once(Duration::from_secs(2)).await.unwrap(),
        vec![Outcome::Processed]
    );

    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!(video.status, VideoStatus::Processed);
    assert!(video.processed_at.is_some());
    let key = video.processed_key.unwrap();
    let output = env.dir.path().join("output.mp4");
    env.backends
        .storage
        .get_to_file(&key, &output)
        .await
        .unwrap();
    let out = probe(&output);
    assert_eq!((out.width, out.height), (1280, 720));
    assert!(!out.has_audio, "the audio track must be removed");
    assert_eq!(out.sample_aspect_ratio, "1:1");
    assert!(
        (out.duration - 5.0).abs() < 0.25,
        "3 s clip + 2 × 1 s bumpers, got {}",
        out.duration
    );
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "acknowledged");
}

async fn a_task_delivered_twice_produces_one_result(env: TestEnv) {
    if !have_ffmpeg() {
        return;
    }
    // One at a time, so the second delivery arrives after the first finished. (Concurrent
    // duplicates both render, and still only one result is recorded: see the repository's
    // `repository_records_only_the_first_completion`.)
    let env = TestEnv::with(env.flavor, &[("ANB_WORKER_CONCURRENCY", "1")])
        .await
        .unwrap();
    let source = real_mp4(env.dir.path(), 2, "320x240");
    let video_id = upload_file(&env, &source).await;
    // Deliver the same task again, as SQS may.
    let first = env
        .backends
        .queue
        .receive(1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    env.backends.queue.send(&first.body).await.unwrap();
    env.backends
        .queue
        .set_visibility(&first, Duration::ZERO)
        .await
        .unwrap();

    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        outcomes.extend(worker.poll_once(Duration::from_secs(2)).await.unwrap());
    }
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, vec![Outcome::AlreadyDone, Outcome::Processed]);
    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!(
        video.attempts, 1,
        "the duplicate was recognised before rendering"
    );
    let results = env.backends.storage.list("processed/").await.unwrap();
    assert_eq!(results, vec![format!("processed/{video_id}.mp4")]);
}

async fn a_poison_task_is_retried_then_lands_in_the_dead_letter_queue(env: TestEnv) {
    if !have_ffmpeg() {
        return;
    }
    let env = TestEnv::with(env.flavor, &[("ANB_QUEUE_MAX_RECEIVES", "2")])
        .await
        .unwrap();
    // Passes the signature check, but ffmpeg cannot decode it.
    let garbage = env.dir.path().join("garbage.mp4");
    std::fs::write(&garbage, fake_mp4(50_000)).unwrap();
    let video_id = upload_file(&env, &garbage).await;
    env.backends
        .queue
        .send("{\"not\": \"a task\"}")
        .await
        .unwrap();

    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    for _ in 0..2 {
        let outcomes = worker.poll_once(Duration::from_secs(2)).await.unwrap();
        assert_eq!(outcomes, vec![Outcome::Failed, Outcome::Failed]);
    }
    assert!(
        worker
            .poll_once(Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    let dead = env.backends.queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|b| TaskMessage::parse(b).is_ok_and(|t| t.video_id == video_id))
    );
    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!((video.status, video.attempts), (VideoStatus::Failed, 2));
}

/// A stand-in for ffmpeg: it lists libx264 (what a worker checks at start) and, asked to
/// render, runs `render` (shell). Lives in `dir`.
fn stand_in_ffmpeg(dir: &Path, render: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("ffmpeg");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$*\" in *-encoders*) echo ' V....D libx264 H.264'; exit 0;; esac\n{render}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A render that kills the worker that started it, as the OOM killer or a crash would.
const KILL_THE_WORKER: &str = "kill -KILL $PPID; sleep 30";

/// Uploads a small file that passes the API's checks; returns (video id, task id).
async fn upload_fake(env: &TestEnv) -> (i64, String) {
    let app = TestApp::spawn(env).await;
    let token = app.user("ana@example.com", "Bogotá").await;
    let response = app.upload(&token, Some("jugada"), fake_mp4(10_000)).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    (
        body["video_id"].as_i64().unwrap(),
        body["task_id"].as_str().unwrap().to_string(),
    )
}

/// What a worker killed while rendering `delivery` leaves behind: the video "processing",
/// an open run, and (once its lease lapses, here at once) the task visible again.
async fn die_while_processing(env: &TestEnv, delivery: &Delivery) {
    let task = TaskMessage::parse(&delivery.body).unwrap();
    let db = &env.backends.db;
    db.start_processing(task.video_id).await.unwrap().unwrap();
    db.start_task_run(&TaskRunStart {
        task_id: &task.task_id,
        video_id: task.video_id,
        worker: "i-dead",
        receive_count: delivery.receive_count,
        enqueued_at: task.enqueued_at,
    })
    .await
    .unwrap();
    env.backends
        .queue
        .set_visibility(delivery, Duration::ZERO)
        .await
        .unwrap();
}

async fn a_dead_lettered_task_whose_worker_died_fails_its_video_and_closes_its_run(env: TestEnv) {
    let tools = tempfile::tempdir().unwrap();
    let ffmpeg = stand_in_ffmpeg(tools.path(), KILL_THE_WORKER);
    let env = TestEnv::with(
        env.flavor,
        &[
            ("ANB_QUEUE_MAX_RECEIVES", "1"),
            ("ANB_FFMPEG", ffmpeg.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    let (video_id, task_id) = upload_fake(&env).await;
    let wait = Duration::from_secs(1);
    let last = env.backends.queue.receive(1, wait).await.unwrap().remove(0);
    die_while_processing(&env, &last).await;

    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    assert!(
        worker.poll_once(wait).await.unwrap().is_empty(),
        "received once: the task went to the dead-letter queue"
    );
    assert_eq!(worker.sweep_dead_letters().await.unwrap(), 1);
    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    let runs = env.backends.db.task_runs_of(&[task_id]).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Some(RunOutcome::WorkerLost));
    assert!(
        runs[0]
            .finished_at
            .is_some_and(|end| end >= runs[0].started_at)
    );
    assert!(env.backends.db.open_task_runs().await.unwrap().is_empty());
    // Settled: a later sweep does not take it again, and it stays in the dead-letter queue.
    assert_eq!(worker.sweep_dead_letters().await.unwrap(), 0);
    assert_eq!(
        env.backends.queue.depth().await.unwrap().dead_letter,
        Some(1)
    );
}

async fn a_redelivery_closes_the_run_its_dead_worker_left_open(env: TestEnv) {
    let tools = tempfile::tempdir().unwrap();
    let ffmpeg = stand_in_ffmpeg(tools.path(), "echo 'cannot decode' >&2; exit 1");
    let env = TestEnv::with(
        env.flavor,
        &[
            ("ANB_QUEUE_MAX_RECEIVES", "3"),
            ("ANB_FFMPEG", ffmpeg.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    let (_, task_id) = upload_fake(&env).await;
    let wait = Duration::from_secs(1);
    let first = env.backends.queue.receive(1, wait).await.unwrap().remove(0);
    die_while_processing(&env, &first).await;

    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    assert_eq!(worker.poll_once(wait).await.unwrap(), vec![Outcome::Failed]);
    let runs = env.backends.db.task_runs_of(&[task_id]).await.unwrap();
    let outcomes: Vec<_> = runs.iter().map(|r| (r.receive_count, r.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (1, Some(RunOutcome::WorkerLost)),
            (2, Some(RunOutcome::Failed))
        ]
    );
    assert!(runs.iter().all(|r| r.finished_at.is_some()), "{runs:?}");
}

/// A worker process that is killed if the test ends early (a failed assertion), so that none
/// outlives it holding the test's output open.
struct Reaped(Option<Child>);

impl Reaped {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("a running worker")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The real binary, killed by its "ffmpeg" on each delivery: after the last one, the next
/// worker finds the task in the dead-letter queue and records the failure.
async fn a_task_that_kills_its_worker_on_every_delivery_ends_failed_with_no_open_run(env: TestEnv) {
    let tools = tempfile::tempdir().unwrap();
    let ffmpeg = stand_in_ffmpeg(tools.path(), KILL_THE_WORKER);
    let env = TestEnv::with(
        env.flavor,
        &[
            ("ANB_QUEUE_MAX_RECEIVES", "2"),
            ("ANB_QUEUE_VISIBILITY_SECS", "1"),
            ("ANB_WORKER_CONCURRENCY", "1"),
            ("ANB_FFMPEG", ffmpeg.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    let (video_id, task_id) = upload_fake(&env).await;
    let limit = Duration::from_secs(90);
    let started = Instant::now();
    let mut deaths = 0;
    'workers: loop {
        let mut worker = Reaped(Some(spawn_worker(&env)));
        loop {
            if let Some(exit) = worker.child().try_wait().unwrap() {
                assert!(!exit.success(), "killed, got {exit}");
                deaths += 1;
                break;
            }
            let video = env.backends.db.video(video_id).await.unwrap().unwrap();
            if video.status == VideoStatus::Failed {
                stop_gracefully(worker.0.take().unwrap()).await;
                break 'workers;
            }
            assert!(
                started.elapsed() < limit,
                "video still {:?} after {limit:?} and {deaths} dead workers",
                video.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(deaths, 2, "one dead worker per delivery");
    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!(video.attempts, 2);
    let runs = env.backends.db.task_runs_of(&[task_id]).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        assert_eq!(run.outcome, Some(RunOutcome::WorkerLost), "{run:?}");
        assert!(run.finished_at.is_some(), "{run:?}");
    }
    assert!(env.backends.db.open_task_runs().await.unwrap().is_empty());
    assert_eq!(
        env.backends.queue.depth().await.unwrap().dead_letter,
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_pipeline_trims_to_30_s_pillarboxes_watermarks_and_adds_bumpers() {
    if !have_ffmpeg() {
        return;
    }
    let env = TestEnv::new(Flavor::Embedded).await.unwrap();
    let source = real_mp4(env.dir.path(), 35, "320x240");
    let video_id = upload_file(&env, &source).await;
    let worker = Worker::new(env.backends.clone(), &env.settings)
        .await
        .unwrap();
    assert_eq!(
        worker.poll_once(Duration::from_secs(2)).await.unwrap(),
        vec![Outcome::Processed]
    );
    let output = env.dir.path().join("output.mp4");
    let key = format!("processed/{video_id}.mp4");
    env.backends
        .storage
        .get_to_file(&key, &output)
        .await
        .unwrap();

    let out = probe(&output);
    assert!(
        (out.duration - 35.0).abs() < 0.25,
        "30 s + 2 × 2.5 s, got {}",
        out.duration
    );
    assert!(!out.has_audio);
    // In the clip, a 4:3 picture in a 16:9 frame: black bars 160 px wide on both sides,
    // and the watermark drawn in the right bar, near the bottom.
    let clip = Frame::at(&output, 10.0);
    assert!(clip.max_luma(0..150, 0..720) < 30, "left pillarbox bar");
    assert!(
        clip.max_luma(1130..1256, 24..90) < 30,
        "right bar, above the watermark"
    );
    assert!(
        clip.max_luma(1130..1256, 630..696) > 200,
        "the watermark's letters"
    );
    // In the intro, the logo's white letters on the bumper's dark background.
    let intro = Frame::at(&output, 1.0);
    assert!(intro.max_luma(0..400, 0..200) < 60, "bumper background");
    assert!(
        intro.max_luma(440..840, 260..460) > 200,
        "the logo in the middle"
    );
}

fn spawn_worker(env: &TestEnv) -> Child {
    Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env.vars)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the worker binary")
}

/// Uploads a real clip of `seconds`, starts a worker process, and returns once the worker
/// is rendering it.
async fn worker_busy_with_a_clip(env: &TestEnv, seconds: u32) -> (Child, i64) {
    let source = real_mp4(env.dir.path(), seconds, "640x360");
    let video_id = upload_file(env, &source).await;
    let worker = spawn_worker(env);
    wait_for_status(
        env,
        video_id,
        VideoStatus::Processing,
        Duration::from_secs(30),
    )
    .await;
    (worker, video_id)
}

/// SIGTERM, then waits for a clean exit.
async fn stop_gracefully(mut worker: Child) {
    let pid = worker.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit}");
}

async fn wait_for_status(env: &TestEnv, video_id: i64, status: VideoStatus, limit: Duration) {
    let started = Instant::now();
    loop {
        let video = env.backends.db.video(video_id).await.unwrap().unwrap();
        if video.status == status {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "video {video_id} still {:?} after {limit:?}",
            video.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ffmpeg processes working in this test's data directory (the worker's scratch space).
fn encoders_of(env: &TestEnv) -> usize {
    let scratch = env.dir.path().join("scratch").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|cmd| String::from_utf8_lossy(&cmd).replace('\0', " "))
        .filter(|cmd| cmd.contains("ffmpeg") && cmd.contains(&scratch))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_task_is_delivered_again_and_processed_once() {
    if !have_ffmpeg() {
        return;
    }
    let env = TestEnv::with(
        Flavor::Embedded,
        &[
            ("ANB_QUEUE_VISIBILITY_SECS", "2"),
            ("ANB_WORKER_CONCURRENCY", "1"),
        ],
    )
    .await
    .unwrap();
    let (mut doomed, video_id) = worker_busy_with_a_clip(&env, 12).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.kill().unwrap(); // SIGKILL: no chance to finish or clean up.
    doomed.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(encoders_of(&env), 0, "ffmpeg must die with its worker");
    assert_eq!(
        env.backends
            .db
            .video(video_id)
            .await
            .unwrap()
            .unwrap()
            .processed_key,
        None
    );

    // The lease lapses after the visibility timeout and a new worker gets the task.
    let survivor = spawn_worker(&env);
    wait_for_status(
        &env,
        video_id,
        VideoStatus::Processed,
        Duration::from_secs(90),
    )
    .await;
    // Stopped gracefully: it acknowledges the task it finished (ack follows the record).
    stop_gracefully(survivor).await;

    let video = env.backends.db.video(video_id).await.unwrap().unwrap();
    assert_eq!(video.attempts, 2, "delivered twice");
    let results = env.backends.storage.list("processed/").await.unwrap();
    assert_eq!(
        results,
        vec![format!("processed/{video_id}.mp4")],
        "one result"
    );
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight, depth.dead_letter),
        (0, 0, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_taking_tasks_and_finishes_the_one_in_flight() {
    if !have_ffmpeg() {
        return;
    }
    let env = TestEnv::with(Flavor::Embedded, &[("ANB_WORKER_CONCURRENCY", "1")])
        .await
        .unwrap();
    let (worker, first) = worker_busy_with_a_clip(&env, 6).await;
    // Queued after the worker is busy: it must not be taken once SIGTERM arrives.
    let app = TestApp::spawn(&env).await;
    let token = app.user("eva@example.com", "Cali").await;
    let second = app.upload(&token, Some("segundo"), fake_mp4(10_000)).await;
    assert_eq!(second.status(), 201);

    stop_gracefully(worker).await;
    let done = env.backends.db.video(first).await.unwrap().unwrap();
    assert_eq!(
        done.status,
        VideoStatus::Processed,
        "the task in flight was finished"
    );
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!(
        depth.visible, 1,
        "the queued task was left for another worker"
    );
}

#[tokio::test]
async fn a_worker_without_ffmpeg_exits_at_start_saying_how_to_install_it() {
    let env = TestEnv::with(Flavor::Embedded, &[("ANB_FFMPEG", "/nonexistent/ffmpeg")])
        .await
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("worker")
        .env_clear()
        .envs(&env.vars)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install ffmpeg"), "{stderr}");
    assert!(stderr.contains("ANB_FFMPEG"), "{stderr}");
}

/// `target-stack render` is the worker's pipeline on one file, and `--print-command` the
/// ffmpeg command it runs (what the P5 benchmark times bare): both make the same video.
#[test]
fn render_and_its_printed_command_make_the_workers_video() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = real_mp4(dir.path(), 4, "320x240");
    let binary = env!("CARGO_BIN_EXE_target-stack");
    let rendered = dir.path().join("rendered.mp4");
    let out = Command::new(binary)
        .arg("render")
        .arg(&source)
        .arg(&rendered)
        .env("ANB_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rendered"));

    let bare = dir.path().join("bare.mp4");
    let printed = Command::new(binary)
        .arg("render")
        .arg(&source)
        .arg(&bare)
        .arg("--print-command")
        .env("ANB_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(printed.status.success());
    let command = String::from_utf8(printed.stdout).unwrap();
    assert!(command.starts_with("'ffmpeg'"), "{command}");
    let ran = Command::new("bash")
        .arg("-c")
        .arg(&command)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );

    let (a, b) = (probe(&rendered), probe(&bare));
    assert!(
        (a.duration - b.duration).abs() < 0.05,
        "{} vs {}",
        a.duration,
        b.duration
    );
    assert!(
        (a.duration - 9.0).abs() < 0.25,
        "4 s + 2 × 2.5 s, got {}",
        a.duration
    );
}
