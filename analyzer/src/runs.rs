//! Which runs an analysis covers, and everything in them, loaded once.
//!
//! `--since 1h` takes the runs that overlap the last hour (a run still going, or killed
//! without an end, counts from its start); `--run ID` takes the named ones. A window without
//! runs, an unknown id, a missing directory or a corrupt file is an error that names the
//! problem and the fix; run directories that cannot be read are reported, not skipped
//! silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use capacity_model::analysis::Note;
use rundir::{Activity, Manifest, MetricRow, RequestsRow, RunDir, RunDirError, Summary, TasksRow};
use time::OffsetDateTime;

/// Which runs to analyse.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// The runs overlapping the window that ends now.
    Since(Duration),
    /// These run ids.
    Runs(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("no run directory {dir}: run `loadgen run …` first, or point --runs-dir at the runs")]
    NoRunsDir { dir: PathBuf },
    #[error(
        "no run in the last {window}{newest}: widen --since, or name runs with --run ID{unreadable}"
    )]
    EmptyWindow {
        window: String,
        newest: String,
        unreadable: String,
    },
    #[error("no run {id} in {dir}{known}")]
    UnknownRun {
        id: String,
        dir: PathBuf,
        known: String,
    },
    #[error(transparent)]
    RunDir(#[from] RunDirError),
}

/// The selected runs, oldest first, and the directories that could not be read.
#[derive(Debug)]
pub struct Selected {
    pub runs: Vec<(RunDir, Manifest)>,
    pub unreadable: Vec<(PathBuf, RunDirError)>,
}

pub fn select(
    root: &Path,
    selection: &Selection,
    now: OffsetDateTime,
) -> Result<Selected, SelectError> {
    if !root.is_dir() {
        return Err(SelectError::NoRunsDir {
            dir: root.to_path_buf(),
        });
    }
    let (mut all, unreadable) = rundir::list_runs(root)?;
    let runs = match selection {
        Selection::Since(window) => {
            let from = now - *window;
            let newest = all
                .last()
                .map(|(_, m)| {
                    let started = m
                        .started_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    format!(" (the newest, {}, started {started})", m.run_id)
                })
                .unwrap_or_else(|| " (there are no runs at all)".into());
            let chosen: Vec<_> = all
                .into_iter()
                .filter(|(_, m)| m.ended_at.unwrap_or(now) >= from && m.started_at <= now)
                .collect();
            if chosen.is_empty() {
                return Err(SelectError::EmptyWindow {
                    window: humanize(*window),
                    newest,
                    unreadable: match unreadable.first() {
                        None => String::new(),
                        Some((path, e)) => format!(
                            " ({} run directories could not be read, e.g. {}: {e})",
                            unreadable.len(),
                            path.display()
                        ),
                    },
                });
            }
            chosen
        }
        Selection::Runs(ids) => {
            let mut chosen = Vec::new();
            for id in ids {
                let position = all.iter().position(|(_, m)| m.run_id.as_str() == id);
                match position {
                    Some(i) => chosen.push(all.remove(i)),
                    None => {
                        let names: Vec<&str> = all
                            .iter()
                            .rev()
                            .take(5)
                            .map(|(_, m)| m.run_id.as_str())
                            .collect();
                        return Err(SelectError::UnknownRun {
                            id: id.clone(),
                            dir: root.to_path_buf(),
                            known: if names.is_empty() {
                                String::new()
                            } else {
                                format!("; the newest are {}", names.join(", "))
                            },
                        });
                    }
                }
            }
            chosen.sort_by_key(|(_, m)| m.started_at);
            chosen
        }
    };
    Ok(Selected { runs, unreadable })
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Everything one run directory holds; optional files are empty when absent.
#[derive(Debug)]
pub struct RunData {
    pub dir: RunDir,
    pub manifest: Manifest,
    /// None for a run killed before it wrote one.
    pub summary: Option<Summary>,
    /// The interval log, as each interval's recorded values.
    pub intervals: Vec<crate::timeline::RecordedInterval>,
    pub requests: Vec<RequestsRow>,
    pub metrics: Vec<MetricRow>,
    pub activities: Vec<Activity>,
    pub tasks: Vec<TasksRow>,
    /// `queue.csv` (scenario 2); None when the run has none.
    pub queue: Option<Vec<rundir::QueueRow>>,
    /// What the local stack ran as (`stack.json`), when it was the target.
    pub stack: Option<rundir::StackDescription>,
}

fn open(path: &Path) -> Result<Option<std::io::BufReader<std::fs::File>>, RunDirError> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(std::io::BufReader::new(file))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunDirError::Io {
            path: path.to_path_buf(),
            action: "open",
            source: e,
        }),
    }
}

