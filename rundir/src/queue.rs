//! `queue.csv`: scenario 2's view of the queue, once a second while tasks were injected and
//! the queue drained: its approximate counts as loadgen's driver read them, the tasks queued
//! and finished by then, and where in the injection the second was. Files written before
//! the `step` and `injecting` columns read with `None` there.

use std::io::{BufRead, Write};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::RunDirError;
use crate::layout::QUEUE_FILE;

/// The header line, without the line break.
pub const QUEUE_HEADER: &str = "timestamp,visible,in_flight,enqueued,finished,step,injecting";
/// The header of files written before the `step` and `injecting` columns.
const QUEUE_HEADER_BEFORE_STEPS: &str = "timestamp,visible,in_flight,enqueued,finished";

/// One second of the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueRow {
    /// When it was sampled, UTC, to the millisecond.
    pub at: OffsetDateTime,
    /// Ready to be received (ApproximateNumberOfMessages).
    pub visible: u64,
    /// Received and not yet deleted (ApproximateNumberOfMessagesNotVisible).
    pub in_flight: u64,
    /// Tasks queued so far.
    pub enqueued: u64,
    /// Tasks finished by then.
    pub finished: u64,
    /// The saturation staircase's step, from 0 (0 outside a staircase).
    pub step: Option<u32>,
    /// Tasks were still being injected (false while the queue drained).
    pub injecting: Option<bool>,
}

/// Writes `queue.csv` (header first), times truncated to the millisecond.
pub fn write_queue(mut out: impl Write, rows: &[QueueRow]) -> Result<(), RunDirError> {
    let mut text = format!("{QUEUE_HEADER}\n");
    for row in rows {
        let at = row
            .at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(row.at.millisecond() as u32 * 1_000_000)
            .unwrap_or(row.at);
        let at = at.format(&Rfc3339).map_err(|e| RunDirError::Unwritable {
            path: QUEUE_FILE.into(),
            what: "timestamp",
            value: at.to_string(),
            reason: e.to_string(),
        })?;
        let optional = |v: Option<String>| v.unwrap_or_default();
        text.push_str(&format!(
            "{at},{},{},{},{},{},{}\n",
            row.visible,
            row.in_flight,
            row.enqueued,
            row.finished,
            optional(row.step.map(|s| s.to_string())),
            optional(row.injecting.map(|i| i.to_string())),
        ));
    }
    let io = |e| RunDirError::io(QUEUE_FILE, "write", e);
    out.write_all(text.as_bytes()).map_err(io)?;
    out.flush().map_err(io)
}

/// Reads `queue.csv`, of either header; a malformed line is reported with its number and
/// column.
pub fn read_queue(input: impl BufRead) -> Result<Vec<QueueRow>, RunDirError> {
    let malformed = |line: usize, column: &str, message: String| {
        RunDirError::malformed(QUEUE_FILE, Some(line), Some(column), message)
    };
    let mut rows = Vec::new();
    let mut columns = 0;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| RunDirError::io(QUEUE_FILE, "read", e))?;
        if index == 0 {
            columns = match line.trim() {
                QUEUE_HEADER => 7,
                QUEUE_HEADER_BEFORE_STEPS => 5,
                _ => {
                    return Err(malformed(
                        1,
                        "header",
                        format!("expected the header {QUEUE_HEADER:?}"),
                    ));
                }
            };
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != columns {
            return Err(malformed(
                number,
                "line",
                format!("expected {columns} fields, found {}", fields.len()),
            ));
        }
        let count = |column: &str, text: &str| -> Result<u64, RunDirError> {
            text.parse()
                .map_err(|_| malformed(number, column, format!("{text:?} is not a count")))
        };
        let at = OffsetDateTime::parse(fields[0], &Rfc3339).map_err(|e| {
            malformed(
                number,
                "timestamp",
                format!("{:?} is not RFC 3339: {e}", fields[0]),
            )
        })?;
        let optional = |column: usize| fields.get(column).filter(|text| !text.is_empty());
        rows.push(QueueRow {
            at,
            visible: count("visible", fields[1])?,
            in_flight: count("in_flight", fields[2])?,
            enqueued: count("enqueued", fields[3])?,
            finished: count("finished", fields[4])?,
            step: optional(5)
                .map(|text| {
                    text.parse()
                        .map_err(|_| malformed(number, "step", format!("{text:?} is not a step")))
                })
                .transpose()?,
            injecting: optional(6)
                .map(|text| {
                    text.parse().map_err(|_| {
                        malformed(
                            number,
                            "injecting",
                            format!("{text:?} is not true or false"),
                        )
                    })
                })
                .transpose()?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn row(second: u32, step: Option<u32>, injecting: Option<bool>) -> QueueRow {
        QueueRow {
            at: datetime!(2026-12-05 10:00:00.250 UTC) + time::Duration::seconds(second.into()),
            visible: 3,
            in_flight: 1,
            enqueued: 4 + u64::from(second),
            finished: u64::from(second),
            step,
            injecting,
        }
    }

    #[test]
    fn rows_round_trip_to_the_millisecond() {
        let rows = vec![row(0, Some(0), Some(true)), row(1, Some(1), Some(false))];
        let mut file = Vec::new();
        write_queue(&mut file, &rows).unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            text.starts_with(&format!(
                "{QUEUE_HEADER}\n2026-12-05T10:00:00.25Z,3,1,4,0,0,true\n"
            )),
            "{text}"
        );
        assert_eq!(read_queue(file.as_slice()).unwrap(), rows);
    }

    #[test]
    fn files_before_the_step_columns_read_with_them_unknown() {
        let text = "timestamp,visible,in_flight,enqueued,finished\n\
                    2026-12-05T10:00:00.25Z,3,1,4,0\n";
        assert_eq!(
            read_queue(text.as_bytes()).unwrap(),
            vec![row(0, None, None)]
        );
    }

    #[test]
    fn a_bad_line_names_its_number_and_column() {
        let text = format!("{QUEUE_HEADER}\n2026-12-05T10:00:00Z,3,x,4,0,0,true\n");
        let error = read_queue(text.as_bytes()).unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("in_flight"),
            "{error}"
        );
        let error = read_queue("time,depth\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("header"), "{error}");
    }
}
