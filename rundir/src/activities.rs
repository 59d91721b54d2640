//! `activities.jsonl`: scaling activities, one JSON object per line, in the shape of EC2
//! Auto Scaling's DescribeScalingActivities (same field names), so the analyzer reads the
//! local stack's activities and AWS's the same way.

use std::io::{BufRead, Write};

use time::OffsetDateTime;

use crate::RunDirError;
use crate::layout::ACTIVITIES_FILE;

/// One scaling activity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Activity {
    pub activity_id: String,
    pub auto_scaling_group_name: String,
    /// e.g. "Launching a new EC2 instance: i-0a1b2c", "Terminating EC2 instance: i-0a1b2c".
    pub description: String,
    /// Why, as AWS words it: "At 2026-11-23T01:00:05Z a monitor alarm … changing the desired
    /// capacity from 1 to 2." — naming the policy and the metric value that triggered it.
    pub cause: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_time: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<OffsetDateTime>,
    /// `Successful`, `InProgress`, `Failed`, `Cancelled`, … (AWS's ScalingActivityStatusCode).
    pub status_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// 0..=100.
    #[serde(default)]
    pub progress: u8,
    /// A JSON object as text, as AWS returns it (e.g. `{"Subnet ID":"…"}`), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

/// Appends one activity as a line.
pub fn write_activity(out: &mut impl Write, activity: &Activity) -> Result<(), RunDirError> {
    let mut line = serde_json::to_vec(activity).map_err(|source| RunDirError::Json {
        path: ACTIVITIES_FILE.into(),
        source,
    })?;
    line.push(b'\n');
    out.write_all(&line)
        .map_err(|source| RunDirError::io(ACTIVITIES_FILE, "write", source))
}

/// Reads every activity; blank lines are skipped, a bad line is an error naming it.
pub fn read_activities(input: impl BufRead) -> Result<Vec<Activity>, RunDirError> {
    let mut activities = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.map_err(|source| RunDirError::io(ACTIVITIES_FILE, "read", source))?;
        if line.trim().is_empty() {
            continue;
        }
        let activity = serde_json::from_str(&line).map_err(|e| {
            RunDirError::malformed(ACTIVITIES_FILE, Some(index + 1), None, e.to_string())
        })?;
        activities.push(activity);
    }
    Ok(activities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn activities_use_aws_field_names_and_round_trip() {
        let activity = Activity {
            activity_id: "a1".into(),
            auto_scaling_group_name: "web".into(),
            description: "Launching a new EC2 instance: i-local-3".into(),
            cause: "At 2026-11-23T01:00:05Z a monitor alarm … changing the desired capacity from 1 to 2.".into(),
            start_time: datetime!(2026-11-23 01:00:05 UTC),
            end_time: Some(datetime!(2026-11-23 01:00:07 UTC)),
            status_code: "Successful".into(),
            status_message: None,
            progress: 100,
            details: String::new(),
        };
        let mut out = Vec::new();
        write_activity(&mut out, &activity).unwrap();
        let line = String::from_utf8(out.clone()).unwrap();
        for field in [
            "\"ActivityId\"",
            "\"AutoScalingGroupName\"",
            "\"Cause\"",
            "\"StartTime\":\"2026-11-23T01:00:05Z\"",
            "\"StatusCode\"",
        ] {
            assert!(line.contains(field), "{line}");
        }
        out.extend_from_slice(b"\n");
        assert_eq!(read_activities(out.as_slice()).unwrap(), vec![activity]);
        let err = read_activities("{\"ActivityId\": 3}\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("activities.jsonl"), "{err}");
    }
}
