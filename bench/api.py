#!/usr/bin/env python3
"""The performance suite's P4 (docs/performance.md): the API's requests per second on one
core, per endpoint — login, list my videos, rankings, a 1 MB upload — with p99, on embedded
backends (SQLite, a storage directory, the local queue) and on PostgreSQL.

One `target-stack api` process is pinned to core 0: one instance, one core (tokio sizes its
runtime from the affinity, so it runs one worker thread, and argon2's blocking threads share
that core). wrk drives one endpoint at a time from core 1 with N keep-alive connections, a
closed loop that keeps the API saturated. The database is seeded first (users, videos, 80 %
of them processed, votes; one argon2 hash copied to every user) through SQL, so the
endpoints read a realistic table rather than an empty one. Requests per second are the
API's own count (`anb_http_requests_total` on /metrics) over the steady part of each run;
p99 is wrk's. With PostgreSQL the database's backends for this benchmark are pinned to
core 1 as well (on AWS, RDS is another machine), and their CPU is reported apart.

    bench/api.py [--seconds 10] [--rounds 3] [--connections 16]
                 [--backends embedded,postgres] [--endpoints login,list_videos,rankings,upload]
                 [--users 2000] [--videos 10000] [--votes 50000] [--profile DIR]

`--profile DIR` adds one run per endpoint under `perf record` (the API process only) and
prints its hottest symbols; the reports stay in DIR. `AFORO_TARGET_STACK=PATH` measures
another build of target-stack (say, the one before a change).

Needs `cargo build --release -p target-stack`, wrk (`apt-get install wrk`) and, for the
PostgreSQL rows, a server at AFORO_TEST_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres) and psql. Every address is loopback; every run
is bounded in time.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import CLIENT_CORE, RELEASE, ROOT, SERVER_CORE, cpu_seconds

# AFORO_TARGET_STACK names another build (say, the one before a change) to compare.
TARGET_STACK = Path(os.environ.get("AFORO_TARGET_STACK", RELEASE / "target-stack"))
WRK_SCRIPT = ROOT / "bench" / "wrk_percentiles.lua"
PASSWORD = "Aforo-bench-password-1"
UPLOAD_BYTES = 1_000_000
# The route templates the API labels its request counter with.
ROUTES = {
    "login": "/api/auth/login",
    "list_videos": "/api/videos",
    "rankings": "/api/public/rankings",
    "upload": "/api/videos/upload",
}
COUNTER = re.compile(r'^anb_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$')
CITIES = ["Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena"]


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def seed_sql(users, videos, votes):
    """Statements that run unchanged on SQLite and PostgreSQL. Seeded users share the hash
    of the user the benchmark signed up, so any of them logs in with PASSWORD. Videos go
    round the users; 4 in 5 are processed; votes go to processed videos only, each (video,
    user) pair once."""
    processed = videos - videos // 5
    if votes > processed * users:
        sys.exit(f"--votes {votes} is more than {processed} processed videos × {users} users")
    city = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CITIES))
    city_key = " ".join(f"WHEN {i} THEN '{c.lower()}'" for i, c in enumerate(CITIES))
    return [
        f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
        INSERT INTO users (email, password_hash, first_name, last_name, city, city_key, country,
                           created_at)
        SELECT 'seed' || i || '@example.com',
               (SELECT password_hash FROM users WHERE email = 'bench@example.com'),
               'Seed', 'User' || i, CASE i % 5 {city} END, CASE i % 5 {city_key} END,
               'Colombia', i FROM n""",
        f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {videos})
        INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key,
                            uploaded_at, processed_at, attempts)
        SELECT (SELECT MIN(id) FROM users WHERE email LIKE 'seed%') + i % {users},
               'Seed video ' || i,
               CASE WHEN i % 5 = 0 THEN 'uploaded' ELSE 'processed' END,
               'seed-task-' || i, 'originals/seed-' || i || '.mp4',
               CASE WHEN i % 5 = 0 THEN NULL ELSE 'processed/seed-' || i || '.mp4' END,
               i, CASE WHEN i % 5 = 0 THEN NULL ELSE i + 1 END, 1 FROM n""",
        # k-th processed video is the j-th video with j = k + k / 4 + 1 (skips j % 5 = 0).
        f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {votes - 1})
        INSERT INTO votes (video_id, user_id, created_at)
        SELECT (SELECT MIN(id) - 1 FROM videos) + (i % {processed}) + (i % {processed}) / 4 + 1,
               (SELECT MIN(id) FROM users WHERE email LIKE 'seed%') + (i / {processed}) % {users},
               i FROM n""",
        "ANALYZE",
    ]


