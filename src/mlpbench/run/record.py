"""Record a run: MLflow params, per-epoch metrics, data inputs, model, summary, artifacts, then the files.

The output files (model, history CSV, metrics JSON) are staged and moved into place together
(``run.outputs``) only after the MLflow run has everything; if anything fails none appears, and
the run ends FAILED (KILLED on a signal).
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from mlpbench import figures, slurm, tracking
from mlpbench.backends import Backend
from mlpbench.backends.build import build_backend
from mlpbench.config import Config
from mlpbench.environment import environment_tags
from mlpbench.options import BACKENDS
from mlpbench.progress import EpochProgress
from mlpbench.run.build import Prepared, prepare_run
from mlpbench.run.outputs import Staged
from mlpbench.run.summary import run_name, run_params, summary_metrics
from mlpbench.signals import sigterm_raises
from mlpbench.tracking import datasets, models, portable
from mlpbench.tracking.journal import JOURNAL
from mlpbench.training import TrainResult, fit
from mlpbench.training.speed import StepSpeed, measure_step

# Short names of the summary metrics (what train_and_track returns); the metrics file DVC reads
# holds the first three, in this order: what `dvc exp show` should open on. MLflow has them all.
SHORT_NAMES = {
    "final/val_acc": "val_acc", "test/acc": "test_acc", "time/epoch_median_s": "epoch_s",
    "final/train_acc": "train_acc", "final/train_loss": "train_loss", "final/val_loss": "val_loss",
    "test/loss": "test_loss", "best_epoch": "best_epoch", "epochs_run": "epochs",
    "time/samples_per_s_median": "samples_per_s", "time/train_s": "train_s", "time/total_s": "total_s",
    "memory/peak_rss_mb": "peak_rss_mb",
}
IN_METRICS_FILE = ("val_acc", "test_acc", "epoch_s")
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "samples_per_s")


def metrics_file_content(cfg: Config, short: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """The metrics file: ``IN_METRICS_FILE`` under one key per backend and preset (``numpy``, ``tutorial_torch``).

    `dvc exp show` labels a metric by its key alone when no other metrics file has that key, so
    nesting gives short, distinct columns (``numpy.val_acc``, ``torch.val_acc`` rather than
    ``metrics/numpy.json:val_acc``): at 120 columns its first screen shows both backends' accuracies.
    """
    group = cfg.backend if cfg.preset == "default" else f"{cfg.preset}_{cfg.backend}"
    return {group: {key: short[key] for key in IN_METRICS_FILE}}


def history_csv(result: TrainResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_FIELDS)
    for m in result.history:
        writer.writerow([m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.lr, m.epoch_time, m.samples_per_s])
    return out.getvalue()


def _log_artifacts(run: tracking.TrackedRun, values: Mapping[str, Any], result: TrainResult, history: str,
                   work: Path) -> None:
    run.log_text(yaml.safe_dump(dict(values), sort_keys=False), "config.yaml")
    run.log_text(history, "history.csv")
    run.log_dict({"labels": list(range(len(result.confusion))), "matrix": result.confusion.tolist()},
                 "confusion_matrix.json")
    hist = {"epoch": [m.epoch for m in result.history]}
    for key, attr in (("train/loss", "train_loss"), ("val/loss", "val_loss"), ("train/acc", "train_acc"), ("val/acc", "val_acc")):
        hist[key] = [getattr(m, attr) for m in result.history]
    run.log_artifact(figures.training_curves({run.run_name: hist}, work / "training_curves.png"), "figures")
    run.log_artifact(figures.confusion(result.confusion, work / "confusion_matrix.png"), "figures")


def _fit(run: tracking.TrackedRun, backend: Backend, prep: Prepared, progress: bool | None) -> TrainResult:
    bar = EpochProgress(prep.cfg.train.epochs, run.run_name, interactive=progress)
    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        return fit(backend, prep.dataset, prep.cfg.train, on_step=bar.on_step,
                   on_epoch=lambda m: (run.log_metrics(m.as_dict(), step=m.epoch), bar.on_epoch(m)))


def register(run: tracking.TrackedRun, model_id: str, cfg: Config) -> None:
    """Register the run's model under its name and move ``tracking.registry_alias`` to the new version."""
    name = models.model_name(cfg.backend, cfg.preset)
    features = math.prod(cfg.data.image_shape)
    description = (f"{BACKENDS[cfg.backend].label} MLP on {cfg.data.title}, preset {cfg.preset}. predict(x): x is "
                   f"(n, {features}) float32 pixels in [0, 1], the output (n, {cfg.data.num_classes}) float32 class "
                   f"probabilities (rows sum to 1; the argmax is the class). Alias @{cfg.tracking.registry_alias}: "
                   "the version the pipeline trained last.")
    with run.writing():
        version = models.register(model_id, name, cfg.tracking.registry_alias, description)
    run.set_tags({"registered_model": f"{name}/{version}"})


