#!/usr/bin/env python3
"""The performance suite's generator benchmarks (docs/performance.md), P1 and P2.

P1, efficiency: nginx (one process, 13-byte body; `--server bench` for the old Rust server,
which was itself the bottleneck) pinned to core 0; against it,
pinned to core 1 and in turn, round after round: wrk, raw Goose 0.19 (one GET transaction),
and loadgen in its closed and open models with full recording. Requests per second are
counted by the server over the steady part of each run (after a warm-up), and the CPU of
both processes over the same span says which side was the bottleneck.

P2, accuracy: a server with a fixed delay and periodic stalls; the percentiles each tool
records next to the truth (what an open stream of arrivals meets, from the server's
behaviour) and to what the server itself measured.

    bench/generators.py [--seconds 10] [--rounds 3] [--users 32] [--only p1|p2]
                        [--open-rate 0.7] [--loadgen-b PATH]

`--loadgen-b` adds a second loadgen binary (another build profile, another commit) to P1's
rounds, interleaved with the first, so that both meet the same machine drift (A/B).

Needs `cargo build --release -p loadgen --bin loadgen --example bench_server --example
raw_goose` (CARGO_TARGET_DIR is honoured), wrk and nginx (`apt-get install wrk
nginx-light`). Every address is loopback; every run is bounded in time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import CLIENT_CORE, ROOT, RELEASE, SERVER_CORE, cpu_seconds

LOADGEN = RELEASE / "loadgen"
SERVER = RELEASE / "examples" / "bench_server"
GOOSE = RELEASE / "examples" / "raw_goose"
WRK_PERCENTILES = ROOT / "bench" / "wrk_percentiles.lua"
# P1's open model is offered this fraction of what wrk got in the same round, by default
# issue 18's goal (--open-rate).
OPEN_RATE = 0.7


class Server:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, str(SERVER), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def snapshot(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Nginx:
    """nginx as P1's server (issue 18): one process (no master), pinned to the server core,
    access log off, a 13-byte answer, requests counted by stub_status. It serves far more
    than any generator on one core can send, so the generator, not the server, is measured;
    the CPU columns show it (the server's core must stay below 90 %)."""

    BODY = "hello, world\n"

    def __init__(self):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).is_file():
            sys.exit("nginx is not installed: apt-get install nginx-light (or --server bench)")
        self.dir = tempfile.TemporaryDirectory(prefix="aforo-nginx-")
        probe = __import__("socket").socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        root = Path(self.dir.name)
        (root / "logs").mkdir()
        (root / "nginx.conf").write_text(f"""
daemon off;
master_process off;
worker_processes 1;
error_log {root}/logs/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp; uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location = /nginx_status {{ stub_status; }}
        location / {{ default_type text/plain; return 200 "{self.BODY.encode('unicode_escape').decode()}"; }}
    }}
}}
""")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, binary, "-p", str(root), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                self.snapshot()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"nginx did not start: {self.proc.stderr.read()[-2000:]}")

    def snapshot(self):
        import urllib.request
        with urllib.request.urlopen(f"{self.url}/nginx_status", timeout=2) as answer:
            lines = answer.read().decode().splitlines()
        # "Active connections: N" / "server accepts handled requests" / " A H R" / ...
        return {"requests": int(lines[2].split()[2])}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.dir.cleanup()


