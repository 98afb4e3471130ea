"""What a run knows about the SLURM job it runs in, and stopping a sweep's SLURM jobs.

A child run is tagged with its job (``slurm_job_id``: ``<array>_<task>`` for a sweep's job array)
and node (``slurm_node``); the launcher (``hydra_plugins.mlpbench_launchers``) leaves the sweep's job ids in the
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
    """``{"slurm_job_id": ..., "slurm_node": ...}`` inside a SLURM job, else ``{}``."""
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env:
        return {}
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    else:
        job = env["SLURM_JOB_ID"]
    return {"slurm_job_id": job, "slurm_node": env.get("SLURMD_NODENAME", "")}


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


def cancel(job_ids: Iterable[str]) -> None:
    """``scancel`` the jobs (SIGTERM, then SIGKILL after SLURM's KillWait); no-op without SLURM."""
    ids = list(job_ids)
    if ids and shutil.which("scancel"):
        subprocess.run(["scancel", *ids], capture_output=True, check=False)