def step_speed(prep: Prepared) -> StepSpeed:
    """A training step and its GEMMs alone at the run's batch size, timed in turn (a second or less).

    Timed on a fresh backend of the same config, so the trained model's weights stay as trained.
    """
    cfg, data = prep.cfg, prep.dataset
    probe = build_backend(cfg, data.x_train.shape[1], cfg.data.num_classes)
    rows = slice(0, cfg.train.batch_size)
    sizes = (data.x_train.shape[1], *cfg.model.hidden_sizes, cfg.data.num_classes)
    return measure_step(probe, data.x_train[rows], data.y_train[rows], cfg.train.batch_size, sizes,
                        seed=cfg.train.seed)


def record(run: tracking.TrackedRun, backend: Backend, prep: Prepared, result: TrainResult,
           values: Mapping[str, Any], work: Path) -> dict[str, Any]:
    """Log the data splits, the model, the summary (linked to the model) and artifacts; write the files.

    Returns the summary: every summary metric by its short name (``SHORT_NAMES``) and the run file's identity.
    """
    cfg, out, data = prep.cfg, prep.outputs, prep.dataset
    with run.writing():
        datasets.log_datasets({"training": (data.x_train, data.y_train), "validation": (data.x_val, data.y_val),
                               "test": (data.x_test, data.y_test)},
                              source=str(cfg.data.paths.processed), data_sha256=run.tags["data_sha256"],
                              name=cfg.data.name)
    metrics = summary_metrics(result)
    short = {SHORT_NAMES[key]: value for key, value in metrics.items()}
    history = history_csv(result)
    staged = Staged(out.model_dir, out.history_file, out.run_file, out.metrics_file, out.export_dir)
    try:
        backend.save(staged.model_dir)
        with run.writing():
            model_id = backend.log_model(models, staged.model_dir, data.x_val[:5],
                                         models.model_name(cfg.backend, cfg.preset))
            models.log_model_metrics(metrics, model_id)  # the summary, test metrics included, on the model
        _log_artifacts(run, values, result, history, work)
        staged.write_history(history)
        identity = {"run_id": run.run_id, "experiment_id": run.experiment_id, "run_name": run.run_name,
                    "backend": cfg.backend, "preset": cfg.preset}
        if out.export_dir is not None:
            identity["export"] = os.path.relpath(out.export_dir, out.run_file.parent)
        staged.write_run(identity)
        staged.write_metrics(metrics_file_content(cfg, short))
        staged.write_manifest(identity)
        if cfg.tracking.registry_alias:  # last: the alias moves only to a model whose run has everything
            register(run, model_id, cfg)
        if staged.export_dir is not None:  # after every write: the run ends FINISHED once this succeeds
            with run.writing():
                portable.write_export(run.uri, [run.run_id], staged.export_dir, running_as="FINISHED")
        staged.commit()
    except BaseException:
        staged.discard()  # no outputs of a run that did not finish
        raise
    return {**short, **identity}


def train_and_track(values: Mapping[str, Any], root: Path, out_dir: Path, n_jobs: int = 1,
                    parent_run_id: str | None = None, progress: bool | None = None,
                    swept: Mapping[str, str] | None = None, cpus: int | None = None) -> dict[str, Any]:
    """Build, fit and record one configuration; return the summary written to the metrics file.

    values: the composed config (see conf/). Unset ``outputs.*`` paths are files in ``out_dir``.
    Invalid values raise ``ConfigError`` before any MLflow run exists. swept: a sweep job's values
    of the swept keys, shown in its run name. cpus: the CPUs the launcher gave this job.
    """
    prep = prepare_run(values, root, out_dir, n_jobs, cpus)
    cfg, uri = prep.cfg, prep.uri
    experiment_id = tracking.prepare(uri, cfg.tracking.experiment)
    tracking.end_orphans(uri, [experiment_id])  # runs an earlier killed process left RUNNING
    library = BACKENDS[cfg.backend].library
    tags = {"backend": cfg.backend, "preset": cfg.preset, "dataset": cfg.data.name, "dataset_title": cfg.data.title,
            **environment_tags(root, prep.processed_dir, prep.split_dir, library), **slurm.job_tags()}
    with sigterm_raises(), \
            tracking.TrackedRun(uri, experiment_id, run_name(cfg, swept), run_params(cfg), tags, parent_run_id,
                                journal_file=Path(out_dir) / JOURNAL) as run:
        backend = build_backend(cfg, prep.dataset.x_train.shape[1], cfg.data.num_classes)
        run.set_tags({f"backend_{k}": str(v) for k, v in backend.info().items()})
        result = _fit(run, backend, prep, progress)
        run.log_metrics(step_speed(prep).metrics())  # gemm/gflops, gemm/floor_step_s, time/step_median_s...
        return record(run, backend, prep, result, values, Path(out_dir))
