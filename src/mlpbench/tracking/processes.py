"""Which process writes a run: the tag every run carries, and whether that process is still alive.

The tag ``mlpbench.process`` is ``<host>:<boot id>:<pid>:<start time>``, so a pid reused after the
run's process died, or a reboot, does not pass for the run's own process. ``runs`` tags each run it
starts; ``doctor`` ends RUNNING runs whose process is gone, and the sweep waits for live ones.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

PROCESS_TAG = "mlpbench.process"
REASON_TAG = "killed_reason"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tag(pid: int | None = None) -> str:
    """``<host>:<boot id>:<pid>:<start time>`` of ``pid`` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{_boot_id()}:{pid}:{_start_time(pid)}"


def process_state(tag: str) -> str:
    """"alive", "gone", or "elsewhere" (another host or boot: not visible from here)."""
    host, boot, pid, started = tag.rsplit(":", 3)
    if host != socket.gethostname() or boot != _boot_id():
        return "elsewhere"
    return "alive" if _start_time(int(pid)) == started else "gone"


def live_pid(tag: str) -> int | None:
    """The pid of a process tag when that process is alive on this host, else None."""
    if tag.count(":") < 3 or process_state(tag) != "alive":
        return None
    return int(tag.rsplit(":", 3)[2])
