"""The torch options study end to end: config -> one training per variant and seed -> MLflow runs -> files.

Every variant trains the same config on the same seeds (per seed: the same initial weights, batch order
and dropout masks) on the real split, in this one process, so torch and the data are loaded once; then
the first seed's trained variants' steps are timed in turn on one batch, round after round, which gives
each variant's step-time ratio to its baseline with a 95 % interval (``stats.ratio`` over the rounds).
``run_study`` is what ``pipelines/torch_options.py`` calls; tests call it directly.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from mlpbench import stats
from mlpbench.backends import Backend
from mlpbench.backends.base import initial_params
from mlpbench.config import Config, ConfigError
from mlpbench.config.sections import load_sections, validate_sections
from mlpbench.data import Dataset, check_split, load_dataset
from mlpbench.data.augment import shift_for
from mlpbench.data.identity import check_identity
from mlpbench.environment import LOAD_METRIC as LOAD, environment_tags
from mlpbench.io import write_json
from mlpbench.params import resolve
from mlpbench.run.machine import with_threads
from mlpbench.run.summary import run_name, run_params, summary_metrics
from mlpbench.torch_options.variants import (FIRST_EXTRA, NUMPY_RATIO, NUMPY_STEP, STEADY, STEP, STEP_MAX,
                                            STEP_MIN, STEP_RATIO, VARIANTS, chosen)
from mlpbench.tracking import TrackedRun, datasets, portable, resolve_tracking_uri
from mlpbench.tracking.journal import now_ms
from mlpbench.tracking.studies import prepare_study
from mlpbench.training import EpochMetrics, TrainResult, fit
from mlpbench.training.speed import interleaved

DESCRIPTION = """\
mlpbench torch options study: the torch backend trained with each of torch's own optimizations
(torch.compile, bf16 autocast, foreach and fused optimizers) and a hand-tuned step ("PyTorch tuned")
against eager float32, same config and seed, on the real split, with NumPy's step timed beside them. One run per variant; the comparison report's section "Torch's built-in
optimizations" reads them back (its run file: metrics/torch_options_run.json).
"""
VariantCallback = Callable[[int, int, str], None]  # (index, count, variant name)
MIN_TIME_S = 0.05  # a step timing repeats the step until it lasts this long
SETTLE_S = 0.3  # the pause before each step timing: the threads of the library timed before (OpenBLAS, OpenMP) stop spinning


@dataclass(frozen=True)
class StudyResult:
    setting: str
    runs: dict[str, str]  # variant name -> MLflow run id of its first seed, in the order they ran
    seed_runs: dict[str, dict[str, str]]  # variant name -> seed -> MLflow run id
    skipped: dict[str, str]  # variant name -> why it did not run
    metrics: dict[str, dict[str, float]]  # variant name -> summary metrics (MLflow keys), means over the seeds
    experiment_id: str
    uri: str  # the tracking store the runs are in


def variant_config(cfg: Config, name: str, epochs: int) -> Config:
    """``cfg`` as the torch backend runs variant ``name`` for ``epochs`` epochs (validated; the study runs the
    torch backend alone, so the registry of backends is not read: see ``config.sections``)."""
    v = VARIANTS[name]
    train = dataclasses.replace(cfg.train, device=v.device, epochs=epochs)
    torch_cfg = dataclasses.replace(cfg.torch, **v.torch_options())
    return validate_sections(dataclasses.replace(cfg, backend="torch", train=train, torch=torch_cfg))


def timing_metrics(history: list[EpochMetrics]) -> dict[str, float]:
    """The steady epoch time (median of the epochs after the first, steps only) and the first epoch's
    one-off extra (its steps and evaluation over the later epochs' median of the same): compilation
    above all."""
    later = history[1:]
    whole = statistics.median(m.epoch_time + m.eval_time for m in later)
    first = history[0]
    return {STEADY: statistics.median(m.epoch_time for m in later),
            FIRST_EXTRA: max(0.0, first.epoch_time + first.eval_time - whole)}


@dataclass(frozen=True)
class Trained:
    """A variant after training: its config, backend (weights as trained) and result."""

    cfg: Config
    backend: Backend
    result: TrainResult
    load: float  # the machine's 1-minute load average as its training ended
    start_ms: int  # when its training started and ended (its MLflow run, recorded later, keeps them)
    end_ms: int


def train_variants(configs: Mapping[str, Config], dataset: Dataset, seeds: list[int],
                   on_variant: VariantCallback | None = None) -> dict[str, list[Trained]]:
    """Train every variant on every seed (seed by seed, the variants in turn), each variant of a seed from
    that seed's initial weights; variant name -> its runs in seed order.

    The torch backend is built directly, as ``backends.build.build_backend`` builds it, so that the study
    depends on no other backend (dvc.yaml's deps follow the imports)."""
    from mlpbench.backends.torch_backend import TorchBackend
    from mlpbench.torch_options.tuned import TunedTorchBackend

    trained: dict[str, list[Trained]] = {name: [] for name in configs}
    jobs = [(seed, name) for seed in seeds for name in configs]
    for i, (seed, name) in enumerate(jobs):
        if on_variant is not None:
            on_variant(i, len(jobs), name if len(seeds) == 1 else f"{name} seed={seed}")
        cfg = configs[name]
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        start_ms = now_ms()
        make = TunedTorchBackend if VARIANTS[name].tuned else TorchBackend
        backend = make(cfg, initial_params(cfg, dataset.x_train.shape[1], cfg.data.num_classes))
        result = fit(backend, dataset, cfg.train, augment=shift_for(cfg))
        trained[name].append(Trained(cfg, backend, result, os.getloadavg()[0], start_ms, now_ms()))
    return trained


def numpy_reference(cfg: Config, dataset: Dataset) -> Backend:
    """A NumPy backend of ``cfg`` (fresh weights: a step's time does not depend on them), timed beside the
    variants as the reference the report sets them against."""
    from mlpbench.backends.numpy_backend import NumpyBackend

    cfg = dataclasses.replace(cfg, backend="numpy")  # the eager variant's config: no torch option set
    return NumpyBackend(cfg, initial_params(cfg, dataset.x_train.shape[1], cfg.data.num_classes))


def interleaved_steps(trained: Mapping[str, Trained], dataset: Dataset, batch: int, seed: int,
                      repeats: int = 7, reference: Backend | None = None) -> dict[str, dict[str, float]]:
    """Median, min and max seconds (``STEP``, ``STEP_MIN``, ``STEP_MAX``) of a training step of each
    trained variant on the same ``batch`` rows, the variants timed in turn (ABAB...), so a machine whose
    load changes slows them alike; epochs, timed one variant after another, cannot tell a faster
    variant from a quieter minute. ``STEP_RATIO`` (with ``_ci95_low``/``_high``): the step time over its
    baseline's, round by round, as ``stats.ratio`` gives it. reference: a NumPy backend timed in turn with
    them; each variant then also gets ``NUMPY_STEP`` and ``NUMPY_RATIO`` (its step over NumPy's)."""
    rows = np.random.default_rng(seed).integers(0, len(dataset.y_train), size=batch)
    every = np.arange(batch, dtype=np.int64)
    backends = {name: t.backend for name, t in trained.items()} | ({"numpy": reference} if reference else {})
    calls = {name: functools.partial(b.train_step, b.load(dataset.x_train[rows], dataset.y_train[rows]), every)
             for name, b in backends.items()}
    times = interleaved(calls, repeats, MIN_TIME_S, SETTLE_S)
    numpy_times = times.pop("numpy", None)
    out = {}
    for name, mine in times.items():
        out[name] = {STEP: statistics.median(mine), STEP_MIN: min(mine), STEP_MAX: max(mine)}
        base = VARIANTS[name].baseline
        if base in times:
            out[name] |= stats.ratio(mine, times[base]).metrics(STEP_RATIO)
        if numpy_times is not None:
            out[name] |= {NUMPY_STEP: statistics.median(numpy_times),
                          **stats.ratio(mine, numpy_times).metrics(NUMPY_RATIO)}
    return out


def _record(name: str, t: Trained, steps: Mapping[str, float], uri: str, experiment_id: str,
            tags: Mapping[str, str], seeds: int, dataset: Dataset) -> tuple[str, dict[str, float]]:
    v, cfg = VARIANTS[name], t.cfg
    run_tags = {**tags, "variant": name, "variant_label": v.label, "baseline": v.baseline,
                **{f"backend_{k}": str(value) for k, value in t.backend.info().items()}}
    title = f"{v.label} {v.device}" + (f" seed={cfg.train.seed}" if seeds > 1 else "") + f": {run_name(cfg)}"
    with TrackedRun(uri, experiment_id, title, {**run_params(cfg), "variant": name}, run_tags,
                    start_time=t.start_ms, end_time=t.end_ms) as run:
        with run.writing():  # the data inputs, as a training run logs them (the UI's Dataset column)
            datasets.log_datasets(datasets.splits_of(dataset), source=str(cfg.data.paths.processed),
                                  data_sha256=tags["data_sha256"], name=cfg.data.name)
        for m in t.result.history:
            run.log_metrics(m.as_dict(), step=m.epoch)
        metrics = {**summary_metrics(t.result), **timing_metrics(t.result.history), LOAD: t.load, **steps}
        run.log_metrics({k: v for k, v in metrics.items() if v == v})  # an interval of one round is NaN
    return run.run_id, metrics


def prepare(values: Mapping[str, Any], setting: str | None
            ) -> tuple[Config, str, dict[str, Config], dict[str, str], list[int]]:
    """(config, setting, the checked config of each variant to run, skipped variants with why, seeds); raises
    ``ConfigError`` before any training."""
    import torch

    from mlpbench.backends.torch_backend import check_options

    if setting is not None:
        values = {**values, "torch_options": {**values.get("torch_options", {}), "setting": setting}}
    cfg = with_threads(load_sections(values), n_jobs=1)
    opts = cfg.torch_options
    epochs = opts.settings[opts.setting].epochs or cfg.train.epochs
    if epochs < 2:
        raise ConfigError(f"torch_options.setting={opts.setting} trains train.epochs={epochs} epoch; the study needs "
                          "2 or more (the first holds one-off costs): set train.epochs or the setting's epochs")
    names, skipped = chosen(opts.variants, torch.cuda.is_available())
    configs = {name: variant_config(cfg, name, epochs) for name in names}
    for variant_cfg in configs.values():
        check_options(variant_cfg)
    seeds = list(range(cfg.train.seed, cfg.train.seed + opts.settings[opts.setting].seeds))
    return cfg, opts.setting, configs, skipped, seeds


def run_study(values: Mapping[str, Any], root: Path, setting: str | None = None,
              on_variant: VariantCallback | None = None) -> StudyResult:
    """Train every variant of ``torch_options`` (the composed config ``values``), time their steps in
    turn, and record each as an MLflow run in ``torch_options.experiment``.

    setting: overrides ``torch_options.setting``. Raises ``ConfigError`` before any training.
    """
    cfg, setting, configs, skipped, seeds = prepare(values, setting)
    processed, split = resolve(root, cfg.data.paths.processed), resolve(root, cfg.data.paths.split)
    check_identity(processed, split, cfg.data, root)
    check_split(split, cfg.data.split)
    dataset = load_dataset(processed, split, cfg.data.num_classes, cfg.train.dtype)
    uri = resolve_tracking_uri(root, cfg.tracking.uri, server=cfg.tracking.server)
    experiment_id = prepare_study(uri, cfg.torch_options.experiment, DESCRIPTION)
    tags = {"study": "torch_options", "setting": setting, "backend": "torch", "preset": cfg.preset,
            "dataset": cfg.data.name, "dataset_title": cfg.data.title,
            **environment_tags(root, processed, split, "torch")}
    trained = train_variants(configs, dataset, seeds, on_variant)
    steps = interleaved_steps({name: runs[0] for name, runs in trained.items()}, dataset, cfg.train.batch_size,
                              cfg.train.seed, reference=numpy_reference(configs["eager"], dataset))
    runs, seed_runs, metrics = {}, {}, {}
    for name, per_seed in trained.items():
        recorded = [_record(name, t, steps[name] if i == 0 else {}, uri, experiment_id, tags, len(seeds), dataset)
                    for i, t in enumerate(per_seed)]
        runs[name] = recorded[0][0]
        seed_runs[name] = {str(t.cfg.train.seed): run_id for t, (run_id, _) in zip(per_seed, recorded)}
        means = {key: statistics.mean(m[key] for _, m in recorded) for key in recorded[0][1]
                 if all(key in m for _, m in recorded)}  # the step timings are the first seed's alone
        metrics[name] = {**means, **steps[name]}
    return StudyResult(setting, runs, seed_runs, skipped, metrics, experiment_id, uri)


def _variants_recorded(run_file: Path) -> set[str]:
    """The variants an earlier study's run file names (none if it is missing or unreadable): the files
    in the metrics folder that the stage wrote."""
    try:
        runs = json.loads(run_file.read_text()).get("runs")
    except (OSError, ValueError, AttributeError):
        return set()
    return set(runs) if isinstance(runs, dict) else set()


def write_files(result: StudyResult, run_file: Path, metrics_dir: Path, export_dir: Path | None = None) -> None:
    """The runs' export (when ``export_dir`` is given), the run file (which MLflow runs the report reads,
    and where their export is) and one metrics file per variant, ``metrics_dir/<variant>.json``.

    Each variant's file holds the keys every stage's metrics file has (``val_acc``, ``test_acc``, ``epoch_s``),
    so `dvc metrics show` gives each variant a row under the same columns as the backends. A variant the
    previous run file names and this study lacks loses its file; no other file in ``metrics_dir`` is touched.
    """
    earlier = _variants_recorded(Path(run_file))
    study = {"study": "torch_options", "setting": result.setting, "experiment_id": result.experiment_id,
             "runs": result.runs, "seed_runs": result.seed_runs, "skipped": result.skipped}
    if export_dir is not None:
        every = [run_id for per_seed in result.seed_runs.values() for run_id in per_seed.values()]
        portable.export_runs(result.uri, every, export_dir)
        study["export"] = os.path.relpath(export_dir, Path(run_file).parent)
    for name, m in result.metrics.items():
        numbers = {"val_acc": m["final/val_acc"], "test_acc": m["test/acc"], "epoch_s": m[STEADY]}
        write_json(Path(metrics_dir) / f"{name}.json", numbers, sort_keys=False)
    for name in earlier - set(result.metrics):
        (Path(metrics_dir) / f"{name}.json").unlink(missing_ok=True)
    write_json(run_file, study, sort_keys=False)
