"""What the performance suite's scripts share: where the release binaries are, the two
cores they are pinned to, and how a process's CPU is read."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
# The system measured runs on one core, the tool measuring it on the other.
SERVER_CORE, CLIENT_CORE = "0", "1"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of a live process, all threads; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK
