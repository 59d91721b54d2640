//! The task queue between the API and the workers, with SQS semantics on both backends:
//! at-least-once delivery, a visibility timeout during which a received task is hidden
//! from other workers, a receive count, and a dead-letter queue for tasks received too
//! often.
//!
//! [`TaskQueue`] is an enum rather than a trait object: two backends, chosen once from the
//! settings, and callers never need to know which.

mod local;
mod message;
pub mod sqs;

use std::time::Duration;

pub use local::LocalQueue;
pub use message::TaskMessage;
pub use sqs::SqsQueue;

use crate::config::{AwsSettings, QueueLocation, QueueSettings};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("local queue error: {0}")]
    Local(#[from] sqlx::Error),
    #[error("SQS error: {0}")]
    Sqs(String),
}

/// One received message. The receipt handle identifies this delivery (not the message):
/// acknowledging or extending with a stale handle does nothing, as in SQS.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

/// The queue's attributes, one definition shared with the local stack and loadgen.
pub use rundir::QueueDepth;

#[derive(Debug, Clone)]
pub enum TaskQueue {
    Local(LocalQueue),
    Sqs(SqsQueue),
}

impl TaskQueue {
    pub async fn open(settings: &QueueSettings, aws: &AwsSettings) -> Result<Self, QueueError> {
        match &settings.location {
            QueueLocation::Local(path) => Ok(Self::Local(
                LocalQueue::open(path, settings.visibility_timeout, settings.max_receives).await?,
            )),
            QueueLocation::Sqs { queue_url, dlq_url } => Ok(Self::Sqs(SqsQueue::with_client(
                sqs::client(aws).await,
                queue_url,
                dlq_url.as_deref(),
                settings.visibility_timeout,
            ))),
        }
    }

    pub async fn send(&self, body: &str) -> Result<String, QueueError> {
        match self {
            Self::Local(q) => q.send(body).await,
            Self::Sqs(q) => q.send(body).await,
        }
    }

    /// Sends many messages at once (SendMessageBatch on SQS, one transaction locally); returns
    /// their ids in order.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<Vec<String>, QueueError> {
        match self {
            Self::Local(q) => q.send_batch(bodies).await,
            Self::Sqs(q) => q.send_batch(bodies).await,
        }
    }

    /// Receives up to `max` messages, waiting up to `wait` for the first one (long polling).
    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        match self {
            Self::Local(q) => q.receive(max, wait).await,
            Self::Sqs(q) => q.receive(max, wait).await,
        }
    }

    /// Deletes the delivered message: the task is done.
    pub async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        match self {
            Self::Local(q) => q.delete(&delivery.receipt).await,
            Self::Sqs(q) => q.delete(&delivery.receipt).await,
        }
    }

    /// Hides the delivered message for `timeout` from now: extends the lease of a task in
    /// progress, or (with a short timeout) schedules the retry of a failed one.
    pub async fn set_visibility(
        &self,
        delivery: &Delivery,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        match self {
            Self::Local(q) => q.change_visibility(&delivery.receipt, timeout).await,
            Self::Sqs(q) => q.change_visibility(&delivery.receipt, timeout).await,
        }
    }

    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        match self {
            Self::Local(q) => q.depth().await,
            Self::Sqs(q) => q.depth().await,
        }
    }

    /// The bodies of the messages in the dead-letter queue (peeked, not consumed, locally;
    /// received and released again on SQS).
    pub async fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        match self {
            Self::Local(q) => q.dead_letters().await,
            Self::Sqs(q) => q.dead_letters().await,
        }
    }

    /// Hands out up to `max` dead letters not yet settled, each hidden for `lease` so that
    /// one consumer at a time deals with it: the worker's dead-letter sweep, which records
    /// that their tasks failed. None on SQS without a known DLQ (ANB_DLQ).
    pub async fn receive_dead_letters(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        match self {
            Self::Local(q) => q.receive_dead_letters(max, lease).await,
            Self::Sqs(q) => q.receive_dead_letters(max, lease).await,
        }
    }

    /// Records that a dead letter was dealt with. It stays in the dead-letter queue (for
    /// inspection, redrive and the alarm) and is not handed out again (on SQS: not for 11 h,
    /// nearly the longest SQS can hide it; handling it again is harmless).
    pub async fn settle_dead_letter(&self, delivery: &Delivery) -> Result<(), QueueError> {
        match self {
            Self::Local(q) => q.settle_dead_letter(&delivery.receipt).await,
            Self::Sqs(q) => q.settle_dead_letter(&delivery.receipt).await,
        }
    }

    /// Whether this queue can see its dead letters (always locally; on SQS with ANB_DLQ).
    pub fn knows_dead_letters(&self) -> bool {
        match self {
            Self::Local(_) => true,
            Self::Sqs(q) => q.has_dlq(),
        }
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        self.depth().await.map(drop)
    }

    pub fn visibility_timeout(&self) -> Duration {
        match self {
            Self::Local(q) => q.visibility_timeout(),
            Self::Sqs(q) => q.visibility_timeout(),
        }
    }
}
