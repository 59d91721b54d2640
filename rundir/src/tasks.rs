//! Scenario 2's tasks: `tasks.csv` (one row per video task: enqueue → start → end), and the
//! line protocol between loadgen and `target-stack inject`, which queues tasks on the
//! target's own queue and reports what its workers did with them.
//!
//! The protocol is JSON, one object per line each way: loadgen writes an [`InjectRequest`],
//! target-stack answers with one [`InjectReply`]. Keeping it here lets loadgen drive the
//! target's queue without linking the target's server code.

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::RunDirError;
use crate::layout::TASKS_FILE;

/// How one delivery of a task ended, as the worker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// Rendered, stored, marked processed, acknowledged.
    Processed,
    /// Another delivery of the same task had already finished it; acknowledged.
    AlreadyDone,
    /// The video was deleted while its task waited; acknowledged.
    Gone,
    /// Processing failed; the task will be delivered again after the retry delay, or go to
    /// the dead-letter queue when it has been received too often.
    Failed,
    /// The worker died during the delivery (killed, crashed, lost its lease): recorded by
    /// whoever saw the task next, a later delivery or the dead-letter sweep, with the time
    /// it noticed as the end.
    WorkerLost,
}

impl TaskOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::AlreadyDone => "already_done",
            Self::Gone => "gone",
            Self::Failed => "failed",
            Self::WorkerLost => "worker_lost",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "processed" => Self::Processed,
            "already_done" => Self::AlreadyDone,
            "gone" => Self::Gone,
            "failed" => Self::Failed,
            "worker_lost" => Self::WorkerLost,
            _ => return None,
        })
    }
}

/// A task put on the queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedTask {
    pub task_id: String,
    pub video_id: i64,
    /// Epoch milliseconds.
    pub enqueued_at: i64,
    pub bytes: u64,
}

/// One delivery a worker handled. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskRun {
    pub task_id: String,
    pub video_id: i64,
    pub worker: String,
    pub receive_count: u32,
    pub enqueued_at: i64,
    pub started_at: i64,
    /// None while the task runs (or when its worker died running it).
    pub finished_at: Option<i64>,
    pub outcome: Option<TaskOutcome>,
}

/// The queue's approximate attributes, as SQS reports them: what the application's queue
/// (local or SQS) reads and the local stack turns into CloudWatch's queue metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to be received (ApproximateNumberOfMessages).
    pub visible: u64,
    /// Received and not yet deleted (ApproximateNumberOfMessagesNotVisible).
    pub in_flight: u64,
    /// In the dead-letter queue (None when the DLQ is unknown).
    pub dead_letter: Option<u64>,
    /// Age of the oldest message not yet deleted (ApproximateAgeOfOldestMessage); None when
    /// the queue is empty or, on SQS, where only CloudWatch reports it.
    pub oldest_age: Option<std::time::Duration>,
    /// Messages deleted since the queue was created, a counter whose per-second difference
    /// is NumberOfMessagesDeleted; None on SQS (CloudWatch only).
    pub deleted_total: Option<u64>,
}

impl QueueDepth {
    /// The counts `target-stack inject` reports to loadgen.
    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            visible: self.visible,
            in_flight: self.in_flight,
            oldest_age_secs: self.oldest_age.map(|age| age.as_secs_f64()),
        }
    }
}

/// The queue's counts, as SQS approximates them.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub oldest_age_secs: Option<f64>,
}

/// What loadgen asks `target-stack inject`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InjectRequest {
    /// Store a video of about this size (generated once, cached) for the tasks to come.
    Prepare { size_bytes: u64 },
    /// Queue this many tasks for the prepared video.
    Enqueue { count: u64 },
    /// The queue's counts now.
    Depth,
    /// Every delivery of these tasks the workers recorded.
    Runs { task_ids: Vec<String> },
}

/// `target-stack inject`'s answer to one request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum InjectReply {
    Prepared { key: String, bytes: u64 },
    Enqueued { tasks: Vec<QueuedTask> },
    Depth { counts: QueueCounts },
    Runs { runs: Vec<TaskRun> },
    Error { message: String },
}

/// Where a task stood at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Never started.
    Queued,
    /// Started, not finished (or its worker died on it and it waits for redelivery).
    Running,
    Processed,
    /// The last delivery failed.
    Failed,
    /// Its video was deleted before it ran.
    Gone,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Gone => "gone",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "processed" => Self::Processed,
            "failed" => Self::Failed,
            "gone" => Self::Gone,
            _ => return None,
        })
    }
}

