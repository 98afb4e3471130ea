"""Hydra multirun <-> MLflow: one parent run per sweep, the jobs as its child runs.

``MlflowSweepCallback`` runs in the launching process. Before any job starts it composes and
checks every job's config (a bad value in any job stops the sweep with one line naming the job and
the key), then creates the MLflow store and experiment (SQLite's schema migration races when parallel jobs create it) and
the parent run, whose id it leaves in the sweep folder for the jobs to read. The parent ends
FINISHED when the sweep completes; if the sweep dies first, an exit hook ends it FAILED (a child
failed) or KILLED (interrupted).
"""
from __future__ import annotations

import atexit
import logging
import signal
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from mlpbench import config as mlpbench_config
from mlpbench import tracking
from mlpbench.config import ConfigError
from mlpbench.signals import raise_terminated

log = logging.getLogger(__name__)
PARENT_FILE = "mlflow_parent_run_id"


def project_root(hydra_cfg: DictConfig) -> Path:
    """The folder holding conf/: the primary config source's parent."""
    for source in hydra_cfg.runtime.config_sources:
        if source.provider == "main" and source.schema == "file":
            return Path(source.path).resolve().parent
    return Path.cwd()


def parent_run_id(hydra_cfg: DictConfig) -> str | None:
    """In a multirun job: the parent run id left by the callback, if any."""
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN":
        return None
    path = Path(hydra_cfg.sweep.dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides as Hydra's basic sweeper expands them; None under another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if OmegaConf.select(config, "hydra.sweeper._target_") != "hydra._internal.core_plugins.basic_sweeper.BasicSweeper":
        return None
    parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def validate_jobs(config: DictConfig, root: Path) -> int:
    """Compose and check every job's config before the first job starts; return how many jobs.

    Raises ``ConfigError`` naming the job number, its overrides and the bad key.
    """
    from hydra.core.global_hydra import GlobalHydra

    from mlpbench.run import output_paths, preflight

    jobs = job_overrides(config)
    if jobs is None:
        return 0
    loader = GlobalHydra.instance().config_loader()
    swept = {o for job in jobs for o in job if sum(o in other for other in jobs) < len(jobs)}
    for num, overrides in enumerate(jobs):
        job = loader.load_sweep_config(config, overrides)
        with open_dict(job):
            del job["hydra"]
        try:
            cfg = mlpbench_config.load(OmegaConf.to_container(job, resolve=True))
            preflight(cfg, root, output_paths(cfg, root, Path(config.hydra.sweep.dir) / str(num)))
        except ConfigError as err:
            label = " ".join(o for o in overrides if o in swept) or " ".join(overrides) or "no overrides"
            raise ConfigError(f"job {num} ({label}): {err}") from None
    return len(jobs)


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self.uri: str | None = None
        self.run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        hc = config.hydra
        root = project_root(hc)
        try:
            n_jobs = validate_jobs(config, root)
        except ConfigError as err:  # SystemExit, not an Exception: Hydra would turn that into a warning
            log.error("sweep not started: %s", err)
            raise SystemExit(f"sweep not started: {err}") from None
        log.info("checked the config of %d jobs", n_jobs)
        track = OmegaConf.select(config, "tracking", default={}) or {}
        self.uri = tracking.resolve_tracking_uri(root, track.get("uri"))
        experiment_id = tracking.prepare(self.uri, track.get("experiment", "mlpbench"))
        sweep_dir = Path(hc.sweep.dir)
        overrides = " ".join(hc.overrides.task) or "(none)"
        self.run_id = tracking.start_parent_run(
            self.uri, experiment_id, f"sweep {sweep_dir.name}",
            {"sweep": "parent", "sweep_overrides": overrides, "sweep_dir": str(sweep_dir.resolve())},
        )
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(self.run_id + "\n")
        atexit.register(self._end_if_running)
        signal.signal(signal.SIGTERM, raise_terminated)  # unwind, so the exit hook can run
        log.info("MLflow parent run %s for sweep %s", self.run_id, sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.run_id is not None:
            tracking.end_parent_run(self.uri, self.run_id, "FINISHED")

    def _end_if_running(self) -> None:
        if self.run_id is not None:
            failed = tracking.child_statuses(self.uri, self.run_id).count("FAILED")
            tracking.end_parent_run(self.uri, self.run_id, "FAILED" if failed else "KILLED")
