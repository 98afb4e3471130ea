"""Runs left RUNNING by a process that is gone (SIGKILL, a crash, a lost node) end KILLED here.

A run whose store failed during it kept its end (status, error, time) in ``mlpbench-journal.json``
in its folder (``tracking.journal``); ``main`` records those first, searching outputs/ and multirun/
(or ``--journals``), so the run ends with the real reason rather than "process gone".

Every run records which process writes it: the tag ``mlpbench.process`` is
``<host>:<boot id>:<pid>:<start time>``, so a pid reused after the run's process died, or a reboot,
does not pass for the run's own process. ``end_orphans`` checks the RUNNING runs of this host and
ends those whose process is gone. Every training run and sweep calls it before it starts.

Runs of other hosts cannot be seen from here, except through SLURM: with ``slurm_jobs`` (the command
line does it whenever ``squeue`` is on PATH), a run of another host tagged ``slurm_job_id`` ends KILLED
when SLURM no longer lists its job (not pending, running or completing), e.g. after
``scancel --signal=KILL`` or a lost node. A run whose job is still listed, a job of another cluster
(tag ``slurm_cluster``) and a run without the tag are left alone; a ``squeue`` that does not answer
changes nothing. By hand, e.g. on a login node:

    python -m mlpbench.tracking.doctor            # the project's store (or MLFLOW_TRACKING_URI)
    python -m mlpbench.tracking.doctor --dry-run  # only list them
    python -m mlpbench.tracking.doctor --no-slurm # processes of this host only, never ask SLURM
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from mlpbench import slurm
from mlpbench.processes import process_state
from mlpbench.tracking.store import resolve_tracking_uri
from mlpbench.tracking.tags import PROCESS_TAG, REASON_TAG


# The states of a RUNNING run whose process is not seen alive; the first two end it KILLED.
WHY_ENDED = {"gone": "its process ({detail}) was gone when checked at {now}",
             "job gone": "its SLURM job ({detail}) was no longer pending or running when checked at {now}"}
LEFT_ALONE = {"elsewhere": "its process is on another host", "untagged": "no process tag",
              "other cluster": "its SLURM job ran on another cluster"}


@dataclass(frozen=True)
class Orphan:
    run_id: str
    name: str
    experiment_id: str
    detail: str  # the process tag, or the SLURM job, node and cluster
    state: str  # a key of WHY_ENDED (ended KILLED unless dry_run) or of LEFT_ALONE


def running_runs(client: MlflowClient, experiment_ids: list[str] | None = None):
    ids = experiment_ids or [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, "attributes.status = 'RUNNING'", max_results=5000)) if ids else []


def end_orphans(uri: str, experiment_ids: list[str] | None = None, dry_run: bool = False,
                slurm_jobs: bool = False) -> list[Orphan]:
    """Find RUNNING runs whose process is not alive; end those of this host KILLED with a reason.

    With ``slurm_jobs``, also those of other hosts whose SLURM job is over (raises
    ``slurm.SlurmUnavailable``, before changing anything, when SLURM cannot say).
    """
    client = MlflowClient(uri)
    runs = running_runs(client, experiment_ids)
    found = {r.info.run_id: _process_orphan(r) for r in runs}
    if slurm_jobs:  # runs this host cannot judge by their process
        found.update(_job_orphans([r for r in runs if (o := found[r.info.run_id]) and o.state in LEFT_ALONE]))
    orphans = [o for o in found.values() if o]
    if dry_run:
        return orphans
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    return [o for o in orphans if o.state in LEFT_ALONE or
            _end_killed(client, o.run_id, WHY_ENDED[o.state].format(detail=o.detail, now=now))]


def _process_orphan(run) -> Orphan | None:
    tag = run.data.tags.get(PROCESS_TAG)
    state = process_state(tag) if tag else "untagged"
    return None if state == "alive" else _orphan(run, tag or "?", state)


def _job_orphans(runs: list) -> dict[str, Orphan | None]:
    """Runs tagged ``slurm_job_id``: None while SLURM lists their job, else an orphan."""
    tagged = [r for r in runs if r.data.tags.get("slurm_job_id")]
    if not tagged:
        return {}
    here = slurm.cluster_name()
    ours = {r.info.run_id for r in tagged if r.data.tags.get("slurm_cluster") in (None, "", here)}
    gone = slurm.gone_jobs(r.data.tags["slurm_job_id"] for r in tagged if r.info.run_id in ours)
    found = {}
    for run in tagged:
        tags = run.data.tags
        if run.info.run_id not in ours:
            state = "other cluster"
        else:
            state = "job gone" if tags["slurm_job_id"] in gone else None
        detail = f"{tags['slurm_job_id']} on node {tags.get('slurm_node') or '?'} of cluster " \
                 f"{tags.get('slurm_cluster') or here}"
        found[run.info.run_id] = state and _orphan(run, detail, state)
    return found


def _orphan(run, detail: str, state: str) -> Orphan:
    return Orphan(run.info.run_id, run.info.run_name, run.info.experiment_id, detail, state)


def _end_killed(client: MlflowClient, run_id: str, why: str) -> bool:
    """End the run KILLED with ``why``, unless it ended itself since it was found RUNNING."""
    if client.get_run(run_id).info.status != "RUNNING":
        return False
    client.set_tag(run_id, REASON_TAG, why)
    client.set_terminated(run_id, "KILLED")
    return True


def main(argv=None) -> int:
    from mlpbench.tracking.health import StoreError, check_store
    from mlpbench.tracking.journal import journals, settle

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="tracking store, over MLFLOW_TRACKING_URI (default: MLFLOW_TRACKING_URI, "
                                      "else mlflow.db in --root)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: the current folder)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, change nothing")
    parser.add_argument("--no-slurm", action="store_true",
                        help="never ask SLURM (by default runs of other hosts are checked with squeue when it is on PATH)")
    parser.add_argument("--journals", type=Path, action="append",
                        help="a folder to search for the journals of runs the store failed (default: outputs/ and "
                             "multirun/ in --root; repeatable)")
    args = parser.parse_args(argv)
    folders = args.journals or [args.root / "outputs", args.root / "multirun"]
    uri = args.uri or resolve_tracking_uri(args.root)  # the store named on the command line wins
    try:
        check_store(uri, write=not args.dry_run)
    except StoreError as err:
        print(f"error: nothing changed: {err}", file=sys.stderr)
        return 1
    if args.dry_run:
        for path in journals(folders):
            print(f"would record the run's end kept in {path}")
    else:
        for line in settle(uri, folders):  # before those runs would be ended KILLED as "process gone"
            print(line)
    try:
        orphans = end_orphans(uri, dry_run=args.dry_run, slurm_jobs=not args.no_slurm and bool(shutil.which("squeue")))
    except slurm.SlurmUnavailable as err:
        print(f"error: nothing changed: {err} (or pass --no-slurm to check this host's processes only)",
              file=sys.stderr)
        return 1
    ended = "would end KILLED" if args.dry_run else "ended KILLED"
    for o in orphans:
        verb = f"left RUNNING: {LEFT_ALONE[o.state]}" if o.state in LEFT_ALONE else ended
        print(f"{o.run_id} ({o.name}): {verb} [{o.detail}]")
    print(f"{sum(o.state in WHY_ENDED for o in orphans)} run(s) without a live process or SLURM job in {uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
