"""A configuration trained on several seeds: one MLflow run per seed under a parent run (the seed group).

``train.seeds`` = n trains seeds ``train.seed``, ``train.seed + 1``, ... in turn, each a full run
(params, per-epoch metrics, model, artifacts) whose parent is the group's run. The parent holds what a
reader compares: each summary metric's mean over the seeds under the same key (so the runs table lines
the group up with single runs), its standard deviation (``<key>_sd``) and 95 % interval
(``<key>_ci95_low``/``_high``, ``mlpbench.stats``), ``seeds`` (n) and the seeds' training curves in one
figure. Both backends draw a seed's initial weights and batch order from that seed alone, so the same
seed pairs their runs. With ``train.seeds=1`` a run is a single run, as without groups.

The output files are the group's: the first seed's model (the one registered) and history, the run file
naming the parent and every seed's run, the metrics file with the means and the test accuracy's spread
(``sd``), and the export of all the group's runs; written only once every seed has finished.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mlpbench import figures, slurm, stats, tracking
from mlpbench.backends import Backend
from mlpbench.backends.build import build_backend
from mlpbench.environment import environment_tags
from mlpbench.options import BACKENDS
from mlpbench.progress import Status, bar_label
from mlpbench.run.build import Prepared, prepare_run
from mlpbench.run.outputs import Staged
from mlpbench.run.record import (SHORT_NAMES, fit_logged, history_csv, log_attribution, log_inputs, log_run,
                                 metrics_file_content, op_attribution, register, step_speed, training_history)
from mlpbench.run.summary import run_name, run_params
from mlpbench.signals import sigterm_raises
from mlpbench.tracking import portable
from mlpbench.tracking.journal import JOURNAL
from mlpbench.tracking.tags import GROUP_TAG
from mlpbench.training import TrainResult
from mlpbench.training.engine import EpochCallback

SPREAD = ("final/val_acc", "test/acc", "final/train_acc", "final/val_loss", "test/loss", "time/epoch_median_s",
          "time/step_median_s")  # the parent's keys that get a spread and an interval


@dataclass
class Trained:
    """One seed's finished run; ``backend`` is kept for the first seed only (its model is the group's)."""

    seed: int
    run_id: str
    result: TrainResult
    metrics: dict[str, float]
    model_id: str
    backend: Backend | None


def seed_run_name(name: str, seed: int) -> str:
    """A seed's run under its group: the seed first (``seed=3 numpy h512-256 ...``), the part that
    tells the group's runs apart where the runs table cuts names short."""
    return f"seed={seed} {name}"


def seeds_of(prep: Prepared) -> list[int]:
    t = prep.cfg.train
    return list(range(t.seed, t.seed + t.seeds))


def with_seed(prep: Prepared, seed: int) -> Prepared:
    cfg = prep.cfg
    return dataclasses.replace(prep, cfg=dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed)))


def group_metrics(trained: list[Trained]) -> dict[str, float]:
    """The parent's metrics: every summary key's mean over the seeds, and ``SPREAD``'s sd and interval."""
    out: dict[str, float] = {"seeds": len(trained)}
    for key in trained[0].metrics:
        estimate = stats.over_seeds([t.metrics[key] for t in trained])
        out[key] = estimate.mean
        if key in SPREAD:
            out |= {f"{key}_sd": estimate.sd, **estimate.metrics(key)}
    return out


def _train_seed(run: tracking.TrackedRun, prep: Prepared, values: Mapping[str, Any], work: Path,
                status: Status, label: str, keep: bool, with_figures: bool,
                on_epoch: EpochCallback | None = None) -> Trained:
    """Fit and log one seed's run; keep its backend when ``keep`` (the group's model)."""
    cfg = prep.cfg
    backend = build_backend(cfg, prep.dataset.x_train.shape[1], cfg.data.num_classes)
    run.set_tags({f"backend_{k}": str(v) for k, v in backend.info().items()})
    result = fit_logged(run, backend, prep, status.interactive, label, on_epoch)
    status.say("timing a step, recording the model, metrics and figures in MLflow ...")
    speed = step_speed(prep).metrics()  # gemm/gflops, gemm/floor_step_s, time/step_median_s...
    run.log_metrics(speed)
    if keep:  # attribution/<group>_ms, where the step's time goes: the first seed's (the report reads one run)
        log_attribution(run, op_attribution(prep))
    with tempfile.TemporaryDirectory(dir=work, prefix=".model-") as model_dir:
        model_id, metrics = log_run(run, backend, prep, result, {**values, "train": {**values["train"],
                                    "seed": cfg.train.seed}}, work, Path(model_dir) / "model", with_figures)
    metrics |= {k: v for k, v in speed.items() if k in SPREAD}
    return Trained(cfg.train.seed, run.run_id, result, metrics, model_id, backend if keep else None)


