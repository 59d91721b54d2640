#!/usr/bin/env python3
"""The performance suite's P5 (docs/performance.md): the worker's wall time per video
against the bare ffmpeg command it runs, on the same input and the same CPU (one core's
worth: the local stack gives its worker instance a 1.0 CPU quota, and the bare command runs
under the same quota).

The worker side is a scenario-2 sustained cell (`loadgen run scenario2 --size S
--concurrency 1 --tasks N`): each task's started → finished in tasks.csv is the worker's
whole handling of one video (fetch from storage, render, store, record). The bare side is
`target-stack render INPUT OUTPUT --print-command` run as it is, N times.

    bench/worker.py [--size 50MB] [--tasks 4]

Needs `cargo build --release -p target-stack -p loadgen` and ffmpeg.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchlib import RELEASE

LOADGEN, TARGET_STACK = RELEASE / "loadgen", RELEASE / "target-stack"
PAYLOADS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aforo" / "payloads"


def one_cpu_group():
    """A cgroup limited to one CPU's worth, as the stack's instances are; None where the
    machine does not allow it (then the bare command is pinned to one core instead)."""
    name = f"aforo-bench-{os.getpid()}"
    for base, files in (
        (Path("/sys/fs/cgroup"), {"cpu.max": "100000 100000"}),
        (Path("/sys/fs/cgroup/cpu"), {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"}),
    ):
        group = base / name
        try:
            if not (base / "cgroup.procs").exists():
                continue
            group.mkdir()
            for file, value in files.items():
                (group / file).write_text(value)
            return group
        except OSError:
            try:
                group.rmdir()
            except OSError:
                pass
    return None


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="50MB")
    parser.add_argument("--tasks", type=int, default=4)
    args = parser.parse_args()
    for binary in (LOADGEN, TARGET_STACK):
        if not binary.is_file():
            sys.exit(f"{binary} is missing: cargo build --release -p target-stack -p loadgen")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        print(f"worker: scenario 2, {args.size}, concurrency 1, {args.tasks} tasks…", flush=True)
        run = subprocess.run(
            [str(LOADGEN), "run", "scenario2", "--size", args.size, "--concurrency", "1",
             "--mode", "sustained", "--tasks", str(args.tasks), "--out", str(scratch / "runs")],
            capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"loadgen failed:\n{run.stderr[-3000:]}")
        run_dir = next(p for p in (scratch / "runs").iterdir() if (p / "tasks.csv").exists())
        with open(run_dir / "tasks.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["status"] == "processed"]
        worker = [(parse_time(r["finished_at"]) - parse_time(r["started_at"])).total_seconds()
                  for r in rows]
        if not worker:
            sys.exit(f"no processed task in {run_dir / 'tasks.csv'}")
        size = int(rows[0]["size_bytes"])
        # loadgen caches the input it generated under the size asked for; the file itself is
        # that size give or take a container's rounding, and tasks.csv has its exact size.
        payload = next((p for p in PAYLOADS.glob("synthetic-*.mp4") if p.stat().st_size == size),
                       None)
        if payload is None:
            sys.exit(f"no {size}-byte input in {PAYLOADS}; loadgen should have cached it there")

        command = subprocess.run(
            [str(TARGET_STACK), "render", str(payload), str(scratch / "bare.mp4"),
             "--print-command"], capture_output=True, text=True, check=True).stdout.strip()
        group = one_cpu_group()
        how = f"cgroup {group} (1.0 CPU)" if group else "taskset -c 1 (the machine refuses a quota)"
        bare = []
        for _ in rows:
            def enter():
                if group:
                    (group / "cgroup.procs").write_text(str(os.getpid()))
            wrapped = command if group else f"taskset -c 1 {command}"
            started = time.monotonic()
            subprocess.run(["bash", "-c", wrapped], check=True, preexec_fn=enter)
            bare.append(time.monotonic() - started)
        if group:
            group.rmdir()

    w, b = statistics.median(worker), statistics.median(bare)
    print(f"\nP5: one {size / 1e6:.0f} MB video, {len(worker)} tasks; bare ffmpeg under {how}\n")
    print("| what | median s | runs (s) |")
    print("|---|---|---|")
    print(f"| worker, started → finished | {w:.2f} | {', '.join(f'{x:.2f}' for x in worker)} |")
    print(f"| bare ffmpeg, same command and input | {b:.2f} | {', '.join(f'{x:.2f}' for x in bare)} |")
    print(f"\nworker overhead: {100 * (w / b - 1):+.1f} % (goal ≤ 5 %)")


if __name__ == "__main__":
    main()
