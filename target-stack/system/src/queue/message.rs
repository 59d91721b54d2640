//! The body of a processing task, as JSON on the queue. Producers other than the API
//! (aforo's scenario 2 injects tasks straight into the queue) write the same shape.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// Carried end to end so a run can correlate enqueue → start → finish.
    pub task_id: String,
    pub video_id: i64,
    /// The original upload's key in object storage.
    pub original_key: String,
    /// Epoch milliseconds when the producer enqueued it.
    pub enqueued_at: i64,
}

impl TaskMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a task message always serialises")
    }

    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_bodies() {
        let task = TaskMessage {
            task_id: "t-1".into(),
            video_id: 7,
            original_key: "originals/a.mp4".into(),
            enqueued_at: 1,
        };
        assert_eq!(TaskMessage::parse(&task.to_json()).unwrap(), task);
        assert!(TaskMessage::parse("{\"video\": 1}").is_err());
    }
}
