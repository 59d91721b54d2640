//! `metrics.csv`: server-side samples in CloudWatch's own shape, so that the analyzer reads
//! the local stack's telemetry and CloudWatch's GetMetricData results the same way.
//!
//! Columns: `timestamp,namespace,metric,dimensions,statistic,value,unit`. Dimensions are
//! `Name=Value` pairs joined by `;` (e.g. `AutoScalingGroupName=web`), empty when there are
//! none. Names and values that would need quoting (`,` `;` `=` `"` or line breaks) are refused
//! on write, so the file is plain CSV with no quoting.

use std::io::{BufRead, Write};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::RunDirError;
use crate::layout::METRICS_FILE;

pub const METRICS_HEADER: &str = "timestamp,namespace,metric,dimensions,statistic,value,unit";

/// One CloudWatch datapoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricRow {
    /// The start of the period the value covers, UTC.
    #[serde(with = "crate::utc")]
    pub timestamp: OffsetDateTime,
    /// `AWS/ApplicationELB`, `AWS/EC2`, `AWS/AutoScaling`, `AWS/SQS`, …
    pub namespace: String,
    /// CloudWatch's metric name, e.g. `TargetResponseTime`.
    pub metric: String,
    /// `(name, value)` pairs in order, e.g. `[("AutoScalingGroupName", "web")]`.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `Maximum`, `Minimum`, `SampleCount` or a percentile like `p95`.
    pub statistic: String,
    pub value: f64,
    /// CloudWatch's unit: `Count`, `Seconds`, `Percent`, `Bytes`, …
    pub unit: String,
}

fn needs_quoting(text: &str) -> bool {
    text.is_empty() || text.contains([',', ';', '=', '"', '\n', '\r'])
}

fn unwritable(what: &'static str, value: &str) -> RunDirError {
    RunDirError::Unwritable {
        path: METRICS_FILE.into(),
        what,
        value: value.to_string(),
        reason: "must be non-empty and free of , ; = \" and line breaks".to_string(),
    }
}

/// Writes `metrics.csv`. It does not buffer; give it a `BufWriter` for a file.
#[derive(Debug)]
pub struct MetricsWriter<W: Write> {
    out: W,
}

impl<W: Write> MetricsWriter<W> {
    pub fn new(mut out: W) -> Result<Self, RunDirError> {
        writeln!(out, "{METRICS_HEADER}").map_err(|e| io_error(e, "write"))?;
        Ok(Self { out })
    }

    /// Writes one row, or nothing when a field would need quoting or the value is not finite.
    pub fn write_row(&mut self, row: &MetricRow) -> Result<(), RunDirError> {
        for (what, text) in [
            ("namespace", &row.namespace),
            ("metric", &row.metric),
            ("statistic", &row.statistic),
            ("unit", &row.unit),
        ] {
            if needs_quoting(text) {
                return Err(unwritable(what, text));
            }
        }
        for (name, value) in &row.dimensions {
            if needs_quoting(name) || needs_quoting(value) {
                return Err(unwritable("dimension", &format!("{name}={value}")));
            }
        }
        if !row.value.is_finite() {
            return Err(unwritable("value", &row.value.to_string()));
        }
        let timestamp = row
            .timestamp
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| unwritable("timestamp", &e.to_string()))?;
        let dimensions: Vec<String> = row
            .dimensions
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let line = format!(
            "{timestamp},{},{},{},{},{},{}\n",
            row.namespace,
            row.metric,
            dimensions.join(";"),
            row.statistic,
            row.value,
            row.unit
        );
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| io_error(e, "write"))
    }

    pub fn flush(&mut self) -> Result<(), RunDirError> {
        self.out.flush().map_err(|e| io_error(e, "write"))
    }
}

fn io_error(source: std::io::Error, action: &'static str) -> RunDirError {
    RunDirError::io(METRICS_FILE, action, source)
}

fn malformed(line: usize, message: String) -> RunDirError {
    RunDirError::malformed(METRICS_FILE, Some(line), None, message)
}

/// Reads `metrics.csv`; errors name the line.
pub fn read_metrics(input: impl BufRead) -> Result<Vec<MetricRow>, RunDirError> {
    let mut rows = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| io_error(e, "read"))?;
        if index == 0 {
            if line.trim() != METRICS_HEADER {
                return Err(malformed(
                    number,
                    format!("the header must be `{METRICS_HEADER}`"),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 7 {
            return Err(malformed(
                number,
                format!("expected 7 fields, found {}", fields.len()),
            ));
        }
        let timestamp = OffsetDateTime::parse(fields[0], &Rfc3339)
            .map_err(|e| malformed(number, format!("timestamp {:?}: {e}", fields[0])))?;
        let dimensions = if fields[3].is_empty() {
            Vec::new()
        } else {
            fields[3]
                .split(';')
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .ok_or_else(|| {
                            malformed(number, format!("dimension {pair:?} is not Name=Value"))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let value: f64 = fields[5]
            .parse()
            .map_err(|_| malformed(number, format!("value {:?} is not a number", fields[5])))?;
        rows.push(MetricRow {
            timestamp,
            namespace: fields[1].to_string(),
            metric: fields[2].to_string(),
            dimensions,
            statistic: fields[4].to_string(),
            value,
            unit: fields[6].to_string(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn row(metric: &str, value: f64) -> MetricRow {
        MetricRow {
            timestamp: datetime!(2026-11-23 01:00:05 UTC),
            namespace: "AWS/ApplicationELB".into(),
            metric: metric.into(),
            dimensions: vec![("LoadBalancer".into(), "app/aforo-local/1".into())],
            statistic: "Sum".into(),
            value,
            unit: "Count".into(),
        }
    }

    #[test]
    fn rows_round_trip() {
        let mut writer = MetricsWriter::new(Vec::new()).unwrap();
        let rows = vec![
            row("RequestCount", 42.0),
            MetricRow {
                dimensions: vec![],
                statistic: "Average".into(),
                unit: "Seconds".into(),
                ..row("TargetResponseTime", 0.0125)
            },
        ];
        for r in &rows {
            writer.write_row(r).unwrap();
        }
        let text = String::from_utf8(writer.out).unwrap();
        assert!(text.contains("2026-11-23T01:00:05Z,AWS/ApplicationELB,RequestCount,LoadBalancer=app/aforo-local/1,Sum,42,Count"), "{text}");
        assert_eq!(read_metrics(text.as_bytes()).unwrap(), rows);
    }

    #[test]
    fn refuses_fields_that_would_need_quoting_and_names_bad_lines() {
        let mut writer = MetricsWriter::new(Vec::new()).unwrap();
        assert!(writer.write_row(&row("Request,Count", 1.0)).is_err());
        assert!(writer.write_row(&row("RequestCount", f64::NAN)).is_err());
        let bad = format!(
            "{METRICS_HEADER}\n2026-11-23T01:00:05Z,AWS/EC2,CPUUtilization,,Average,lots,Percent\n"
        );
        let err = read_metrics(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 2") || err.contains(":2"), "{err}");
    }
}
