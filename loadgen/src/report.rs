//! The end of a run: figures per endpoint from the run's histograms, thresholds judged,
//! and the k6-style table printed for people.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use rundir::{EndpointSummary, LatencySummary, RunId, SkippedStep, Summary};

use crate::recorder::Bucket;
use crate::threshold::Threshold;

pub fn endpoint_figures(name: &str, bucket: &Bucket, duration: Duration) -> EndpointSummary {
    let seconds = duration.as_secs_f64().max(1e-9);
    EndpointSummary {
        name: name.to_string(),
        requests: bucket.counts.requests,
        successes: bucket.counts.successes,
        errors: bucket.counts.errors(),
        error_rate: bucket.counts.error_ratio(),
        rps: bucket.counts.requests as f64 / seconds,
        bytes_sent: bucket.counts.bytes_sent,
        bytes_received: bucket.counts.bytes_received,
        latency_us: LatencySummary::of(&bucket.latency_us),
    }
}

/// Everything the summary needs besides the totals.
pub struct RunFacts {
    pub run_id: RunId,
    pub duration: Duration,
    pub interruption: Option<String>,
    pub model_note: Option<String>,
    pub skips: BTreeMap<(&'static str, &'static str), u64>,
}

pub fn summarize(
    facts: RunFacts,
    totals: &BTreeMap<&'static str, Bucket>,
    thresholds: &[Threshold],
) -> Summary {
    let endpoints: Vec<EndpointSummary> = totals
        .iter()
        .map(|(name, bucket)| endpoint_figures(name, bucket, facts.duration))
        .collect();
    let mut all = Bucket::default();
    for bucket in totals.values() {
        all.add(bucket);
    }
    let total = endpoint_figures("all", &all, facts.duration);
    let outcomes: Vec<_> = thresholds
        .iter()
        .map(|t| t.evaluate(&endpoints, &total))
        .collect();
    Summary {
        format_version: rundir::FORMAT_VERSION,
        run_id: facts.run_id,
        duration_ms: facts.duration.as_millis() as u64,
        interrupted: facts.interruption.is_some(),
        interruption: facts.interruption,
        model_note: facts.model_note,
        passed: outcomes.iter().all(|o| o.passed),
        thresholds: outcomes,
        skipped: facts
            .skips
            .into_iter()
            .map(|((step, reason), count)| SkippedStep {
                step: step.to_string(),
                reason: reason.to_string(),
                count,
            })
            .collect(),
        endpoints,
        total,
        worker: None,
    }
}

/// Milliseconds of one latency figure, "–" without data (every request refused or unsent).
fn ms(latency: Option<&LatencySummary>, figure: impl Fn(&LatencySummary) -> u64) -> String {
    latency.map_or_else(
        || "–".to_owned(),
        |l| format!("{:.1}", figure(l) as f64 / 1000.0),
    )
}

/// The end-of-run table.
pub fn print(summary: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "\n{:<16} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "errors"
    )?;
    for e in summary
        .endpoints
        .iter()
        .chain(std::iter::once(&summary.total))
    {
        let l = e.latency_us.as_ref();
        writeln!(
            out,
            "{:<16} {:>9} {:>8.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7.2}%",
            e.name,
            e.requests,
            e.rps,
            ms(l, |l| l.p50),
            ms(l, |l| l.p90),
            ms(l, |l| l.p95),
            ms(l, |l| l.p99),
            ms(l, |l| l.max),
            e.error_rate * 100.0
        )?;
    }
    for skip in &summary.skipped {
        writeln!(
            out,
            "skipped {} × {}: {}",
            skip.count, skip.step, skip.reason
        )?;
    }
    if let Some(note) = &summary.model_note {
        writeln!(out, "note: {note}")?;
    }
    if let Some(why) = &summary.interruption {
        writeln!(out, "stopped early: {why}")?;
    }
    for t in &summary.thresholds {
        writeln!(
            out,
            "{} {:<24} observed {} (limit {:.2} {})",
            if t.passed { "✓" } else { "✗" },
            t.expression,
            t.observed_text(),
            t.limit,
            t.unit
        )?;
    }
    Ok(())
}