def _write_outputs(run: tracking.TrackedRun, prep: Prepared, trained: list[Trained], seed_runs: dict[str, str],
                   short: dict[str, float]) -> dict[str, Any]:
    """Stage the group's files, register the first seed's model, export every run, then move the files in."""
    cfg, out, first = prep.cfg, prep.outputs, trained[0]
    staged = Staged(out.model_dir, out.history_file, out.run_file, out.metrics_file, out.export_dir)
    try:
        first.backend.save(staged.model_dir)
        staged.write_history(history_csv(first.result))
        identity = {"run_id": run.run_id, "experiment_id": run.experiment_id, "run_name": run.run_name,
                    "backend": cfg.backend, "preset": cfg.preset, "seed_runs": seed_runs}
        if out.export_dir is not None:
            identity["export"] = os.path.relpath(out.export_dir, out.run_file.parent)
        staged.write_run(identity)
        staged.write_metrics(metrics_file_content(short))
        staged.write_manifest({k: v for k, v in identity.items() if k != "seed_runs"})
        if cfg.tracking.registry_alias:  # last: the alias moves only to a model whose runs have everything
            register(run, first.model_id, cfg)
        if staged.export_dir is not None:  # after every write: the runs end FINISHED once this succeeds
            with run.writing():
                portable.write_export(run.uri, list(dict.fromkeys([run.run_id, *seed_runs.values()])),
                                      staged.export_dir, running_as="FINISHED")
        staged.commit()
    except BaseException:
        staged.discard()  # no outputs of a run that did not finish
        raise
    return {**short, **identity}


def train_and_track(values: Mapping[str, Any], root: Path, out_dir: Path, n_jobs: int = 1,
                    parent_run_id: str | None = None, progress: bool | None = None,
                    swept: Mapping[str, str] | None = None, cpus: int | None = None,
                    job: int | None = None, on_epoch: EpochCallback | None = None,
                    extra_tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build, fit and record one configuration on its seeds; return the summary written to the metrics file.

    values: the composed config (see conf/). Unset ``outputs.*`` paths are files in ``out_dir``.
    Invalid values raise ``ConfigError`` before any MLflow run exists. swept: a sweep job's values
    of the swept keys, shown in its run name. job: a sweep job's number, tagged ``sweep_job`` (the sweep's
    closing table finds each job's run by it). cpus: the CPUs the launcher gave this job. The summary
    holds every summary metric by its short name (``SHORT_NAMES``; a group's are means, with ``sd``)
    and the run file's identity. on_epoch: called after each logged epoch of the first seed (a search
    trial's report, which may raise ``StoppedEarly``: the runs end FINISHED, no output files written);
    extra_tags: more tags for every run (a trial's number and study).
    """
    status = Status(progress, live=n_jobs == 1)  # parallel jobs share the terminal: whole lines only
    prep = prepare_run(values, root, out_dir, n_jobs, cpus, status)
    cfg, uri, work = prep.cfg, prep.uri, Path(out_dir)
    with status.step(f"MLflow experiment {cfg.tracking.experiment}", live=False) as step:
        experiment_id = tracking.prepare(uri, cfg.tracking.experiment)
        tracking.end_orphans(uri, [experiment_id])  # runs an earlier killed process left RUNNING
        step["done"] = "ready"
    tags = {"backend": cfg.backend, "preset": cfg.preset, "dataset": cfg.data.name, "dataset_title": cfg.data.title,
            **environment_tags(root, prep.processed_dir, prep.split_dir, BACKENDS[cfg.backend].library),
            **slurm.job_tags(), **({"sweep_job": str(job)} if job is not None else {}), **(extra_tags or {})}
    name, seeds, journal = run_name(cfg, swept), seeds_of(prep), work / JOURNAL
    swept_values = tuple(f"{k}={v}" for k, v in (swept or {}).items())  # first in a bar's label
    work.mkdir(parents=True, exist_ok=True)
    with sigterm_raises():
        if len(seeds) == 1:
            with tracking.TrackedRun(uri, experiment_id, name, run_params(cfg), tags, parent_run_id,
                                     journal_file=journal) as run:
                t = _train_seed(run, prep, values, work, status, bar_label(run_name(cfg), swept_values),
                                keep=True, with_figures=True, on_epoch=on_epoch)
                short = {SHORT_NAMES[k]: v for k, v in t.metrics.items() if k in SHORT_NAMES}
                return _write_outputs(run, prep, [t], {str(t.seed): t.run_id}, short)
        group_name = f"{name} ({len(seeds)} seeds)"
        with tracking.TrackedRun(uri, experiment_id, group_name, run_params(cfg), {**tags, GROUP_TAG: "group"},
                                 parent_run_id, journal_file=journal) as group:
            log_inputs(group, prep)
            trained = []
            for i, seed in enumerate(seeds):
                with tracking.TrackedRun(uri, experiment_id, seed_run_name(name, seed),
                                         run_params(with_seed(prep, seed).cfg), {**tags, GROUP_TAG: "seed"},
                                         group.run_id, journal_file=work / f"seed-{seed}" / JOURNAL) as run:
                    label = bar_label(run_name(cfg), (*swept_values, f"seed={seed}"))
                    trained.append(_train_seed(run, with_seed(prep, seed), values, work, status, label,
                                               keep=i == 0, with_figures=False,
                                               on_epoch=on_epoch if i == 0 else None))
            metrics = group_metrics(trained)
            group.log_metrics(metrics)
            curves = {f"seed {t.seed}": training_history(t.result) for t in trained}
            group.log_artifact(figures.training_curves(curves, work / "training_curves.png",
                                                       title=f"{group_name}: one colour per seed"), "figures")
            short = {SHORT_NAMES[k]: v for k, v in metrics.items() if k in SHORT_NAMES}
            short["sd"] = metrics["test/acc_sd"]
            return _write_outputs(group, prep, trained, {str(t.seed): t.run_id for t in trained}, short)