/// One row of `tasks.csv`: a task from enqueue to end. Times are UTC, to the millisecond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TasksRow {
    pub task_id: String,
    pub size_bytes: u64,
    pub enqueued_at: OffsetDateTime,
    /// The start of the delivery that finished it (or of the last one).
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub status: TaskStatus,
    /// The worker instance that ran it last (empty when it never started).
    pub worker: String,
    /// Deliveries the task took (0 when it never started).
    pub attempts: u32,
}

impl TasksRow {
    /// The row for a task from the deliveries recorded for it (any order).
    pub fn from_runs(task: &QueuedTask, runs: &[&TaskRun]) -> Self {
        let last = runs
            .iter()
            .max_by_key(|r| (r.started_at, r.receive_count))
            .copied();
        let finishing = runs
            .iter()
            .filter(|r| r.outcome == Some(TaskOutcome::Processed))
            .min_by_key(|r| r.finished_at)
            .copied()
            .or(last);
        let status = match finishing.map(|r| r.outcome) {
            None => TaskStatus::Queued,
            Some(None) => TaskStatus::Running,
            Some(Some(TaskOutcome::Processed | TaskOutcome::AlreadyDone)) => TaskStatus::Processed,
            Some(Some(TaskOutcome::Failed | TaskOutcome::WorkerLost)) => TaskStatus::Failed,
            Some(Some(TaskOutcome::Gone)) => TaskStatus::Gone,
        };
        Self {
            task_id: task.task_id.clone(),
            size_bytes: task.bytes,
            enqueued_at: from_epoch_ms(task.enqueued_at),
            started_at: finishing.map(|r| from_epoch_ms(r.started_at)),
            finished_at: finishing.and_then(|r| r.finished_at).map(from_epoch_ms),
            status,
            worker: finishing.map(|r| r.worker.clone()).unwrap_or_default(),
            attempts: runs.len() as u32,
        }
    }

    /// Queue wait: enqueue → start.
    pub fn wait(&self) -> Option<time::Duration> {
        Some(self.started_at? - self.enqueued_at)
    }

