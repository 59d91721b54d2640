//! The video worker: takes processing tasks from the queue, N at a time, renders each video
//! with ffmpeg, stores the result, marks the video processed, and only then acknowledges the
//! task.
//!
//! Delivery is at least once, so [`Worker::handle`] is idempotent: the result has one
//! deterministic key per video and the database records the first completion only. While a
//! task runs its lease is extended (half the visibility timeout); if the worker dies the
//! lease lapses and the task is delivered again. A failed task is released after the retry
//! delay and, once received `max_receives` times, moves to the dead-letter queue.
//!
//! A worker that dies cannot record anything, so others record it for it: the next delivery
//! of the task closes the dead worker's `task_runs` row as `worker_lost`, and when the last
//! delivery's worker died too, the dead-letter sweep ([`Worker::sweep_dead_letters`]) marks
//! the video failed and closes the row. Otherwise such a video would stay "processing".

mod logo;
pub mod pipeline;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use logo::pam as logo_pam;
pub use pipeline::{Pipeline, PipelineError};

use crate::Backends;
use crate::config::Settings;
use crate::queue::{Delivery, TaskMessage};

/// How long one receive call waits for work (long polling).
const POLL_WAIT: Duration = Duration::from_secs(2);
/// How often the worker looks for new dead letters: a dead-lettered video shows "failed"
/// within about this long (on SQS, one ReceiveMessage on the DLQ per worker each time).
const DEAD_LETTER_SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How long one worker holds a dead letter it is recording; another takes it after this if
/// it dies meanwhile.
const DEAD_LETTER_LEASE: Duration = Duration::from_secs(60);
/// At most this many dead letters per sweep (ten per receive), so a backlog of them does not
/// hold one worker's sweep for long; the rest wait for the next sweep.
const DEAD_LETTERS_PER_SWEEP: usize = 100;

/// What happened to one delivery (also what `task_runs` records).
pub use crate::db::RunOutcome as Outcome;

#[derive(Debug)]
pub struct Worker {
    backends: Backends,
    pipeline: Pipeline,
    concurrency: usize,
    retry_delay: Duration,
    max_receives: u32,
    /// This worker's name in `task_runs`.
    instance_id: String,
    /// Where tasks download and render (`$ANB_DATA_DIR/scratch`): local disk, one
    /// directory per task, removed when the task ends.
    scratch: PathBuf,
}

impl Worker {
    /// Checks ffmpeg (exits early with install instructions if it is missing).
    pub async fn new(backends: Backends, settings: &Settings) -> Result<Self, PipelineError> {
        let scratch = settings.data_dir.join("scratch");
        tokio::fs::create_dir_all(&scratch).await?;
        Ok(Self {
            scratch,
            pipeline: Pipeline::new(&settings.worker).await?,
            backends,
            concurrency: settings.worker.concurrency,
            retry_delay: settings.worker.retry_delay,
            max_receives: settings.queue.max_receives,
            instance_id: settings.worker.instance_id.clone(),
        })
    }

