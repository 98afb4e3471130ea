"""Hydra multirun <-> MLflow: one parent run per sweep, the jobs as its child runs.

``MlflowSweepCallback`` runs in the launching process. Before any job starts it composes and
checks every job's config (a bad value in any job stops the sweep with one line naming the job and
the key), creates the MLflow store and experiment (under a lock, so sweeps started together do not
race), ends runs an earlier killed process left RUNNING, and creates the parent run, named by what
it sweeps (``sweep backend=numpy,torch optim.lr=0.05,0.1``). It leaves the parent's id and the swept
keys in the sweep folder for the jobs to read (also on other nodes sharing it); each job appends its
values of those keys to its run name (``... e13 [backend=numpy optim.lr=0.05]``). Each sweep gets
its own folder (``${folder_id:}`` in ``conf/config.yaml``), so two sweeps never share a parent. Any
error here fails the sweep with one line and a non-zero exit.

The parent ends FINISHED when the sweep completes. If the sweep stops first (SIGTERM, Ctrl-C, a
job that crashed), an exit hook asks the jobs still running to stop (SIGTERM to those of this host,
``scancel`` to the SLURM jobs the launcher left in the sweep folder), ends every child still
RUNNING as KILLED, and ends the parent FAILED (a job failed) or KILLED, saying why in the tag
``sweep_end_reason``.
"""
from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any, Mapping

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from mlpbench import slurm, tracking
from mlpbench.config import ConfigError
from mlpbench.config.load import load
from mlpbench.signals import raise_terminated
from mlpbench.processes import live_pid
from mlpbench.run import outcome
from mlpbench.tracking.health import StoreError, check_store

log = logging.getLogger(__name__)
PARENT_FILE = "mlflow_parent_run_id"
SWEPT_FILE = "mlflow_swept_keys"  # the swept override keys, one a line, for the jobs' run names
NAME_MAX = 100  # characters of a parent run's name
STOP_WAIT_S = 15  # how long a stopped sweep waits for its jobs to end their runs themselves

# ${folder_id:} in hydra.sweep.dir and hydra.run.dir: a random id, resolved once per process (Hydra
# copies the cache into every job's config, as for ${now:}), so neither two sweeps nor two single runs
# started in the same second share a folder.
OmegaConf.register_new_resolver("folder_id", lambda: secrets.token_hex(3), use_cache=True, replace=True)


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