class Api:
    """One API process pinned to the server core, on a fresh database."""

    def __init__(self, backend, scratch, postgres_url):
        self.backend, self.scratch = backend, scratch
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANB_", "DATABASE_URL", "AWS_", "RUST_LOG"))}
        env["ANB_DATA_DIR"] = str(scratch / "data")
        # The login endpoint's figure is its hashing capacity: one account logs in from one
        # address as fast as it can, which the login throttles would refuse (429).
        env["ANB_LOGIN_LIMIT_PER_ACCOUNT"] = env["ANB_LOGIN_LIMIT_PER_ADDRESS"] = "0"
        self.database = None
        if backend == "postgres":
            self.admin_url = postgres_url
            self.database = f"aforo_bench_{os.getpid()}"
            self.psql(f"CREATE DATABASE {self.database}")
            env["DATABASE_URL"] = postgres_url.rsplit("/", 1)[0] + "/" + self.database
            env["ANB_JWT_SECRET"] = secrets.token_hex(32)
            self.database_url = env["DATABASE_URL"]
        self.log = open(scratch / f"api-{backend}.log", "w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, str(TARGET_STACK), "api", "--bind", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            sys.exit(f"the API did not start; see {self.log.name}")
        self.url = line.removeprefix("listening on ")

    def psql(self, sql, url=None):
        out = subprocess.run(["psql", url or self.admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"psql failed on {sql[:80]!r}…:\n{out.stderr}")
        return out.stdout

    def execute(self, statements):
        if self.backend == "postgres":
            for sql in statements:
                self.psql(sql, self.database_url)
        else:
            with sqlite3.connect(self.scratch / "data" / "anb.sqlite3", timeout=30) as db:
                for sql in statements:
                    db.execute(sql)

    def db_pids(self):
        """The PostgreSQL backends serving this benchmark's database (none when embedded)."""
        if self.backend != "postgres":
            return []
        out = self.psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.database}'"
                        " AND pid <> pg_backend_pid()")
        return [int(p) for p in out.split()]

    def pin_database(self):
        """Keeps the database off the API's core, as RDS is off the instance; returns the
        backends pinned, whose CPU is then measured."""
        pids = self.db_pids()
        for pid in pids:
            try:
                os.sched_setaffinity(pid, {int(CLIENT_CORE)})
            except OSError:
                pass
        return pids

    def counts(self):
        """Requests answered so far per route: (successes, errors)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        counts = {}
        for line in text.splitlines():
            m = COUNTER.match(line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
            ok, bad = counts.get(labels["route"], (0, 0))
            if labels["status"].startswith("2"):
                ok += float(m["value"])
            else:
                bad += float(m["value"])
            counts[labels["route"]] = (ok, bad)
        return counts

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        if self.database:
            self.psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


def prepare(api, args):
    """Signs up the benchmark's user, seeds the tables, and returns each endpoint's request
    (method, headers, body file) for wrk."""
    bench = {"email": "bench@example.com", "password": PASSWORD}
    http("POST", api.url + "/api/auth/signup", {
        "first_name": "Bench", "last_name": "User", "email": bench["email"],
        "password1": PASSWORD, "password2": PASSWORD, "city": "Bogotá", "country": "Colombia"})
    api.execute(seed_sql(args.users, args.videos, args.votes))
    seeded = {"email": "seed1@example.com", "password": PASSWORD}
    # The seeded user owns videos / users videos; the benchmark's own user owns only what
    # the upload runs add, so uploads never change what list_videos reads.
    reader = http("POST", api.url + "/api/auth/login", seeded)["access_token"]
    uploader = http("POST", api.url + "/api/auth/login", bench)["access_token"]

    login_body = api.scratch / "login.json"
    login_body.write_text(json.dumps(seeded))
    boundary = "aforo-bench-" + secrets.token_hex(8)
    # An MP4 signature (a 24-byte ftyp box), then noise: the API checks the head, not the rest.
    video = (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
             + os.urandom(UPLOAD_BYTES - 24))
    form = api.scratch / "upload.form"
    form.write_bytes(
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nBench upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="video_file"; '
        f'filename="bench.mp4"\r\nContent-Type: video/mp4\r\n\r\n'.encode()
        + video + f"\r\n--{boundary}--\r\n".encode())
    return {
        "login": ("POST", "content-type: application/json", login_body),
        "list_videos": ("GET", f"authorization: Bearer {reader}", None),
        "rankings": ("GET", "", None),
        "upload": ("POST", f"authorization: Bearer {uploader}\n"
                           f"content-type: multipart/form-data; boundary={boundary}", form),
    }


def measure(api, endpoint, request, args, warmup=2.0, profile=None):
    """One wrk run against one endpoint; the API's req/s and CPU over the steady part."""
    method, headers, body = request
    env = dict(os.environ, AFORO_WRK_METHOD=method, AFORO_WRK_HEADERS=headers)
    if body:
        env["AFORO_WRK_BODY_FILE"] = str(body)
    path = ROUTES[endpoint]
    wrk = subprocess.Popen(
        ["taskset", "-c", CLIENT_CORE, shutil.which("wrk"), "-t1", f"-c{args.connections}",
         f"-d{args.seconds}s", "--timeout", "30s", "-s", str(WRK_SCRIPT), api.url + path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(warmup)
    # The same backends at both ends of the span: one that connected in between would
    # otherwise bring all its CPU into the difference.
    db_pids = api.pin_database()

    def snapshot():
        routes = api.counts()
        cpu = cpu_seconds(api.proc.pid), sum(cpu_seconds(p) for p in db_pids)
        return routes.get(path, (0, 0)), cpu, time.monotonic()

    span = args.seconds - warmup - 1.0
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(api.proc.pid),
                                 "-o", str(profile), "--", "sleep", str(span)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, (ca, da), ta = snapshot()
    time.sleep(span)
    b, (cb, db), tb = snapshot()
    out, err = wrk.communicate(timeout=args.seconds + 60)
    if perf:
        perf.wait(timeout=60)
    if wrk.returncode != 0:
        sys.exit(f"wrk failed ({wrk.returncode}) on {endpoint}:\n{err[-2000:]}")
    recorded = json.loads(out.strip().splitlines()[-1])
    elapsed = tb - ta
    # wrk backfills latencies of 2 × (its mean interval per connection) or more to correct
    # for coordinated omission; say when that can have touched the tail.
    interval = recorded["duration_us"] / max(recorded["requests"] / args.connections, 1)
    return {
        "rps": (b[0] - a[0]) / elapsed,
        "errors": (b[1] - a[1]) / elapsed,
        "api_cpu": 100 * (cb - ca) / elapsed,
        "db_cpu": 100 * (db - da) / elapsed,
        "p99_ms": recorded["p99_us"] / 1000,
        "corrected": recorded["max_us"] >= 2 * interval,
    }


def clear_uploads(api):
    """Uploads write 1 MB each; what a run stored is removed before the next (the rows and
    queued tasks stay)."""
    shutil.rmtree(api.scratch / "data" / "storage" / "originals", ignore_errors=True)


def top_symbols(data, lines=8):
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
         "--percent-limit", "1"], capture_output=True, text=True)
    (data.with_suffix(".txt")).write_text(report.stdout)
    rows = [line.rstrip(" -") for line in report.stdout.splitlines()
            if re.match(r"^\s+[0-9.]+%", line)]
    return rows[:lines]


