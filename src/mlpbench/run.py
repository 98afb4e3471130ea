"""One training run end to end: config -> data -> backend -> fit -> MLflow and output files.

This is what ``pipelines/train.py`` calls; tests call it directly with a composed config.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import resource
import statistics
from pathlib import Path
from typing import Any, Mapping

import yaml

from mlpbench import figures, model_io, tracking
from mlpbench.backends import build_backend
from mlpbench.config import RunConfig, run_config_from_dict
from mlpbench.data.loading import load_dataset
from mlpbench.environment import environment_tags
from mlpbench.io import write_json, write_text
from mlpbench.params import resolve
from mlpbench.progress import EpochProgress
from mlpbench.signals import sigterm_raises
from mlpbench.training import TrainResult, fit

HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "samples_per_s")


def run_name(cfg: RunConfig, preset: str) -> str:
    """E.g. ``numpy h512-256 relu adam lr0.001 bs128 e15`` (``tutorial`` prefix for presets)."""
    m, o, t = cfg.model, cfg.optim, cfg.train
    name = (f"{cfg.backend} h{'-'.join(map(str, m.hidden_sizes))} {m.activation} {o.name} "
            f"lr{o.lr:g} bs{t.batch_size} e{t.epochs}")
    return name if preset == "default" else f"{preset} {name}"


def with_threads(cfg: RunConfig, n_jobs: int) -> RunConfig:
    """Give each of ``n_jobs`` parallel jobs its share of the cores unless threads is set."""
    if cfg.train.threads > 0:
        return cfg
    threads = max(1, (os.cpu_count() or 1) // max(1, n_jobs))
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))


def summary_metrics(result: TrainResult) -> dict[str, float]:
    last = result.history[-1]
    return {
        "final/train_loss": last.train_loss, "final/train_acc": last.train_acc,
        "final/val_loss": last.val_loss, "final/val_acc": last.val_acc,
        "test/loss": result.test_loss, "test/acc": result.test_acc,
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "time/total_s": result.total_time,
        "time/train_s": sum(m.epoch_time for m in result.history),
        "time/epoch_median_s": statistics.median(m.epoch_time for m in result.history),
        "time/samples_per_s_median": statistics.median(m.samples_per_s for m in result.history),
        "memory/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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
    run.log_dict({"labels": list(range(10)), "matrix": result.confusion.tolist()}, "confusion_matrix.json")
    hist = {"epoch": [m.epoch for m in result.history]}
    for key, attr in (("train/loss", "train_loss"), ("val/loss", "val_loss"), ("train/acc", "train_acc"), ("val/acc", "val_acc")):
        hist[key] = [getattr(m, attr) for m in result.history]
    run.log_artifact(figures.training_curves({run.run_name: hist}, work / "training_curves.png"), "figures")
    run.log_artifact(figures.confusion(result.confusion, work / "confusion_matrix.png"), "figures")


def train_and_track(values: Mapping[str, Any], root: Path, out_dir: Path, n_jobs: int = 1,
                    parent_run_id: str | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Run one configuration and record it; return the summary written to the metrics file.

    values: the composed config as plain dicts (see conf/). Output paths under ``outputs.*``
    default to files in ``out_dir``. Invalid config values raise ``ConfigError`` before any work.
    """
    cfg = with_threads(run_config_from_dict(values), n_jobs)
    paths, outputs = values["data"]["paths"], values.get("outputs") or {}
    processed, split = resolve(root, paths["processed"]), resolve(root, paths["split"])
    model_dir = resolve(root, outputs.get("model_dir") or out_dir / "model")
    metrics_file = resolve(root, outputs.get("metrics_file") or out_dir / "metrics.json")
    history_file = resolve(root, outputs.get("history_file") or out_dir / "history.csv")
    preset = values.get("preset", "default")
    dataset = load_dataset(processed, split, cfg.train.dtype)
    track = values.get("tracking") or {}
    uri = tracking.resolve_tracking_uri(root, track.get("uri"))
    experiment_id = tracking.prepare(uri, track.get("experiment", "mlpbench"))
    tags = {"backend": cfg.backend, "preset": preset, **environment_tags(root, processed, split)}
    written: list[Path] = []
    name = run_name(cfg, preset)
    with sigterm_raises(), \
            tracking.TrackedRun(uri, experiment_id, name, _as_params(values, cfg), tags, parent_run_id) as run:
        backend = build_backend(cfg, in_features=dataset.x_train.shape[1])
        run.set_tags({f"backend_{k}": str(v) for k, v in backend.info().items()})
        bar = EpochProgress(cfg.train.epochs, name, interactive=progress)
        try:
            with contextlib.ExitStack() as stack:
                stack.callback(bar.close)
                result = fit(backend, dataset, cfg.train, on_step=bar.on_step,
                             on_epoch=lambda m: (run.log_metrics(m.as_dict(), step=m.epoch), bar.on_epoch(m)))
            metrics = summary_metrics(result)
            run.log_metrics(metrics)
            history = history_csv(result)
            _log_artifacts(run, values, result, history, out_dir)
            written += model_io.save_model(backend, cfg, model_dir)
            model_io.log_model(run, backend, cfg, model_dir, dataset.x_val[:5])
            summary = {"run_id": run.run_id, "experiment_id": experiment_id, "run_name": name,
                       "backend": cfg.backend, "preset": preset,
                       **{k.replace("/", "_"): v for k, v in metrics.items()}}
            write_text(history_file, history)
            written.append(history_file)
            write_json(metrics_file, summary)
            written.append(metrics_file)
        except BaseException:
            for path in written:  # no outputs of a run that did not finish
                path.unlink(missing_ok=True)
            raise
    return summary


def _as_params(values: Mapping[str, Any], cfg: RunConfig) -> dict[str, Any]:
    """What is logged as MLflow params: the run config (threads resolved) and the data split."""
    params = dataclasses.asdict(cfg)
    params["model"]["hidden_sizes"] = list(cfg.model.hidden_sizes)
    params["data"] = {"split": dict(values["data"]["split"])}
    params["preset"] = values.get("preset", "default")
    return params
