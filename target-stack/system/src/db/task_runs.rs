//! The worker's record of each delivery it handled: which task, on which worker, when it
//! started and ended, and how. Scenario 2 reads it to trace enqueue → start → end; the
//! local stack reads each worker's open rows to protect busy workers from scale-in.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Database, DbError};
use crate::clock::now_ms;

/// How a task run ended, as stored in `task_runs.outcome` (the run-directory contract's type).
pub use rundir::TaskOutcome as RunOutcome;

/// A delivery a worker has begun.
#[derive(Debug, Clone)]
pub struct TaskRunStart<'a> {
    pub task_id: &'a str,
    pub video_id: i64,
    pub worker: &'a str,
    pub receive_count: u32,
    /// Epoch ms, from the task message.
    pub enqueued_at: i64,
}

/// One row of `task_runs`, as scenario 2 receives it.
pub type TaskRunRecord = rundir::TaskRun;

impl Database {
    /// Records that a worker began a delivery; returns the run's id for [`Self::finish_task_run`].
    pub async fn start_task_run(&self, run: &TaskRunStart<'_>) -> Result<i64, DbError> {
        let row = sqlx::query(
            "INSERT INTO task_runs (task_id, video_id, worker, receive_count, enqueued_at, started_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(run.task_id)
        .bind(run.video_id)
        .bind(run.worker)
        .bind(i64::from(run.receive_count))
        .bind(run.enqueued_at)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    pub async fn finish_task_run(&self, id: i64, outcome: RunOutcome) -> Result<(), DbError> {
        sqlx::query("UPDATE task_runs SET finished_at = $2, outcome = $3 WHERE id = $1")
            .bind(id)
            .bind(now_ms())
            .bind(outcome.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes the open runs of `task_id` as [`RunOutcome::WorkerLost`], ending now: their
    /// workers died (a later delivery of the task, or the dead-letter queue, says so).
    /// `before_receive` limits it to deliveries received before that count, so that a
    /// duplicate message of the same task that another live worker runs is left alone.
    /// Returns how many it closed.
    pub async fn close_lost_runs(
        &self,
        task_id: &str,
        before_receive: Option<u32>,
    ) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE task_runs SET finished_at = $2, outcome = $3
             WHERE task_id = $1 AND finished_at IS NULL AND receive_count < $4",
        )
        .bind(task_id)
        .bind(now_ms())
        .bind(RunOutcome::WorkerLost.as_str())
        .bind(before_receive.map_or(i64::MAX, i64::from))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Runs started but not finished, per worker: the tasks each worker is busy with (a
    /// worker that died keeps its open rows; callers look only at live workers).
    pub async fn open_task_runs(&self) -> Result<BTreeMap<String, u64>, DbError> {
        let rows = sqlx::query(
            "SELECT worker, COUNT(*) AS open FROM task_runs WHERE finished_at IS NULL GROUP BY worker",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("worker")?, r.try_get::<i64, _>("open")? as u64)))
            .collect()
    }

    /// Every run of the given tasks, in start order.
    pub async fn task_runs_of(&self, task_ids: &[String]) -> Result<Vec<TaskRunRecord>, DbError> {
        let mut runs = Vec::new();
        // Bounded IN lists keep every statement within both backends' parameter limits.
        for chunk in task_ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT task_id, video_id, worker, receive_count, enqueued_at, started_at,
                        finished_at, outcome
                 FROM task_runs WHERE task_id IN ({}) ORDER BY started_at, id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let outcome: Option<String> = row.try_get("outcome")?;
                runs.push(TaskRunRecord {
                    task_id: row.try_get("task_id")?,
                    video_id: row.try_get("video_id")?,
                    worker: row.try_get("worker")?,
                    receive_count: row.try_get::<i64, _>("receive_count")? as u32,
                    enqueued_at: row.try_get("enqueued_at")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    outcome: outcome
                        .as_deref()
                        .map(|text| {
                            RunOutcome::parse(text).ok_or_else(|| {
                                DbError::Corrupt(format!("unknown task outcome {text:?}"))
                            })
                        })
                        .transpose()?,
                });
            }
        }
        runs.sort_by_key(|r| r.started_at);
        Ok(runs)
    }
}
