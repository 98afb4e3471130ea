"""Record a run in MLflow: params, per-epoch metrics, data inputs, model, summary, artifacts.

``run.seeds`` calls these for each seed and then writes the output files, which are staged and moved
into place together (``run.outputs``) only after every run has everything; if anything fails none
appears, and the runs end FAILED (KILLED on a signal).
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

from mlpbench import figures, stats, tracking
from mlpbench.backends import Backend
from mlpbench.backends.build import build_backend
from mlpbench.config import Config
from mlpbench.data.augment import shift_for
from mlpbench.options import BACKENDS
from mlpbench.progress import EpochProgress
from mlpbench.run.build import Prepared
from mlpbench.environment import LOAD_METRIC as LOAD
from mlpbench.run.summary import summary_metrics
from mlpbench.tracking import datasets, models
from mlpbench.training import EpochMetrics, TrainResult, fit
from mlpbench.training.attribution import ARTIFACT, Attribution, attribute
from mlpbench.training.engine import EpochCallback
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


def metrics_file_content(short: Mapping[str, float]) -> dict[str, float]:
    """The metrics file: ``IN_METRICS_FILE`` as flat keys, the same in every train and tutorial stage's file.

    Shared keys make `dvc metrics show` a table of one row per file and four columns (``epoch_s``, ``sd``,
    ``test_acc``, ``val_acc``) that fits 120 columns; `dvc exp show` then names each column by its file
    (``metrics/numpy.json:val_acc``), which says the backend. A seed group's file holds the means and,
    after the test accuracy, its standard deviation over the seeds (``sd``).
    """
    keys = [k for key in IN_METRICS_FILE for k in (key, *(("sd",) if key == "test_acc" else ())) if k in short]
    return {key: short[key] for key in keys}


def history_csv(result: TrainResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_FIELDS)
    for m in result.history:
        writer.writerow([m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.lr, m.epoch_time, m.samples_per_s])
    return out.getvalue()


def _log_artifacts(run: tracking.TrackedRun, values: Mapping[str, Any], result: TrainResult, history: str,
                   work: Path, with_figures: bool) -> None:
    run.log_text(yaml.safe_dump(dict(values), sort_keys=False), "config.yaml")
    run.log_text(history, "history.csv")
    run.log_dict({"labels": list(range(len(result.confusion))), "matrix": result.confusion.tolist()},
                 "confusion_matrix.json")
    if result.test_correct is not None:  # which test images it got wrong: the report's McNemar test pairs runs on them
        run.log_dict(stats.errors_record(result.test_correct), stats.ERRORS_FILE)
    if with_figures:
        curves = training_history(result)
        run.log_artifact(figures.training_curves({run.run_name: curves}, work / "training_curves.png"), "figures")
        run.log_artifact(figures.confusion(result.confusion, work / "confusion_matrix.png"), "figures")


def training_history(result: TrainResult) -> dict[str, list[float]]:
    """The per-epoch curves ``figures.training_curves`` draws."""
    hist = {"epoch": [m.epoch for m in result.history]}
    for key, attr in (("train/loss", "train_loss"), ("val/loss", "val_loss"), ("train/acc", "train_acc"), ("val/acc", "val_acc")):
        hist[key] = [getattr(m, attr) for m in result.history]
    return hist


def log_inputs(run: tracking.TrackedRun, prep: Prepared) -> None:
    """The data set's splits as the run's dataset inputs (``<name>-training`` ...: the runs table's Dataset
    column), for a seed's run and for its group's, whose row the table shows first."""
    with run.writing():
        datasets.log_datasets(datasets.splits_of(prep.dataset), source=str(prep.cfg.data.paths.processed),
                              data_sha256=run.tags["data_sha256"], name=prep.cfg.data.name)


def fit_logged(run: tracking.TrackedRun, backend: Backend, prep: Prepared, progress: bool | None,
               label: str, on_epoch: EpochCallback | None = None) -> TrainResult:
    """Fit with each epoch's metrics logged as it ends, with the machine's load (``LOAD``) beside its time;
    progress: the bar (None: in a terminal), label: its description; on_epoch: called after the epoch is
    logged (a search trial's report to its study, which may stop the fit)."""
    bar = EpochProgress(prep.cfg.train.epochs, label, interactive=progress)

    def logged(m: EpochMetrics) -> None:
        run.log_metrics({**m.as_dict(), LOAD: os.getloadavg()[0]}, step=m.epoch)
        bar.on_epoch(m)
        if on_epoch is not None:
            on_epoch(m)

    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        augment = shift_for(prep.cfg)
        return fit(backend, prep.dataset, prep.cfg.train, on_step=bar.on_step, on_epoch=logged, augment=augment)


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


def op_attribution(prep: Prepared) -> Attribution:
    """The step's time op by op, in groups both backends share, on a fresh backend of the run's config (as
    ``step_speed``), instrumented blocks timed in turn with plain steps (a few seconds)."""
    cfg, data = prep.cfg, prep.dataset
    probe = build_backend(cfg, data.x_train.shape[1], cfg.data.num_classes)
    rows = slice(0, cfg.train.batch_size)
    return attribute(probe, data.x_train[rows], data.y_train[rows], cfg.train.batch_size, seed=cfg.train.seed)


def log_attribution(run: tracking.TrackedRun, attribution: Attribution) -> None:
    """``attribution/<group>_ms`` per group and the raw profile (``attribution/ops.json``)."""
    run.log_metrics(attribution.metrics())
    run.log_dict(attribution.record(), ARTIFACT)


def log_run(run: tracking.TrackedRun, backend: Backend, prep: Prepared, result: TrainResult,
            values: Mapping[str, Any], work: Path, model_dir: Path, with_figures: bool = True) -> tuple[str, dict]:
    """Log one trained run: the data splits, the model (saved into ``model_dir`` first), the summary
    (linked to the model) and the artifacts. Returns (the logged model's id, the summary metrics)."""
    cfg, data = prep.cfg, prep.dataset
    log_inputs(run, prep)
    metrics = summary_metrics(result)
    backend.save(model_dir)
    with run.writing():
        model_id = backend.log_model(models, model_dir, data.x_val[:5], models.model_name(cfg.backend, cfg.preset))
        models.log_model_metrics(metrics, model_id)  # the summary, test metrics included, on the model
    _log_artifacts(run, values, result, history_csv(result), work, with_figures)
    return model_id, metrics