def run_backend(backend, args, postgres_url):
    results = {e: [] for e in args.endpoints}
    with tempfile.TemporaryDirectory(prefix="aforo-bench-api-") as scratch:
        scratch = Path(scratch)
        api = Api(backend, scratch, postgres_url)
        try:
            requests = prepare(api, args)
            for round_ in range(1, args.rounds + 1):
                for endpoint in args.endpoints:
                    r = measure(api, endpoint, requests[endpoint], args)
                    clear_uploads(api)
                    results[endpoint].append(r)
                    print(f"P4 {backend:<8} round {round_} {endpoint:<12} {r['rps']:>8.0f} req/s "
                          f"p99 {r['p99_ms']:>7.1f} ms  errors {r['errors']:.1f}/s  "
                          f"API CPU {r['api_cpu']:>3.0f} %  DB CPU {r['db_cpu']:>3.0f} %",
                          flush=True)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for endpoint in args.endpoints:
                    data = args.profile / f"{backend}-{endpoint}.perf.data"
                    measure(api, endpoint, requests[endpoint], args, profile=data)
                    clear_uploads(api)
                    print(f"\nprofile {backend} {endpoint} ({data.with_suffix('.txt')}):")
                    for line in top_symbols(data):
                        print(line)
        finally:
            api.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", default="embedded,postgres")
    parser.add_argument("--endpoints", default=",".join(ROUTES))
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--videos", type=int, default=10000)
    parser.add_argument("--votes", type=int, default=50000)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    args.endpoints = [e for e in args.endpoints.split(",") if e]
    backends = [b for b in args.backends.split(",") if b]
    for name in args.endpoints:
        if name not in ROUTES:
            sys.exit(f"unknown endpoint {name!r}; endpoints are {', '.join(ROUTES)}")
    for name in backends:
        if name not in ("embedded", "postgres"):
            sys.exit(f"unknown backend {name!r}; backends are embedded, postgres")
    if args.seconds < 5:
        sys.exit("--seconds must be at least 5 (2 s of warm-up, 1 s of wind-down)")
    if not TARGET_STACK.is_file():
        sys.exit(f"{TARGET_STACK} is missing: cargo build --release -p target-stack")
    for tool in ["wrk", "taskset"] + (["psql"] if "postgres" in backends else []) + (
            ["perf"] if args.profile else []):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    postgres_url = os.environ.get("AFORO_TEST_POSTGRES_URL",
                                  "postgres://postgres@127.0.0.1:5432/postgres")

    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"data: {args.users} users, {args.videos} videos, {args.votes} votes", flush=True)
    table = []
    for backend in backends:
        for endpoint, rs in run_backend(backend, args, postgres_url).items():
            table.append((backend, endpoint, rs))

    print(f"\nP4: one API process on core {SERVER_CORE}; wrk on core {CLIENT_CORE}, "
          f"{args.connections} connections, {args.seconds} s per run, {args.rounds} rounds "
          f"(medians)\n")
    print("| backend | endpoint | req/s | rounds | p99 ms | errors/s | API CPU | DB CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for backend, endpoint, rs in table:
        med = lambda key: statistics.median(r[key] for r in rs)
        mark = " †" if any(r["corrected"] for r in rs) else ""
        db = f"{med('db_cpu'):.0f} %" if backend == "postgres" else "(in the API)"
        rounds = ", ".join(f"{r['rps']:.0f}" for r in rs)
        print(f"| {backend} | {endpoint} | {med('rps'):.0f} | {rounds} | {med('p99_ms'):.1f}{mark} | "
              f"{med('errors'):.1f} | {med('api_cpu'):.0f} % | {db} |")
    if any(r["corrected"] for _, _, rs in table for r in rs):
        print("\n† wrk's coordinated-omission correction may have added samples to this tail.")


if __name__ == "__main__":
    main()