def measure(server, command, seconds, warmup=2.0):
    """Runs `command` pinned to the client core; returns steady-state req/s and CPU %."""
    tool = subprocess.Popen(["taskset", "-c", CLIENT_CORE, *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(warmup)
    a, ta = server.snapshot(), time.monotonic()
    sa, ca = cpu_seconds(server.proc.pid), cpu_seconds(tool.pid)
    time.sleep(seconds - warmup - 1.0)
    b, tb = server.snapshot(), time.monotonic()
    sb, cb = cpu_seconds(server.proc.pid), cpu_seconds(tool.pid)
    out, err = tool.communicate(timeout=3 * seconds + 60)
    if tool.returncode != 0:
        sys.exit(f"{command[0]} failed ({tool.returncode}):\n{err[-2000:]}")
    span = tb - ta
    return {
        "rps": (b["requests"] - a["requests"]) / span,
        "server_cpu": 100 * (sb - sa) / span,
        "client_cpu": 100 * (cb - ca) / span,
        "stdout": out,
    }


def loadgen(url, seconds, out, model, binary=LOADGEN):
    return [str(binary), "run", "get", "--host", url, "--param", "path=/",
            "--profile", "smoke", "--duration", f"{seconds}s", "--out", out, *model]


def p1(args):
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is not installed: apt-get install wrk")
    n, s = str(args.users), args.seconds
    tools = {
        "wrk": lambda url, out: [wrk, "-t1", f"-c{n}", f"-d{s}s", url],
        "raw Goose": lambda url, out: [str(GOOSE), url, n, str(s)],
        "loadgen closed": lambda url, out: loadgen(url, s, out, ["--users", n]),
        # A fixed rate, by default 0.7 × what wrk got in the same round (issue 18's goal): the
        # open model holds it when it sends every arrival on time, which its p99 (timed from
        # each arrival's due time) shows; one that falls behind sends fewer, later.
        "loadgen open": lambda url, out, rate: loadgen(url, s, out, ["--rate", f"{rate:.0f}",
                                                                     "--max-in-flight", n]),
    }
    if args.loadgen_b:
        b = Path(args.loadgen_b).resolve()
        tools["loadgen closed B"] = lambda url, out: loadgen(url, s, out, ["--users", n], b)
        tools["loadgen open B"] = lambda url, out, rate: loadgen(
            url, s, out, ["--rate", f"{rate:.0f}", "--max-in-flight", n], b)
    results = {name: [] for name in tools}
    for round_ in range(1, args.rounds + 1):
        for name, command in tools.items():
            server = Nginx() if args.server == "nginx" else Server()
            with tempfile.TemporaryDirectory() as out:
                if name.startswith("loadgen open"):
                    argv = command(server.url, out, args.open_rate * results["wrk"][-1]["rps"])
                else:
                    argv = command(server.url, out)
                r = measure(server, argv, s)
                if name.startswith("loadgen"):
                    run = next(Path(out).iterdir())
                    latency = json.loads((run / "summary.json").read_text())["total"]["latency_us"]
                    r["p50_ms"], r["p99_ms"] = latency["p50"] / 1000, latency["p99"] / 1000
            server.stop()
            results[name].append(r)
            latency = (f"  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                       if "p99_ms" in r else "")
            print(f"P1 round {round_} {name:<17} {r['rps']:>9.0f} req/s  "
                  f"server CPU {r['server_cpu']:>4.0f} %  client CPU {r['client_cpu']:>4.0f} %"
                  f"{latency}", flush=True)
    median = {name: statistics.median(r["rps"] for r in rs) for name, rs in results.items()}
    print(f"\nP1: {args.users} connections/users, {s} s per run, {args.rounds} rounds "
          f"(medians; server on core {SERVER_CORE}, tool on core {CLIENT_CORE})\n")
    # CPU time per request: what a request costs the tool, whether or not it filled its
    # core; "per core" compares those costs (wrk's figure is not capped by the server here).
    cost = {name: statistics.median(r["client_cpu"] / 100 / r["rps"] * 1e6 for r in rs)
            for name, rs in results.items()}
    print("| tool | offered req/s | req/s | × wrk | × raw Goose | tool CPU µs per request "
          "| × wrk per core | server CPU | tool CPU | p99 ms | bottleneck |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rs in results.items():
        server_cpu = statistics.median(r["server_cpu"] for r in rs)
        client_cpu = statistics.median(r["client_cpu"] for r in rs)
        # A process on its own core at 90 % or more is the limit; below that on both sides,
        # the round trips of the connections are (each waits for its answer).
        bottleneck = ("both CPUs (the server at its limit: this figure is a lower bound)"
                      if client_cpu >= 90 and server_cpu >= 90
                      else "tool CPU" if client_cpu >= 90
                      else "server CPU" if server_cpu >= 90
                      else "neither CPU (round trips)")
        p99 = (f"{statistics.median(r['p99_ms'] for r in rs):.2f}" if "p99_ms" in rs[0]
               else "")
        offered = ""
        if name.startswith("loadgen open"):
            rate = statistics.median(args.open_rate * r["rps"] for r in results["wrk"])
            offered = f"{rate:.0f}"
            # Held: every arrival sent (within 3 %) and on time (p99 from the due time within
            # 10 ms). Otherwise arrivals were late, and the lateness counts in the latency.
            held = median[name] >= 0.97 * rate and float(p99 or "inf") <= 10
            bottleneck = "held" if held else f"behind ({bottleneck})"
        print(f"| {name} | {offered} | {median[name]:.0f} | {median[name] / median['wrk']:.2f} | "
              f"{median[name] / median['raw Goose']:.2f} | {cost[name]:.1f} | "
              f"{cost['wrk'] / cost[name]:.2f} | {server_cpu:.0f} % | {client_cpu:.0f} % | "
              f"{p99} | {bottleneck} |")


def open_stream_truth(delay_ms, every_ms, stall_ms, q):
    """The q-quantile of what arrivals at a constant rate meet: a fraction f = stall / every
    arrive during a stall and wait for its end, uniformly 0..stall; the rest take delay."""
    f = stall_ms / every_ms
    return delay_ms if q <= 1 - f else delay_ms + stall_ms * (q - (1 - f)) / f


def p2(args):
    wrk = shutil.which("wrk")
    delay, every, stall, s = 5, 2000, 200, max(args.seconds, 10)
    behaviour = ["--delay-ms", str(delay), "--stall-every-ms", str(every), "--stall-ms", str(stall)]
    truth = {q: open_stream_truth(delay, every, stall, q) for q in (0.5, 0.99, 0.999)}
    rows = []
    for name in ("loadgen open", "loadgen closed", "wrk"):
        server = Server(*behaviour)
        with tempfile.TemporaryDirectory() as out:
            if name == "wrk":
                command = [wrk, "-t1", "-c8", f"-d{s}s", "-s", str(WRK_PERCENTILES), server.url]
            elif name == "loadgen open":
                command = loadgen(server.url, s, out, ["--rate", "200"])
            else:
                command = loadgen(server.url, s, out, ["--users", "8"])
            r = measure(server, command, s)
            served = server.snapshot()
            if name == "wrk":
                recorded = json.loads(r["stdout"].strip().splitlines()[-1])
                note = "(wrk has no warning)"
            else:
                run = next(Path(out).iterdir())
                summary = json.loads((run / "summary.json").read_text())
                latency = summary["total"]["latency_us"]
                recorded = {"p50_us": latency["p50"], "p99_us": latency["p99"],
                            "p999_us": latency["p999"]}
                note = "warns" if summary.get("model_note") else "no warning"
        server.stop()
        rows.append((name, recorded, served, note))
    print(f"\nP2: every request {delay} ms, a {stall} ms stall every {every} ms, {s} s; "
          f"truth = what a constant stream of arrivals meets\n")
    print("| tool | p50 ms | p99 ms | p99.9 ms | the server's own p50 / p99 / p99.9 ms | summary |")
    print("|---|---|---|---|---|---|")
    print(f"| truth (open stream) | {truth[0.5]:.1f} | {truth[0.99]:.1f} | {truth[0.999]:.1f} | | |")
    for name, rec, served, note in rows:
        ms = lambda v: f"{v / 1000:.1f}"
        print(f"| {name} | {ms(rec['p50_us'])} | {ms(rec['p99_us'])} | {ms(rec['p999_us'])} | "
              f"{ms(served['p50_us'])} / {ms(served['p99_us'])} / {ms(served['p999_us'])} | {note} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--only", choices=["p1", "p2"])
    parser.add_argument("--open-rate", type=float, default=OPEN_RATE,
                        help="P1's open model is offered this fraction of wrk's rate")
    # P1's server: nginx (the default) is never the bottleneck; `bench` is the Rust
    # bench_server, which saturated at 23k req/s and made every generator look alike.
    parser.add_argument("--server", choices=["nginx", "bench"], default="nginx")
    parser.add_argument("--loadgen-b", metavar="PATH",
                        help="a second loadgen binary, run in the same rounds (A/B)")
    args = parser.parse_args()
    for binary in (LOADGEN, SERVER, GOOSE):
        if not binary.is_file():
            sys.exit(f"{binary} is missing: cargo build --release -p loadgen --bin loadgen "
                     "--example bench_server --example raw_goose")
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.only in (None, "p1"):
        p1(args)
    if args.only in (None, "p2"):
        p2(args)


if __name__ == "__main__":
    main()
