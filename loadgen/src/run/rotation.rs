//! The run's once-a-second rotation, beside Goose: it closes each settled second of the
//! recorder into `latency.hlog` and `requests.csv` (late fragments appended, merged at the
//! end), drives the progress line, judges thresholds for `--abort-on-fail`, and stops the
//! run when the target is gone.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rundir::{LatencyLogWriter, RequestsRow, RequestsWriter, RunDir};
use scenarios::profile::{StageSpec, level_at};
use time::OffsetDateTime;

use crate::progress::{Progress, Snapshot};
use crate::recorder::{Bucket, Interval, Recorder};
use crate::report::{self};
use crate::stop::StopSwitch;

pub(super) struct RotationContext {
    pub(super) recorder: Arc<Recorder>,
    pub(super) stop: StopSwitch,
    pub(super) dir: RunDir,
    /// The interval log's start time.
    pub(super) wall_start: SystemTime,
    /// A late fragment was appended: the files are merged at the end.
    pub(super) late_written: bool,
    pub(super) hlog: LatencyLogWriter<BufWriter<File>>,
    pub(super) csv: RequestsWriter<BufWriter<File>>,
    pub(super) stages: Vec<StageSpec>,
    pub(super) stage_zero: Arc<OnceLock<Instant>>,
    /// `stage_zero` on the wall clock, once known.
    pub(super) wall_zero: Option<SystemTime>,
    pub(super) progress: Progress,
    pub(super) thresholds: Vec<crate::threshold::Threshold>,
    pub(super) done: tokio::sync::watch::Receiver<bool>,
    /// Seconds in a row in which every request was refused at connect.
    pub(super) refused_streak: u32,
    /// Why the run was stopped as the target's death, once it was.
    pub(super) target_lost: Option<String>,
}

pub(super) struct Accumulated {
    pub(super) totals: BTreeMap<&'static str, Bucket>,
    pub(super) stages: Vec<Bucket>,
    pub(super) target_lost: Option<String>,
}

/// Seconds in a row of nothing but refused connections after which the target counts as
/// dead and the run stops: long enough to ride out a restart of one instance behind a load
/// balancer (which answers 502/503, not refusals), short enough not to hammer a dead port.
pub const DEAD_AFTER: u32 = 3;

/// Before aborting on a threshold, wait for this much of the run: early figures are noisy.
const ABORT_AFTER: Duration = Duration::from_secs(5);
const ABORT_MIN_REQUESTS: u64 = 20;

pub(super) async fn rotate(mut ctx: RotationContext) -> anyhow::Result<Accumulated> {
    let mut acc = Accumulated {
        totals: BTreeMap::new(),
        stages: vec![Bucket::default(); ctx.stages.len()],
        target_lost: None,
    };
    let mut recent: VecDeque<Bucket> = VecDeque::new();
    let started = Instant::now();
    // Ticks on whole wall-clock seconds, so requests.csv rows sit on an exact 1 s grid
    // (the first interval is the partial second before the first tick).
    let into_second = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| Duration::from_nanos(u64::from(d.subsec_nanos())))
        .unwrap_or_default();
    let first_tick = tokio::time::Instant::now() + (Duration::from_secs(1) - into_second);
    let mut ticker = tokio::time::interval_at(first_tick, Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut aborted = false;
    loop {
        let last = tokio::select! {
            _ = ticker.tick() => false,
            _ = ctx.done.changed() => true,
        };
        let now = SystemTime::now();
        // At the end no request is running (Goose waited for them): hand out everything.
        let intervals = if last {
            ctx.recorder.finish(now)
        } else {
            ctx.recorder.rotate(now)
        };
        if ctx.wall_zero.is_none() {
            ctx.wall_zero = ctx
                .stage_zero
                .get()
                .map(|z| scenarios::record::wall_clock(*z));
        }
        // What this rotation handed out: the second that settled and late fragments.
        let mut second = Bucket::default();
        for interval in &intervals {
            write_interval(&mut ctx, interval)?;
            ctx.late_written |= interval.late;
            let mut all = Bucket::default();
            for (name, bucket) in &interval.endpoints {
                acc.totals.entry(name).or_default().add(bucket);
                all.add(bucket);
            }
            if let Some(stage) = stage_of(&ctx, interval) {
                acc.stages[stage].add(&all);
            }
            second.add(&all);
        }
        ctx.hlog.flush()?;
        ctx.csv.flush()?;
        watch_for_a_dead_target(&mut ctx, &second);
        recent.push_back(second.clone());
        if recent.len() > 5 {
            recent.pop_front();
        }
        let mut window = Bucket::default();
        recent.iter().for_each(|b| window.add(b));
        let mut all = Bucket::default();
        acc.totals.values().for_each(|b| all.add(b));
        let since_zero = ctx
            .stage_zero
            .get()
            .map(|z| z.elapsed())
            .unwrap_or_default();
        ctx.progress.update(&Snapshot {
            elapsed: since_zero,
            level: level_at(&ctx.stages, since_zero),
            rps: second.counts.requests as f64,
            p95_ms: (!window.latency_us.is_empty())
                .then(|| window.latency_us.value_at_quantile(0.95) as f64 / 1000.0),
            error_pct: all.counts.error_ratio() * 100.0,
            requests: all.counts.requests,
        });

        if !aborted
            && !ctx.thresholds.is_empty()
            && started.elapsed() >= ABORT_AFTER
            && all.counts.requests >= ABORT_MIN_REQUESTS
        {
            let endpoints: Vec<_> = acc
                .totals
                .iter()
                .map(|(n, b)| report::endpoint_figures(n, b, started.elapsed()))
                .collect();
            let total = report::endpoint_figures("all", &all, started.elapsed());
            if let Some(failed) = ctx
                .thresholds
                .iter()
                .map(|t| t.evaluate(&endpoints, &total))
                .find(|o| !o.passed)
            {
                aborted = true;
                ctx.stop.pull(format!(
                    "threshold {} failed (observed {}); --abort-on-fail stopped the run",
                    failed.expression,
                    failed.observed_text()
                ));
            }
        }
        if last {
            break;
        }
    }
    ctx.progress.finish();
    ctx.hlog.flush()?;
    ctx.csv.flush()?;
    acc.target_lost = ctx.target_lost.take();
    if ctx.late_written {
        merge_late_fragments(&ctx.dir, ctx.wall_start)
            .context("cannot merge late answers into their seconds")?;
    }
    Ok(acc)
}