    /// Service time: start → end.
    pub fn service(&self) -> Option<time::Duration> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// Epoch milliseconds as a UTC time (the epoch itself for out-of-range values).
pub fn from_epoch_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The header line of `tasks.csv`, without the line break.
pub const TASKS_HEADER: &str =
    "task_id,size_bytes,enqueued_at,started_at,finished_at,status,worker,attempts";

fn format_time(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Writes `tasks.csv` (header first). Ids and worker names never need quoting: ones with a
/// comma, quote or line break are refused.
pub fn write_tasks(mut out: impl Write, rows: &[TasksRow]) -> Result<(), RunDirError> {
    let io = |e| RunDirError::io(TASKS_FILE, "write", e);
    let mut text = format!("{TASKS_HEADER}\n");
    for row in rows {
        for (what, value) in [("task id", &row.task_id), ("worker name", &row.worker)] {
            if value.contains([',', '"', '\n', '\r']) {
                return Err(RunDirError::Unwritable {
                    path: TASKS_FILE.into(),
                    what,
                    value: value.clone(),
                    reason: "commas, quotes and line breaks cannot be written".into(),
                });
            }
        }
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{}",
            row.task_id,
            row.size_bytes,
            format_time(Some(row.enqueued_at)),
            format_time(row.started_at),
            format_time(row.finished_at),
            row.status.as_str(),
            row.worker,
            row.attempts
        );
    }
    out.write_all(text.as_bytes()).map_err(io)?;
    out.flush().map_err(io)
}

/// Reads `tasks.csv`; a malformed line is reported with its number and column.
pub fn read_tasks(input: impl BufRead) -> Result<Vec<TasksRow>, RunDirError> {
    let malformed = |line: usize, column: &str, message: String| {
        RunDirError::malformed(TASKS_FILE, Some(line), Some(column), message)
    };
    let mut rows = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| RunDirError::io(TASKS_FILE, "read", e))?;
        if index == 0 {
            if line.trim() != TASKS_HEADER {
                return Err(malformed(
                    1,
                    "header",
                    format!("expected the header {TASKS_HEADER:?}"),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 8 {
            return Err(malformed(
                number,
                "line",
                format!("expected 8 fields, found {}", fields.len()),
            ));
        }
        let time = |column: &str, text: &str| -> Result<Option<OffsetDateTime>, RunDirError> {
            if text.is_empty() {
                return Ok(None);
            }
            OffsetDateTime::parse(text, &Rfc3339)
                .map(Some)
                .map_err(|e| malformed(number, column, format!("{text:?} is not RFC 3339: {e}")))
        };
        rows.push(TasksRow {
            task_id: fields[0].to_string(),
            size_bytes: fields[1].parse().map_err(|_| {
                malformed(
                    number,
                    "size_bytes",
                    format!("{:?} is not a size", fields[1]),
                )
            })?,
            enqueued_at: time("enqueued_at", fields[2])?.ok_or_else(|| {
                malformed(
                    number,
                    "enqueued_at",
                    "every task has an enqueue time".into(),
                )
            })?,
            started_at: time("started_at", fields[3])?,
            finished_at: time("finished_at", fields[4])?,
            status: TaskStatus::parse(fields[5]).ok_or_else(|| {
                malformed(number, "status", format!("unknown status {:?}", fields[5]))
            })?,
            worker: fields[6].to_string(),
            attempts: fields[7].parse().map_err(|_| {
                malformed(
                    number,
                    "attempts",
                    format!("{:?} is not a count", fields[7]),
                )
            })?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> QueuedTask {
        QueuedTask {
            task_id: "t-1".into(),
            video_id: 7,
            enqueued_at: 1_700_000_000_000,
            bytes: 50_000_000,
        }
    }

    fn run(started: i64, finished: Option<i64>, outcome: Option<TaskOutcome>) -> TaskRun {
        TaskRun {
            task_id: "t-1".into(),
            video_id: 7,
            worker: format!("i-local-{started}"),
            receive_count: 1,
            enqueued_at: 1_700_000_000_000,
            started_at: 1_700_000_000_000 + started,
            finished_at: finished.map(|f| 1_700_000_000_000 + f),
            outcome,
        }
    }

    #[test]
    fn a_retried_task_is_timed_by_the_delivery_that_finished_it() {
        let failed = run(100, Some(900), Some(TaskOutcome::Failed));
        let done = run(2_000, Some(5_000), Some(TaskOutcome::Processed));
        let row = TasksRow::from_runs(&task(), &[&done, &failed]);
        assert_eq!(row.status, TaskStatus::Processed);
        assert_eq!(row.attempts, 2);
        assert_eq!(row.worker, "i-local-2000");
        assert_eq!(row.wait(), Some(time::Duration::seconds(2)));
        assert_eq!(row.service(), Some(time::Duration::seconds(3)));
    }

    #[test]
    fn tasks_without_an_end_are_queued_or_running() {
        assert_eq!(TasksRow::from_runs(&task(), &[]).status, TaskStatus::Queued);
        let running = run(100, None, None);
        let row = TasksRow::from_runs(&task(), &[&running]);
        assert_eq!((row.status, row.service()), (TaskStatus::Running, None));
    }

    #[test]
    fn tasks_csv_round_trips_and_reports_bad_lines() {
        let done = run(2_000, Some(5_000), Some(TaskOutcome::Processed));
        let rows = vec![
            TasksRow::from_runs(&task(), &[&done]),
            TasksRow::from_runs(&task(), &[]),
        ];
        let mut out = Vec::new();
        write_tasks(&mut out, &rows).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(",processed,i-local-2000,1\n"), "{text}");
        assert_eq!(read_tasks(&out[..]).unwrap(), rows);
        let broken = text.replace("processed", "exploded");
        let err = read_tasks(broken.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("exploded"), "{err}");
    }

    #[test]
    fn the_protocol_is_tagged_json_lines() {
        let request = InjectRequest::Enqueue { count: 3 };
        let line = serde_json::to_string(&request).unwrap();
        assert_eq!(line, r#"{"op":"enqueue","count":3}"#);
        let reply: InjectReply =
            serde_json::from_str(r#"{"reply":"error","message":"no payload prepared"}"#).unwrap();
        assert_eq!(
            reply,
            InjectReply::Error {
                message: "no payload prepared".into()
            }
        );
    }
}
