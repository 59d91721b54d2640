#!/usr/bin/env python3
"""The API's memory under a login flood (issue 17, item 1): peak RSS of one `target-stack api`
process while N logins arrive at once, and its RSS after the burst.

Each login names a different unknown e-mail, so none is throttled per account and every one
costs an argon2id verification (19 MiB of memory each; an unknown user gets a dummy
verification so that timing does not tell which e-mails exist). The N requests are released
together from N threads, one connection each. The API runs on embedded backends in a
temporary data directory.

    bench/login_flood.py [--logins 200] [--settle 5] [--env NAME=VALUE ...]

Prints the peak RSS (VmHWM from /proc/PID/status), the RSS when the last answer arrived and
again after --settle idle seconds, the count of answers by status (200/401/429/503, others
apart), and the time the burst took. `--env` passes settings to the API (say
`--env ANB_HASH_CONCURRENCY=4`). The binary is `$CARGO_TARGET_DIR/debug/target-stack`
(dependencies, argon2 included, are optimised in debug builds; see the workspace
Cargo.toml), or AFORO_TARGET_STACK=PATH for another build (say, the one before a change).
Every address is loopback; the run is bounded by the client's 120 s timeout.
"""

import argparse
import collections
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import ROOT

DEBUG = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
TARGET_STACK = Path(os.environ.get("AFORO_TARGET_STACK", DEBUG / "target-stack"))


def status_kib(pid, field):
    """A `VmXXX:  N kB` field of /proc/PID/status, in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def start_api(data_dir, extra_env):
    env = {
        **os.environ,
        "ANB_DATA_DIR": str(data_dir),
        "ANB_JWT_SECRET": "bench-secret-bench-secret-bench-secret-0",
        "RUST_LOG": "warn",
        **extra_env,
    }
    api = subprocess.Popen(
        [str(TARGET_STACK), "api", "--bind", "127.0.0.1:0"],
        env=env, stdout=subprocess.PIPE, text=True)
    line = api.stdout.readline()
    match = re.match(r"listening on http://(\S+)", line)
    if not match:
        api.kill()
        sys.exit(f"{TARGET_STACK} did not start: {line!r}")
    host, port = match.group(1).rsplit(":", 1)
    return api, host, int(port)


def login(host, port, index, start, answers):
    start.wait()
    body = json.dumps({"email": f"flood{index}@example.com", "password": "Not-a-user-pass-1"})
    try:
        connection = http.client.HTTPConnection(host, port, timeout=120)
        connection.request("POST", "/api/auth/login", body, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        answers.append(response.status)
        connection.close()
    except OSError as error:
        answers.append(type(error).__name__)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="idle seconds before the RSS after the burst is read")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    extra = dict(pair.split("=", 1) for pair in args.env)

    with tempfile.TemporaryDirectory() as data_dir:
        api, host, port = start_api(data_dir, extra)
        try:
            time.sleep(0.5)
            idle_kib = status_kib(api.pid, "VmRSS")
            answers = []
            start = threading.Barrier(args.logins + 1)
            threads = [threading.Thread(target=login, args=(host, port, i, start, answers))
                       for i in range(args.logins)]
            for thread in threads:
                thread.start()
            start.wait()
            began = time.monotonic()
            for thread in threads:
                thread.join()
            took = time.monotonic() - began
            end_kib = status_kib(api.pid, "VmRSS")
            time.sleep(args.settle)
            peak_kib = status_kib(api.pid, "VmHWM")
            after_kib = status_kib(api.pid, "VmRSS")
        finally:
            api.terminate()
            api.wait(timeout=30)

    counts = collections.Counter(answers)
    mib = lambda kib: f"{kib / 1024:.0f} MiB"
    print(f"{args.logins} concurrent logins (unknown users) against {TARGET_STACK}"
          + (f" with {' '.join(args.env)}" if args.env else ""))
    print(f"RSS idle before:      {mib(idle_kib)}")
    print(f"peak RSS (VmHWM):     {mib(peak_kib)}")
    print(f"RSS at the last answer: {mib(end_kib)}")
    print(f"RSS {args.settle:g} s after:      {mib(after_kib)}")
    print("answers: " + ", ".join(f"{status}: {counts.pop(status, 0)}"
                                  for status in (200, 401, 429, 503))
          + "".join(f", {other}: {n}" for other, n in sorted(counts.items(), key=str)))
    print(f"time taken:           {took:.2f} s")


if __name__ == "__main__":
    main()