/// Stops the run once every request of [`DEAD_AFTER`] seconds in a row was refused at
/// connect: the target is gone, and the rest of the plan would measure nothing.
fn watch_for_a_dead_target(ctx: &mut RotationContext, second: &Bucket) {
    if second.counts.requests == 0 || ctx.target_lost.is_some() {
        return;
    }
    if second.refused < second.counts.requests {
        ctx.refused_streak = 0;
        return;
    }
    ctx.refused_streak += 1;
    if ctx.refused_streak >= DEAD_AFTER {
        let at = OffsetDateTime::now_utc() - time::Duration::seconds(i64::from(DEAD_AFTER));
        let reason = format!(
            "the target stopped answering at {}: every request for {DEAD_AFTER} s was refused \
             at connect; the run was stopped there",
            at.replace_nanosecond(0)
                .unwrap_or(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        eprintln!("loadgen: {reason}");
        ctx.target_lost = Some(reason.clone());
        ctx.stop.pull(reason);
    }
}

/// Rewrites `requests.csv` and `latency.hlog` with each late fragment added to the line of
/// its second and endpoint, in time order: a finished run has one line per endpoint and
/// second, late answers or not. Each file is replaced atomically, so a reader sees either
/// the appended lines (which add up to the same) or the merged ones.
fn merge_late_fragments(dir: &RunDir, wall_start: SystemTime) -> anyhow::Result<()> {
    let rows = rundir::read_requests(std::io::BufReader::new(File::open(dir.requests_path())?))?;
    let mut merged: BTreeMap<(OffsetDateTime, String), RequestsRow> = BTreeMap::new();
    for row in rows {
        match merged.entry((row.timestamp, row.endpoint.clone())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(row);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                slot.get_mut().counts += &row.counts;
            }
        }
    }
    replace_file(&dir.requests_path(), |out| {
        let mut csv = RequestsWriter::new(out)?;
        for row in merged.values() {
            csv.write_row(row)?;
        }
        csv.flush()?;
        Ok(())
    })?;

    let log = std::fs::read(dir.latency_log_path())?;
    // Fragments carry their second's exact start and length.
    let mut intervals: BTreeMap<(Duration, String), (Duration, hdrhistogram::Histogram<u64>)> =
        BTreeMap::new();
    for interval in rundir::read_intervals(&log)? {
        let tag = interval.tag.clone().unwrap_or_default();
        let (_, histogram) = intervals
            .entry((interval.start, tag))
            // Decoded histograms do not resize; the sum may need a wider range.
            .or_insert_with(|| (interval.duration, crate::recorder::new_histogram()));
        histogram
            .add(&interval.histogram)
            .context("cannot add two intervals of one second")?;
    }
    replace_file(&dir.latency_log_path(), |out| {
        let mut hlog = LatencyLogWriter::new(out, wall_start)?;
        for ((start, tag), (duration, histogram)) in &intervals {
            hlog.write_interval(tag, SystemTime::UNIX_EPOCH + *start, *duration, histogram)?;
        }
        hlog.flush()?;
        Ok(())
    })
}

/// Writes `path` through `<path>.tmp` and renames it over the original.
fn replace_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    let tmp = PathBuf::from(name);
    let mut out = BufWriter::new(File::create(&tmp)?);
    write(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The stage an interval belongs to, by its midpoint.
fn stage_of(ctx: &RotationContext, interval: &Interval) -> Option<usize> {
    let midpoint = interval.start + interval.duration / 2;
    let offset = midpoint.duration_since(ctx.wall_zero?).ok()?;
    let mut end = Duration::ZERO;
    for (i, stage) in ctx.stages.iter().enumerate() {
        end += stage.duration;
        if offset < end {
            return Some(i);
        }
    }
    None
}

fn write_interval(ctx: &mut RotationContext, interval: &Interval) -> anyhow::Result<()> {
    // Intervals end on whole seconds (± scheduling jitter); the floor of the midpoint
    // names the second each covers, the partial first and last ones included.
    let midpoint = OffsetDateTime::from(interval.start + interval.duration / 2);
    let second = midpoint.replace_nanosecond(0).unwrap_or(midpoint);
    for (name, bucket) in &interval.endpoints {
        if !bucket.latency_us.is_empty() {
            ctx.hlog
                .write_interval(name, interval.start, interval.duration, &bucket.latency_us)?;
        }
        ctx.csv
            .write_row(&RequestsRow::new(second, name.to_string(), bucket.counts))?;
    }
    Ok(())
}