/// Loads a run; every error names the file (and line, where there is one).
pub fn load(dir: RunDir, manifest: Manifest) -> Result<RunData, RunDirError> {
    let summary = match dir.read_summary() {
        Ok(summary) => Some(summary),
        Err(RunDirError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(e) => return Err(e),
    };
    let intervals = match std::fs::read(dir.latency_log_path()) {
        Ok(bytes) => {
            let mut intervals = Vec::new();
            rundir::for_each_interval(&bytes, |i| {
                intervals.push(crate::timeline::RecordedInterval::from(&i));
            })
            .map_err(|e| e.with_path(&dir.latency_log_path()))?;
            intervals
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(RunDirError::Io {
                path: dir.latency_log_path(),
                action: "read",
                source: e,
            });
        }
    };
    let requests = match open(&dir.requests_path())? {
        Some(r) => rundir::read_requests(r).map_err(|e| e.with_path(&dir.requests_path()))?,
        None => Vec::new(),
    };
    let metrics = match open(&dir.metrics_path())? {
        Some(r) => rundir::read_metrics(r).map_err(|e| e.with_path(&dir.metrics_path()))?,
        None => Vec::new(),
    };
    let activities = match open(&dir.activities_path())? {
        Some(r) => rundir::read_activities(r).map_err(|e| e.with_path(&dir.activities_path()))?,
        None => Vec::new(),
    };
    let tasks = match open(&dir.tasks_path())? {
        Some(r) => rundir::read_tasks(r).map_err(|e| e.with_path(&dir.tasks_path()))?,
        None => Vec::new(),
    };
    let queue_path = dir.path().join(rundir::QUEUE_FILE);
    let queue = match open(&queue_path)? {
        Some(r) => Some(rundir::read_queue(r).map_err(|e| e.with_path(&queue_path))?),
        None => None,
    };
    let stack = dir.read_stack()?;
    if manifest.scenario != "scenario2" {
        check_measurements(&dir, &intervals, &requests)?;
    }
    Ok(RunData {
        stack,
        dir,
        manifest,
        summary,
        intervals,
        requests,
        metrics,
        activities,
        tasks,
        queue,
    })
}

/// A web run must have measured something, and every endpoint that requests.csv says was
/// answered must have latency in the interval log: otherwise its latency would read as
/// nothing at all, or as 0 ms. (Requests refused at connect have no latency by design.)
fn check_measurements(
    dir: &RunDir,
    intervals: &[crate::timeline::RecordedInterval],
    requests: &[RequestsRow],
) -> Result<(), RunDirError> {
    let incomplete = |path: PathBuf, message: String| RunDirError::Malformed {
        path,
        line: None,
        column: None,
        message,
    };
    if intervals.is_empty() && requests.is_empty() {
        return Err(incomplete(
            dir.latency_log_path(),
            "missing or empty, and so is requests.csv: the run measured nothing (it was \
             killed before its first second, or is still starting). Remove the directory, or \
             leave it out by naming the runs to analyse with --run ID"
                .into(),
        ));
    }
    let mut answered: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for row in requests {
        *answered.entry(row.endpoint.as_str()).or_default() += row.counts.answered();
    }
    for (endpoint, count) in answered.into_iter().filter(|(_, n)| *n > 0) {
        let recorded = intervals
            .iter()
            .any(|i| i.tag.as_deref() == Some(endpoint) && !i.values.is_empty());
        if !recorded {
            return Err(incomplete(
                dir.latency_log_path(),
                format!(
                    "has no latency for endpoint {endpoint:?}, which requests.csv counts {count} \
                     answered requests of: the log is missing, truncated or from another run. \
                     Restore it from the run's upload, or leave the run out with --run ID"
                ),
            ));
        }
    }
    Ok(())
}

/// The runs of each fleet (`loadgen run --shard I/N`) as one run, in the place of its first
/// generator; lone runs pass through. Latency intervals and request counts are kept side by
/// side (the timeline adds a second's histograms, and HDR histograms add exactly); the
/// stages' users and rates add up; the servers' telemetry is the first generator's that has
/// any, since every generator saw the same servers. A fleet with generators missing is
/// merged from those present and said so in the notes.
pub fn merge_fleets(runs: Vec<RunData>) -> (Vec<RunData>, Vec<Note>) {
    let mut merged: Vec<RunData> = Vec::new();
    let mut notes = Vec::new();
    let mut counts: Vec<(String, u32, Vec<u32>)> = Vec::new();
    for run in runs {
        let Some(shard) = run.manifest.shard.clone() else {
            merged.push(run);
            continue;
        };
        let slot = merged.iter_mut().find(|m| {
            m.manifest
                .shard
                .as_ref()
                .is_some_and(|s| s.fleet == shard.fleet)
        });
        match slot {
            Some(fleet) => absorb(fleet, run),
            None => {
                let mut first = run;
                if let Ok(id) = rundir::RunId::parse(&shard.fleet) {
                    first.manifest.run_id = id;
                }
                first.summary = None;
                merged.push(first);
            }
        }
        match counts.iter_mut().find(|(f, _, _)| *f == shard.fleet) {
            Some((_, _, seen)) => seen.push(shard.index),
            None => counts.push((shard.fleet.clone(), shard.count, vec![shard.index])),
        }
    }
    for (fleet, count, mut seen) in counts {
        seen.sort_unstable();
        seen.dedup();
        if seen.len() as u32 == count {
            notes.push(Note::FleetMerged {
                fleet,
                generators: count,
            });
        } else {
            let missing: Vec<String> = (1..=count)
                .filter(|i| !seen.contains(i))
                .map(|i| format!("{i}/{count}"))
                .collect();
            notes.push(Note::FleetIncomplete {
                fleet,
                present: seen.len(),
                missing,
            });
        }
    }
    (merged, notes)
}

/// Adds one more generator's run to a fleet's merged run.
fn absorb(fleet: &mut RunData, run: RunData) {
    let m = &mut fleet.manifest;
    // Stage offsets count from the run's start: an earlier start moves them later, so
    // that the stages keep their wall-clock times.
    if run.manifest.started_at < m.started_at {
        let shift = (m.started_at - run.manifest.started_at).whole_milliseconds() as u64;
        for stage in &mut m.stages {
            stage.start_offset_ms += shift;
        }
        m.started_at = run.manifest.started_at;
    }
    m.ended_at = match (m.ended_at, run.manifest.ended_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    m.load_model = match (&m.load_model, &run.manifest.load_model) {
        (
            rundir::LoadModel::Closed { max_users: a },
            rundir::LoadModel::Closed { max_users: b },
        ) => rundir::LoadModel::Closed { max_users: a + b },
        (
            rundir::LoadModel::Open {
                max_rate_per_sec: a,
                max_in_flight: fa,
            },
            rundir::LoadModel::Open {
                max_rate_per_sec: b,
                max_in_flight: fb,
            },
        ) => rundir::LoadModel::Open {
            max_rate_per_sec: a + b,
            max_in_flight: fa + fb,
        },
        (kept, _) => kept.clone(),
    };
    for (stage, other) in m.stages.iter_mut().zip(&run.manifest.stages) {
        let before = crate::stages::stage_level(stage);
        stage.users = match (stage.users, other.users) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        stage.rate_per_sec = match (stage.rate_per_sec, other.rate_per_sec) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        // "ramp to 3" of one generator becomes the fleet's "ramp to 10".
        if let Some(head) = stage.name.strip_suffix(&rundir::Stage::level_text(before)) {
            stage.name = format!(
                "{head}{}",
                rundir::Stage::level_text(crate::stages::stage_level(stage))
            );
        }
    }
    fleet.intervals.extend(run.intervals);
    fleet.requests.extend(run.requests);
    fleet.tasks.extend(run.tasks);
    if fleet.metrics.is_empty() {
        fleet.metrics = run.metrics;
        fleet.activities = run.activities;
    }
    if fleet.stack.is_none() {
        fleet.stack = run.stack;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(root: &Path, index: u32, started_ms: i64) -> RunData {
        let text = include_str!("../../rundir/tests/data/manifest.example.json");
        let mut manifest: Manifest = serde_json::from_str(text).unwrap();
        let started = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
            + time::Duration::milliseconds(started_ms);
        manifest.run_id = rundir::RunId::generate(started, &format!("scenario1-g{index}"));
        manifest.started_at = started;
        manifest.shard = Some(rundir::FleetShard {
            fleet: "20270115T080000Z-scenario1-fleet".into(),
            index,
            count: 2,
        });
        manifest.stages = vec![rundir::Stage {
            name: "hold 5".into(),
            start_offset_ms: 200,
            duration_ms: 10_000,
            users: Some(5),
            rate_per_sec: None,
            ramp: false,
        }];
        RunData {
            dir: RunDir::create(root, &manifest.run_id).unwrap(),
            manifest,
            summary: None,
            intervals: Vec::new(),
            requests: Vec::new(),
            metrics: Vec::new(),
            activities: Vec::new(),
            tasks: Vec::new(),
            queue: None,
            stack: None,
        }
    }

    /// The merged run starts with its earliest generator; the stages keep their wall-clock
    /// times, and the levels add up.
    #[test]
    fn a_fleet_merges_on_wall_clock_stage_times() {
        let root = tempfile::tempdir().unwrap();
        let first = generator(root.path(), 1, 0);
        let earlier = generator(root.path(), 2, -300);
        let stage_at = first.manifest.started_at + time::Duration::milliseconds(200);
        let (merged, notes) = merge_fleets(vec![first, earlier]);
        assert_eq!(merged.len(), 1);
        let m = &merged[0].manifest;
        assert_eq!(m.run_id.as_str(), "20270115T080000Z-scenario1-fleet");
        assert_eq!(m.stages[0].users, Some(10));
        assert_eq!(m.stages[0].name, "hold 10");
        assert_eq!(
            m.started_at + time::Duration::milliseconds(m.stages[0].start_offset_ms as i64),
            stage_at
        );
        assert_eq!(
            notes,
            [Note::FleetMerged {
                fleet: "20270115T080000Z-scenario1-fleet".into(),
                generators: 2
            }]
        );
    }
}
