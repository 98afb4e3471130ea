"""Runs left RUNNING by a process that is gone (SIGKILL, a crash, a lost node) end KILLED here.

Every run records which process writes it: the tag ``mlpbench.process`` is
``<host>:<boot id>:<pid>:<start time>``, so a pid reused after the run's process died, or a reboot,
does not pass for the run's own process. ``end_orphans`` checks the RUNNING runs of this host and
ends those whose process is gone; runs of other hosts are listed, not touched (their processes
cannot be seen from here). Every training run and sweep calls it before it starts; by hand:

    python -m mlpbench.tracking.doctor            # the project's store (or MLFLOW_TRACKING_URI)
    python -m mlpbench.tracking.doctor --dry-run  # only list them
"""
from __future__ import annotations

import argparse
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

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


@dataclass(frozen=True)
class Orphan:
    run_id: str
    name: str
    experiment_id: str
    process: str
    state: str  # "gone" (ended KILLED unless dry_run) or "elsewhere"/"untagged" (left alone)


def running_runs(client: MlflowClient, experiment_ids: list[str] | None = None):
    ids = experiment_ids or [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, "attributes.status = 'RUNNING'", max_results=5000)) if ids else []


def end_orphans(uri: str, experiment_ids: list[str] | None = None, dry_run: bool = False) -> list[Orphan]:
    """Find RUNNING runs whose process is not alive; end those of this host KILLED with a reason."""
    client = MlflowClient(uri)
    found = []
    for run in running_runs(client, experiment_ids):
        tag = run.data.tags.get(PROCESS_TAG)
        state = process_state(tag) if tag else "untagged"
        if state == "alive":
            continue
        orphan = Orphan(run.info.run_id, run.info.run_name, run.info.experiment_id, tag or "?", state)
        found.append(orphan)
        if state == "gone" and not dry_run:
            client.set_tag(run.info.run_id, REASON_TAG,
                           f"its process ({tag}) was gone when checked at {time.strftime('%Y-%m-%d %H:%M:%S')}")
            client.set_terminated(run.info.run_id, "KILLED")
    return found


def main(argv=None) -> int:
    from mlpbench.tracking.runs import resolve_tracking_uri

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="tracking store (default: MLFLOW_TRACKING_URI, else mlflow.db in --root)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: the current folder)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, change nothing")
    args = parser.parse_args(argv)
    uri = resolve_tracking_uri(args.root, args.uri)
    orphans = end_orphans(uri, dry_run=args.dry_run)
    verb = {"gone": "would end KILLED" if args.dry_run else "ended KILLED",
            "elsewhere": "left RUNNING: its process is on another host", "untagged": "left RUNNING: no process tag"}
    for o in orphans:
        print(f"{o.run_id} ({o.name}): {verb[o.state]} [{o.process}]")
    print(f"{sum(o.state == 'gone' for o in orphans)} run(s) without a live process in {uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
