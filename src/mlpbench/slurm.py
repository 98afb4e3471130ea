"""What a run knows about the SLURM job it runs in, and stopping a sweep's SLURM jobs.

A child run is tagged with its job (``slurm_job_id``: ``<array>_<task>`` for a sweep's job array),
node (``slurm_node``) and cluster (``slurm_cluster``), so that ``mlpbench.tracking.doctor`` can end the
run of a job SLURM no longer runs (``gone_jobs``); the launcher (``hydra_plugins.mlpbench_launchers``) leaves the sweep's job ids in the
sweep folder, so that a stopped sweep can cancel the jobs still pending or running on any node.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Mapping

JOBS_FILE = "slurm_job_ids"  # in the sweep folder: one SLURM job id a line


def job_tags(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"slurm_job_id": ..., "slurm_node": ..., "slurm_cluster": ...}`` inside a SLURM job, else ``{}``."""
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env:
        return {}
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    else:
        job = env["SLURM_JOB_ID"]
    return {"slurm_job_id": job, "slurm_node": env.get("SLURMD_NODENAME", ""),
            "slurm_cluster": env.get("SLURM_CLUSTER_NAME", "")}


def available_cpus(env: Mapping[str, str] | None = None) -> int:
    """The CPUs this process may use: SLURM's allocation when in a job, else its CPU affinity."""
    env = os.environ if env is None else env
    if env.get("SLURM_CPUS_PER_TASK", "").isdigit():
        return int(env["SLURM_CPUS_PER_TASK"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def write_job_ids(sweep_dir: Path, job_ids: Iterable[str]) -> None:
    """Leave the sweep's job ids in its folder (replaced atomically)."""
    tmp = Path(sweep_dir) / f".{JOBS_FILE}.part"
    tmp.write_text("".join(f"{j}\n" for j in job_ids))
    os.replace(tmp, Path(sweep_dir) / JOBS_FILE)


def read_job_ids(sweep_dir: Path) -> list[str]:
    path = Path(sweep_dir) / JOBS_FILE
    return path.read_text().split() if path.is_file() else []


def live_jobs(job_ids: Iterable[str]) -> set[str]:
    """Those of ``job_ids`` that SLURM still lists (pending, running or completing)."""
    ids = list(job_ids)
    if not ids:
        return set()
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(ids)],
                         capture_output=True, text=True, check=False).stdout
    return set(out.split()) & set(ids)


class SlurmUnavailable(RuntimeError):
    """``squeue`` or ``scontrol`` could not answer (no controller reachable, not installed)."""


def _ask(command: list[str]) -> subprocess.CompletedProcess:
    if not shutil.which(command[0]):
        raise SlurmUnavailable(f"{command[0]} not found: run this on a node with the SLURM client commands")
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable(f"{command[0]} did not answer within 60 s; check SLURM_CONF and the controller") from None


def gone_jobs(job_ids: Iterable[str]) -> set[str]:
    """Those of ``job_ids`` SLURM no longer lists: not pending, running or completing.

    Unlike ``live_jobs``, a ``squeue`` that fails raises ``SlurmUnavailable`` instead of passing for
    "all gone", so a controller that does not answer never gets a live job's run ended. A single
    unknown id makes ``squeue -j`` fail with "Invalid job id specified" (several are filtered quietly).
    """
    ids = sorted(set(job_ids))
    if not ids:
        return set()
    done = _ask(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(ids)])
    if done.returncode != 0 and not (len(ids) == 1 and "Invalid job id" in done.stderr):
        raise SlurmUnavailable(f"squeue failed ({done.stderr.strip() or f'exit {done.returncode}'}); "
                               "check that SLURM_CONF points at the cluster and its controller answers")
    return set(ids) - set(done.stdout.split())


def cluster_name() -> str:
    """The name of the cluster the SLURM commands here talk to (``ClusterName`` of its configuration)."""
    done = _ask(["scontrol", "show", "config"])
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName":
            return value.strip()
    raise SlurmUnavailable(f"scontrol show config named no ClusterName ({done.stderr.strip() or 'no output'}); "
                           "check that SLURM_CONF points at the cluster and its controller answers")


def cancel(job_ids: Iterable[str]) -> None:
    """``scancel`` the jobs (SIGTERM, then SIGKILL after SLURM's KillWait); no-op without SLURM."""
    ids = list(job_ids)
    if ids and shutil.which("scancel"):
        subprocess.run(["scancel", *ids], capture_output=True, check=False)
