//! A scenario-2 cell's files beyond the summary: its manifest, `queue.csv`, the tasks'
//! histograms in `latency.hlog`, and the matrix's index.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use capacity_model::worker::{WorkerRun, histogram_of, micros, worker_summary};
use hdrhistogram::Histogram;
use rundir::{
    HostInfo, LatencyLogWriter, LoadModel, Manifest, QueueRow, RunDir, RunId, StackKind, Stage,
    Target, TaskStatus, TasksRow, ToolVersions, WorkerSummary, Workload,
};
use scenarios::scenario2::{Cell, Injection};
use time::OffsetDateTime;

use super::{CellResult, QueueSample, Scenario2Plan};
use crate::target::LocalTarget;

/// Where the cell's tasks went: the local stack loadgen started, or `--host`.
pub(super) fn target(url: &str, local: Option<&LocalTarget>) -> Target {
    Target {
        url: url.to_string(),
        stack: match local {
            Some(t) => StackKind::Local {
                data_dir: Some(t.data_dir.display().to_string()),
            },
            None => StackKind::External,
        },
    }
}

/// The cell's manifest: its arrivals as the load model and stages, its video and worker
/// pool as the workload.
pub(super) fn manifest(
    plan: &Scenario2Plan,
    cell: &Cell,
    run_id: &RunId,
    target: Target,
    started: OffsetDateTime,
    injection: &Injection,
    workload: Workload,
) -> Manifest {
    let (load_model, stages) = match injection {
        Injection::KeepInSystem { backlog, .. } => (
            LoadModel::Closed {
                max_users: *backlog as u32,
            },
            Vec::new(),
        ),
        Injection::Rate { per_minute, .. } => (
            LoadModel::Open {
                max_rate_per_sec: per_minute / 60.0,
                max_in_flight: u32::MAX,
            },
            Vec::new(),
        ),
        Injection::Staircase { rates, step } => (
            LoadModel::Open {
                max_rate_per_sec: rates.iter().cloned().fold(0.0, f64::max) / 60.0,
                max_in_flight: u32::MAX,
            },
            rates
                .iter()
                .enumerate()
                .map(|(k, rate)| Stage {
                    name: format!("step{}", k + 1),
                    start_offset_ms: (step.as_millis() as u64) * k as u64,
                    duration_ms: step.as_millis() as u64,
                    users: None,
                    rate_per_sec: Some(rate / 60.0),
                    ramp: false,
                })
                .collect(),
        ),
    };
    Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: run_id.clone(),
        scenario: "scenario2".into(),
        profile: cell.mode.as_str().into(),
        load_model,
        target,
        started_at: started,
        ended_at: None,
        time_scale: 1.0,
        stages,
        thresholds: Vec::new(),
        tool: ToolVersions {
            aforo: env!("CARGO_PKG_VERSION").to_string(),
            goose: "-".to_string(),
            hdrhistogram: "7".to_string(),
        },
        host: HostInfo::current(),
        workload,
        command_line: plan.command_line.clone(),
        shard: None,
    }
}

/// `queue.csv`'s rows: the samples, each with the tasks finished by then.
fn queue_rows(samples: &[QueueSample], rows: &[TasksRow]) -> Vec<QueueRow> {
    let mut finishes: Vec<OffsetDateTime> = rows.iter().filter_map(|r| r.finished_at).collect();
    finishes.sort();
    samples
        .iter()
        .map(|s| QueueRow {
            at: s.at,
            visible: s.visible,
            in_flight: s.in_flight,
            enqueued: s.enqueued,
            finished: finishes.partition_point(|f| *f <= s.at) as u64,
            step: Some(s.step as u32),
            injecting: Some(s.injecting),
        })
        .collect()
}

/// `queue.csv` from the samples.
pub fn write_queue_csv(
    path: &Path,
    samples: &[QueueSample],
    rows: &[TasksRow],
) -> anyhow::Result<()> {
    rundir::write_queue(
        BufWriter::new(File::create(path)?),
        &queue_rows(samples, rows),
    )?;
    Ok(())
}

/// The cell's figures from its files as written (the manifest, tasks.csv, queue.csv and
/// metrics.csv), computed as the analyzer computes them.
pub fn figures_of(dir: &RunDir) -> anyhow::Result<WorkerSummary> {
    let read = |path: PathBuf| {
        File::open(&path)
            .map(BufReader::new)
            .with_context(|| format!("cannot read back {}", path.display()))
    };
    let manifest = dir.read_manifest()?;
    let tasks = rundir::read_tasks(read(dir.tasks_path())?)?;
    let queue = rundir::read_queue(read(dir.path().join(rundir::QUEUE_FILE))?)?;
    let metrics = match dir.metrics_path() {
        path if path.exists() => rundir::read_metrics(read(path)?)?,
        _ => Vec::new(),
    };
    Ok(worker_summary(&WorkerRun {
        manifest: &manifest,
        tasks: &tasks,
        queue: &queue,
        metrics: &metrics,
    })?)
}

/// Queue wait and service time per task, in `latency.hlog` under the tags `task_wait` and
/// `task_service`, one interval per second of the tasks' finish times.
pub fn write_task_histograms(
    dir: &RunDir,
    start: SystemTime,
    rows: &[TasksRow],
) -> anyhow::Result<()> {
    let mut writer =
        LatencyLogWriter::new(BufWriter::new(File::create(dir.latency_log_path())?), start)?;
    let start_at = OffsetDateTime::from(start);
    let mut seconds: BTreeMap<i64, (Histogram<u64>, Histogram<u64>)> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.status == TaskStatus::Processed) {
        let (Some(finish), Some(wait), Some(service)) =
            (row.finished_at, row.wait(), row.service())
        else {
            continue;
        };
        let second = (finish - start_at).whole_seconds().max(0);
        let entry = seconds.entry(second).or_insert_with(|| {
            (
                histogram_of(std::iter::empty()),
                histogram_of(std::iter::empty()),
            )
        });
        entry.0.saturating_record(micros(wait));
        entry.1.saturating_record(micros(service));
    }
    for (second, (wait, service)) in &seconds {
        let at = start + Duration::from_secs(*second as u64);
        writer.write_interval("task_wait", at, Duration::from_secs(1), wait)?;
        writer.write_interval("task_service", at, Duration::from_secs(1), service)?;
    }
    writer.flush()?;
    Ok(())
}

/// `scenario2-matrix-<time>.json` in the output directory: every cell with its run id.
pub(super) fn write_index(out: &Path, results: &[CellResult]) -> anyhow::Result<PathBuf> {
    let cells: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "cell": r.cell.label(),
                "run_id": r.run_id.to_string(),
                "size_bytes": r.cell.size_bytes,
                "concurrency": r.cell.concurrency,
                "mode": r.cell.mode.as_str(),
                "passed": r.passed,
                "summary": r.summary,
            })
        })
        .collect();
    let path = out.join(format!(
        "scenario2-matrix-{}.json",
        rundir::stamp(OffsetDateTime::now_utc())
    ));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&serde_json::json!({ "cells": cells }))?,
    )?;
    Ok(path)
}
