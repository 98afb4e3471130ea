"""Hydra's submitit launchers (``hydra-submitit-launcher``), made safe for a sweep of MLflow runs.

``conf/hydra/launcher/slurm.yaml`` and ``local.yaml`` point ``_target_`` here (Hydra takes launchers
only from the ``hydra_plugins`` package). Two changes
to the stock plugin, both about ending every run honestly:

- In the job, a stop (SIGTERM from ``scancel`` or the time limit, SIGUSR2 before it, Ctrl-C) ends
  the run KILLED and then leaves as an ordinary error, so submitit writes the job's result file and
  the sweep sees that the job ended (the stock plugin leaves no result, and without SLURM
  accounting the sweep would wait for it forever).
- The SLURM sweep waits for all its jobs, then reports those that did not finish, instead of giving up
  at the first: one cancelled job does not abandon the others' runs. It tells "done" from the result
  files and ``squeue``, never ``sacct``, so it works, quietly, on clusters without accounting.
  The job ids are left in the sweep folder (``slurm_job_ids``) for the sweep's exit hook, which
  cancels them if the sweep itself is stopped.

There are two ``hydra_plugins`` folders: this one is installed with the package (pyproject's package
search covers ``src/``), so a job's process imports the launchers whatever its working folder;
``hydra_plugins/`` at the repository root registers the config schema for DVC's own composition
(``dvc exp run -S``), which looks for plugins in the repository root.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as stock
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from mlpbench import slurm
from mlpbench.signals import Terminated

log = logging.getLogger(__name__)
POLL_S = 2.0
GONE_GRACE_S = 30.0  # a job that left squeue gets this long to show its result file (shared file systems lag)


class JobStopped(RuntimeError):
    """A job's run was stopped (signal); raised as an ordinary error so submitit records it."""


class _StopsCleanly:
    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        try:
            return super().__call__(*args, **kwargs)  # type: ignore[misc]
        except (Terminated, KeyboardInterrupt) as err:
            raise JobStopped(f"the job was stopped: {err or 'Ctrl-C'}; its MLflow run ended KILLED") from None


class LocalLauncher(_StopsCleanly, stock.LocalLauncher):
    """``hydra/launcher=local``: jobs as local processes through submitit."""


class SlurmLauncher(_StopsCleanly, stock.SlurmLauncher):
    """``hydra/launcher=slurm``: one SLURM job array per sweep."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        executor = submitit.AutoExecutor(cluster="slurm", folder=self.params["submitit_folder"],
                                         slurm_max_num_timeout=self.params.get("max_num_timeout", 0))
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in queue_keys else f"slurm_{k}": v for k, v in self.params.items()
                                      if k not in ("submitit_folder", "max_num_timeout")})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        args = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*args))
        slurm.write_job_ids(sweep_dir, [j.job_id for j in jobs])
        log.info("SLURM jobs %s; sweep folder %s", ", ".join(j.job_id for j in jobs), sweep_dir)
        _wait(jobs)
        return _collect(jobs, initial_job_idx)


def _wait(jobs: list) -> None:
    """Until every job has a result file or has been gone from squeue for ``GONE_GRACE_S``."""
    gone_since: dict[str, float] = {}
    while True:
        pending = [j for j in jobs if not j.paths.result_pickle.exists()]
        if not pending:
            return
        live, now = slurm.live_jobs(j.job_id for j in pending), time.monotonic()
        for j in pending:
            if j.job_id in live:
                gone_since.pop(j.job_id, None)
            else:
                gone_since.setdefault(j.job_id, now)
        if all(now - gone_since.get(j.job_id, now) >= GONE_GRACE_S for j in pending):
            return
        time.sleep(POLL_S)


def _collect(jobs: list, first_idx: int) -> list[JobReturn]:
    """Each job's ``JobReturn``; raise one error naming every job that ended without a result."""
    returns, lost = [], []
    for num, job in enumerate(jobs, start=first_idx):
        if not job.paths.result_pickle.exists():
            lost.append(f"job {num} (SLURM {job.job_id}): ended without a result (killed, cancelled or lost node); "
                        f"log {job.paths.stderr}")
            continue
        try:
            returns.append(job.results()[0])
        except Exception as err:  # the job raised: its last line says why
            lost.append(f"job {num} (SLURM {job.job_id}): {_last_line(str(err))}")
    if lost:
        raise RuntimeError(f"{len(lost)} of {len(jobs)} SLURM jobs did not finish: " + "; ".join(lost))
    return returns


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    for line in reversed(lines):
        if not line.startswith(("You can check", "or at paths", "- /")):
            return line
    return text.strip()[:300]