    /// Consumes tasks until `shutdown` resolves, then stops receiving and waits for the tasks
    /// in flight to finish.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tracing::info!(concurrency = self.concurrency, "worker started");
        let sweeper = if self.backends.queue.knows_dead_letters() {
            Some(tokio::spawn(Arc::clone(&self).sweep_dead_letters_forever()))
        } else {
            tracing::warn!(
                "ANB_DLQ is not set: videos whose task reaches the dead-letter queue because \
                 its worker died on every delivery will stay \"processing\"; set ANB_DLQ to the \
                 queue's dead-letter queue URL"
            );
            None
        };
        let mut shutdown = std::pin::pin!(shutdown);
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut jobs = JoinSet::new();
        loop {
            while jobs.try_join_next().is_some() {}
            let first = tokio::select! {
                _ = &mut shutdown => break,
                permit = slots.clone().acquire_owned() => permit.context("worker slots closed")?,
            };
            // This loop is the only one that takes slots, so the free count only grows.
            let free = 1 + slots.available_permits();
            let batch = tokio::select! {
                _ = &mut shutdown => break,
                batch = self.backends.queue.receive(free, POLL_WAIT) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot receive from the queue; retrying in 1 s");
                    drop(first);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let mut first = Some(first);
            for delivery in batch {
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => slots
                        .clone()
                        .try_acquire_owned()
                        .context("no free worker slot")?,
                };
                let worker = Arc::clone(&self);
                jobs.spawn(async move {
                    let _slot = permit;
                    worker.handle(&delivery).await
                });
            }
        }
        if let Some(sweeper) = sweeper {
            // Recording a dead letter is idempotent; one cut short comes back after its lease.
            sweeper.abort();
        }
        tracing::info!(
            in_flight = jobs.len(),
            "shutting down: finishing the tasks in flight"
        );
        while jobs.join_next().await.is_some() {}
        tracing::info!("worker stopped");
        Ok(())
    }

    /// Receives one batch and handles it to the end: the one-step function tests call.
    pub async fn poll_once(&self, wait: Duration) -> anyhow::Result<Vec<Outcome>> {
        let batch = self.backends.queue.receive(self.concurrency, wait).await?;
        Ok(futures::future::join_all(batch.iter().map(|d| self.handle(d))).await)
    }

    async fn sweep_dead_letters_forever(self: Arc<Self>) {
        let mut every = tokio::time::interval(DEAD_LETTER_SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.sweep_dead_letters().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot sweep the dead-letter queue; trying again later"
                );
            }
        }
    }

    /// Records the end of the tasks that reached the dead-letter queue since the last sweep:
    /// their videos become "failed" (unless processed) and the runs their dead workers left
    /// open are closed as `worker_lost`. Each dead letter is then settled: kept in the queue,
    /// not handed out again. Returns how many it recorded.
    pub async fn sweep_dead_letters(&self) -> anyhow::Result<usize> {
        let queue = &self.backends.queue;
        let mut recorded = 0;
        while recorded < DEAD_LETTERS_PER_SWEEP {
            let batch = queue
                .receive_dead_letters(10, DEAD_LETTER_LEASE)
                .await
                .context("cannot receive from the dead-letter queue")?;
            let received = batch.len();
            for letter in &batch {
                self.record_dead_letter(letter).await?;
                queue
                    .settle_dead_letter(letter)
                    .await
                    .context("cannot settle a dead letter")?;
                recorded += 1;
            }
            if received < 10 {
                break;
            }
        }
        Ok(recorded)
    }

    async fn record_dead_letter(&self, letter: &Delivery) -> anyhow::Result<()> {
        let Ok(task) = TaskMessage::parse(&letter.body) else {
            tracing::warn!(message_id = %letter.message_id, "a malformed message is in the dead-letter queue; no video to mark");
            return Ok(());
        };
        let db = &self.backends.db;
        let lost = db
            .close_lost_runs(&task.task_id, None)
            .await
            .context("cannot close the task's open runs")?;
        if db
            .mark_failed(task.video_id)
            .await
            .context("cannot mark a dead-lettered task's video failed")?
        {
            tracing::warn!(task_id = %task.task_id, video_id = task.video_id, lost_runs = lost,
                "video failed: its task reached the dead-letter queue (its last worker died or it failed too often)");
        }
        Ok(())
    }

    /// Handles one delivery: process, then acknowledge, or schedule the retry.
    #[tracing::instrument(skip_all, fields(message_id = %delivery.message_id, receive_count = delivery.receive_count))]
    pub async fn handle(&self, delivery: &Delivery) -> Outcome {
        let queue = &self.backends.queue;
        let task = match TaskMessage::parse(&delivery.body) {
            Ok(task) => task,
            Err(e) => {
                tracing::error!(error = %e, "malformed task; it will end in the dead-letter queue");
                self.release_for_retry(delivery).await;
                return Outcome::Failed;
            }
        };
        let run = self.record_start(&task, delivery.receive_count).await;
        let lease = self.keep_leased(delivery.clone());
        let result = self.process(&task).await;
        lease.abort();
        let outcome = result.as_ref().map_or(Outcome::Failed, |o| *o);
        if let Some(run) = run
            && let Err(e) = self.backends.db.finish_task_run(run, outcome).await
        {
            tracing::warn!(task_id = %task.task_id, error = %e, "could not record the end of a task run");
        }

        match result {
            Ok(outcome) => {
                if let Err(e) = queue.ack(delivery).await {
                    // The result is stored; a redelivery will find it done.
                    tracing::warn!(task_id = %task.task_id, error = %e, "could not acknowledge a finished task");
                }
                tracing::info!(task_id = %task.task_id, video_id = task.video_id, ?outcome, "task done");
                outcome
            }
            Err(e) => {
                tracing::error!(task_id = %task.task_id, video_id = task.video_id, error = format!("{e:#}"), "task failed");
                if delivery.receive_count >= self.max_receives
                    && let Err(e) = self.backends.db.mark_failed(task.video_id).await
                {
                    tracing::warn!(error = %e, "could not mark the video failed");
                }
                self.release_for_retry(delivery).await;
                Outcome::Failed
            }
        }
    }

    async fn process(&self, task: &TaskMessage) -> anyhow::Result<Outcome> {
        let db = &self.backends.db;
        let storage = &self.backends.storage;
        if db.start_processing(task.video_id).await?.is_none() {
            return Ok(match db.video(task.video_id).await? {
                None => Outcome::Gone,
                Some(_) => Outcome::AlreadyDone,
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("anb-task-")
            .tempdir_in(&self.scratch)
            .context("cannot create a scratch directory")?;
        let input = scratch.path().join("original.mp4");
        let output = scratch.path().join("processed.mp4");
        storage
            .get_to_file(&task.original_key, &input)
            .await
            .with_context(|| format!("cannot fetch the original {}", task.original_key))?;
        self.pipeline.render(&input, &output).await?;
        let key = format!("processed/{}.mp4", task.video_id);
        storage
            .put_file(&key, &output)
            .await
            .context("cannot store the result")?;
        if db.finish_processing(task.video_id, &key).await? {
            return Ok(Outcome::Processed);
        }
        if db.video(task.video_id).await?.is_none() {
            // Deleted while we worked: do not leave an orphaned result behind.
            storage.delete(&key).await?;
            return Ok(Outcome::Gone);
        }
        Ok(Outcome::AlreadyDone)
    }

    /// Records the start of a delivery in `task_runs`. Tracing must never stop the work, so
    /// a failure is logged and the task goes on unrecorded.
    async fn record_start(&self, task: &TaskMessage, receive_count: u32) -> Option<i64> {
        let start = crate::db::TaskRunStart {
            task_id: &task.task_id,
            video_id: task.video_id,
            worker: &self.instance_id,
            receive_count,
            enqueued_at: task.enqueued_at,
        };
        match self.backends.db.start_task_run(&start).await {
            Ok(id) => {
                // An earlier delivery's run still open means its worker died with the task.
                match self
                    .backends
                    .db
                    .close_lost_runs(&task.task_id, Some(receive_count))
                    .await
                {
                    Ok(0) => {}
                    Ok(lost) => {
                        tracing::warn!(task_id = %task.task_id, lost, "an earlier delivery of this task lost its worker")
                    }
                    Err(e) => {
                        tracing::warn!(task_id = %task.task_id, error = %e, "could not close the runs of lost workers")
                    }
                }
                Some(id)
            }
            Err(e) => {
                tracing::warn!(task_id = %task.task_id, error = %e, "could not record the start of a task run");
                None
            }
        }
    }

    /// Extends the task's lease every half visibility timeout until aborted.
    fn keep_leased(&self, delivery: Delivery) -> tokio::task::JoinHandle<()> {
        let queue = self.backends.queue.clone();
        let timeout = queue.visibility_timeout().max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(timeout / 2).await;
                if let Err(e) = queue.set_visibility(&delivery, timeout).await {
                    tracing::warn!(error = %e, "could not extend a task's lease");
                }
            }
        })
    }

    async fn release_for_retry(&self, delivery: &Delivery) {
        if let Err(e) = self
            .backends
            .queue
            .set_visibility(delivery, self.retry_delay)
            .await
        {
            tracing::warn!(error = %e, "could not schedule the retry; it will come back after the visibility timeout");
        }
    }
}