def swept_overrides(overrides: list[str]) -> list[str]:
    """The multi-valued overrides (``backend=numpy,torch``, ``optim.lr=range(...)``) of a sweep."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o.input_line for o in OverridesParser.create().parse_overrides(list(overrides)) if o.is_sweep_override()]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def sweep_name(overrides: list[str]) -> str:
    """``sweep`` and what it sweeps (else its fixed overrides), cut to ``NAME_MAX`` characters."""
    what = " ".join(swept_overrides(overrides) or overrides) or "(no overrides)"
    name = f"sweep {what}"
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1].rstrip() + "…"


def job_swept(hydra_cfg: DictConfig) -> dict[str, str]:
    """In a multirun job: its values of the swept keys the callback left in the sweep folder."""
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN":
        return {}
    path = Path(hydra_cfg.sweep.dir) / SWEPT_FILE
    keys = path.read_text().split() if path.is_file() else []
    mine = {_key(o): o.split("=", 1)[1] for o in hydra_cfg.overrides.task if "=" in o}
    return {k: mine[k] for k in keys if k in mine}


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides as Hydra's basic sweeper expands them; None under another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if OmegaConf.select(config, "hydra.sweeper._target_") != "hydra._internal.core_plugins.basic_sweeper.BasicSweeper":
        return None
    parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_label(overrides: list[str], swept: set[str]) -> str:
    """What tells a job apart: its values of the swept keys, else all its overrides."""
    return " ".join(o for o in overrides if _key(o) in swept) or " ".join(overrides) or "no overrides"


def validate_jobs(config: DictConfig, root: Path) -> list[str] | None:
    """Compose and check every job's config before the first job starts; return each job's ``job_label``
    (None under a sweeper other than Hydra's basic one, whose jobs are not known in advance).

    Raises ``ConfigError`` naming the job number, its overrides and the bad key.
    """
    jobs = job_overrides(config)
    if jobs is None:
        return None
    swept = {_key(o) for o in swept_overrides(list(config.hydra.overrides.task))}
    for num, overrides in enumerate(jobs):
        check_job(config, root, overrides, f"job {num} ({job_label(overrides, swept)})", num)
    return [job_label(overrides, swept) for overrides in jobs]


def check_job(config: DictConfig, root: Path, overrides: list[str], label: str, num: int = 0) -> None:
    """Compose and check one job's config; raise ``ConfigError`` starting with ``label``."""
    from hydra.core.global_hydra import GlobalHydra

    from mlpbench.run.build import output_paths, preflight

    job = GlobalHydra.instance().config_loader().load_sweep_config(config, overrides)
    with open_dict(job):
        del job["hydra"]
    try:
        cfg = load(OmegaConf.to_container(job, resolve=True, enum_to_str=True))
        preflight(cfg, root, output_paths(cfg, root, Path(config.hydra.sweep.dir) / str(num)))
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from None


def check_warning_time(launcher: Mapping[str, Any]) -> None:
    """Refuse a launcher whose SIGUSR2 warning would reach every job as it starts.

    submitit asks SLURM for SIGUSR2 ``signal_delay_s`` before the time limit, and SLURM may send it
    up to 60 s earlier still; a delay not below the limit stops every job before it trains.
    """
    delay, minutes = launcher.get("signal_delay_s"), launcher.get("timeout_min")
    if delay is None or minutes is None or delay < minutes * 60:
        return
    raise ConfigError(f"hydra.launcher.signal_delay_s={delay} is not below the time limit "
                      f"hydra.launcher.timeout_min={minutes} ({minutes * 60} s): SLURM would send every job its "
                      "SIGUSR2 warning as it starts, ending its run KILLED; lower signal_delay_s (SLURM may send it "
                      "up to 60 s earlier than asked) or raise timeout_min")


def _claim(sweep_dir: Path, run_id: str) -> None:
    """Write the parent-run link; refuse a folder that another sweep already claimed."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(sweep_dir / PARENT_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        other = (sweep_dir / PARENT_FILE).read_text().strip()
        raise RuntimeError(f"sweep folder {sweep_dir} already belongs to the sweep of parent run {other}; "
                           "give this sweep its own hydra.sweep.dir") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(run_id + "\n")


def write_swept(sweep_dir: Path, swept: list[str]) -> None:
    """Leave the swept keys next to the parent link (read by ``job_swept``, also on other nodes)."""
    tmp = sweep_dir / f".{SWEPT_FILE}.part"
    tmp.write_text("".join(_key(o) + "\n" for o in swept))
    os.replace(tmp, sweep_dir / SWEPT_FILE)


def _label(child: dict[str, str]) -> str:
    """A child run's name, with its SLURM job id when it ran in one."""
    return f"{child['name']} (SLURM job {child['slurm_job_id']})" if child.get("slurm_job_id") else child["name"]


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self.uri: str | None = None
        self.run_id: str | None = None
        self.sweep_dir: Path | None = None
        self.labels: list[str] | None = None  # each job's overrides, for the closing table
        self.name, self.report_uri = "", ""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and carries on: exit instead.
        try:
            self._start(config)
        except (ConfigError, StoreError) as err:
            self._fail(f"sweep not started: {err}")
        except Exception as err:
            self._fail(f"sweep not started: {type(err).__name__}: {err}")

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        if self.run_id is not None:
            tracking.end_parent_run(self.uri, self.run_id, "FAILED", message)
        raise SystemExit(message)

    def _start(self, config: DictConfig) -> None:
        hc = config.hydra
        root = project_root(hc)
        check_warning_time(hc.launcher)
        self.labels = validate_jobs(config, root)
        from mlpbench.search.plan import is_search, search_plan  # optuna: only where a sweep starts
        from mlpbench.search.study import check_resume

        if is_search(config):  # a study: its settings, space and a trial's config, before anything is created
            plan = search_plan(config, root)
            check_job(config, root, plan.overrides(plan.sample()), "a trial")
            check_resume(plan.storage, plan.settings.study_name, plan.settings.direction, plan.described())
        log.info("checked the config of %s jobs", "the" if self.labels is None else len(self.labels))
        track = OmegaConf.select(config, "tracking", default={}) or {}
        self.uri = tracking.resolve_tracking_uri(root, track.get("uri"), server=bool(track.get("server")))
        check_store(self.uri)
        experiment_id = tracking.prepare(self.uri, track.get("experiment", "mlpbench"))
        tracking.end_orphans(self.uri, [experiment_id])
        sweep_dir = self.sweep_dir = Path(hc.sweep.dir)
        overrides = " ".join(hc.overrides.task) or "(none)"
        self.name, self.report_uri = sweep_name(list(hc.overrides.task)), outcome.report_store(root)
        self.run_id = tracking.start_parent_run(
            self.uri, experiment_id, self.name,
            {"sweep": "parent", "sweep_overrides": overrides, "sweep_dir": str(sweep_dir.resolve())},
        )
        _claim(sweep_dir, self.run_id)
        write_swept(sweep_dir, swept_overrides(list(hc.overrides.task)))
        atexit.register(self._end_if_running)
        signal.signal(signal.SIGTERM, raise_terminated)  # unwind, so the exit hook can run
        log.info("MLflow parent run %s for sweep %s", self.run_id, sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.run_id is not None:
            tracking.end_parent_run(self.uri, self.run_id, "FINISHED")
            self._summarise()

    def _summarise(self) -> None:
        """Print the jobs' table and the command that builds the sweep's report."""
        try:
            runs = tracking.search_runs(self.uri, parent_run_id=self.run_id).to_dict("records")
        except Exception as err:  # the sweep has ended either way: say why there is no table, not fail it
            log.warning("no table of the sweep's jobs: %s: %s", type(err).__name__, err)
            return
        report = outcome.report_command(self.run_id, self.uri, self.report_uri)
        print("\n".join(outcome.sweep_lines(self.name, outcome.sweep_rows(self.labels, runs), report)), flush=True)

    def _end_if_running(self) -> None:
        """At exit: if the sweep did not complete, stop its jobs and end every run honestly."""
        if self.run_id is None or tracking.get_run(self.uri, self.run_id)["status"] != "RUNNING":
            return
        # SLURM jobs on any node, pending or running (hydra/launcher=slurm): scancel sends them SIGTERM
        slurm.cancel(slurm.live_jobs(slurm.read_job_ids(self.sweep_dir)) if self.sweep_dir else [])
        # a job's runs: its own, or its seed group's parent and seed runs
        running = [c for c in tracking.descendants(self.uri, self.run_id) if c["status"] == "RUNNING"]
        for pid in {live_pid(c["process"]) for c in running} - {None, os.getpid()}:
            os.kill(pid, signal.SIGTERM)  # jobs in other processes of this host: ask them to end their runs
        deadline = time.monotonic() + STOP_WAIT_S
        while running and time.monotonic() < deadline:
            time.sleep(0.5)
            running = [c for c in tracking.descendants(self.uri, self.run_id) if c["status"] == "RUNNING"]
        for child in reversed(running):  # seed runs before their group's parent
            tracking.end_killed(self.uri, child["run_id"], "the sweep stopped before this job finished")
        done = tracking.children(self.uri, self.run_id)
        failed = [c for c in done if c["status"] == "FAILED"]
        killed = [c for c in done if c["status"] == "KILLED"]
        parts = [f"{len(failed)} job(s) FAILED: " + "; ".join(f"{_label(c)}: {c['error']}" for c in failed)] if failed else []
        parts += [f"{len(killed)} job(s) KILLED: " + ", ".join(_label(c) for c in killed)] if killed else []
        reason = "the sweep stopped before all its jobs finished; " + ("; ".join(parts) or "no job had started")
        tracking.end_parent_run(self.uri, self.run_id, "FAILED" if failed else "KILLED", reason)
        self._summarise()
