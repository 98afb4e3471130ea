"""The scaling study end to end: config -> timings -> CSV, table, figures -> an MLflow run.

``run_study`` is what ``pipelines/scaling.py`` calls; tests call it directly.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mlpbench import config
from mlpbench.config.load import load
from mlpbench.environment import cpu_model, git_state
from mlpbench.io import write_text
from mlpbench.options import label
from mlpbench.params import resolve
from mlpbench.scaling.grid import points
from mlpbench.scaling.measure import RoundCallback, measure
from mlpbench.scaling.report import Provenance, markdown
from mlpbench.scaling.results import figures
from mlpbench.tracking import TrackedRun, portable, resolve_tracking_uri
from mlpbench.tracking.journal import now_ms
from mlpbench.tracking.studies import prepare_study

DESCRIPTION = """\
mlpbench scaling study: a training step of every backend timed against its own GEMM floor (only
the step's matrix products, on the backend's own BLAS), across hidden width, batch size, depth and
dtype, one axis at a time around the default point. Each run holds the CSV, the win table and
the samples/s figures; `dvc repro scaling` writes them to reports/scaling/ too.
"""


@dataclass(frozen=True)
class StudyResult:
    frame: pd.DataFrame
    csv: Path
    markdown: Path
    figures: tuple[Path, ...]
    run_id: str


def default_metrics(frame: pd.DataFrame, hidden: str, batch: int, dtype: str) -> dict[str, float]:
    """``<backend>/step_s``, ``<backend>/gemm_gflops``... at the default point, and each backend's wins."""
    at = frame[(frame["hidden_sizes"] == hidden) & (frame["batch_size"] == batch) & (frame["dtype"] == dtype)]
    metrics = {f"{r.backend}/{key}": float(getattr(r, key)) for r in at.itertuples()
               for key in ("step_s", "floor_s", "overhead_s", "gemm_share", "gemm_gflops", "samples_per_s")}
    fastest = frame.loc[frame.groupby(["dtype", "hidden_sizes", "batch_size"])["step_s"].idxmin(), "backend"]
    return metrics | {f"{b}/points_faster": float((fastest == b).sum()) for b in dict.fromkeys(frame["backend"])}


def write_results(frame: pd.DataFrame, folder: Path, data_title: str, about: Provenance) -> list[Path]:
    """``folder``/scaling.csv, scaling.md (titled with ``data_title``, headed by ``about``'s machine and date)
    and figures/*.png; returns their paths in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, md = folder / "scaling.csv", folder / "scaling.md"
    write_text(csv, frame.to_csv(index=False, float_format="%.6g"))
    pngs = figures(frame, folder / "figures")
    write_text(md, markdown(frame, pngs, folder, data_title, about))
    return [csv, md, *pngs]


def run_tags(cfg: config.Config, root: Path, info: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The study run's tags: the grid, the machine (CPU model and cores), the code's git state, the data set
    (``dataset``, ``dataset_title``, as a training run's) and each backend's BLAS, device and threads."""
    return {"study": "scaling", "grid": cfg.scaling.grid, "cpu": cpu_model(), "cpu_count": str(os.cpu_count()),
            **git_state(root), "dataset": cfg.data.name, "dataset_title": cfg.data.title,
            **{f"{key}_{name}": v for name, i in info.items() for key, v in i.items()
               if key in ("blas", "device", "threads")}}


def run_params(cfg: config.Config) -> dict[str, Any]:
    """The study run's params: the grid, the default point, the input width and the class count."""
    grid, hidden = cfg.scaling.grids[cfg.scaling.grid], "-".join(map(str, cfg.model.hidden_sizes))
    return {"grid": cfg.scaling.grid, **asdict(grid), "backends": list(cfg.backends), "hidden_sizes": hidden,
            "batch_size": cfg.train.batch_size, "dtype": cfg.train.dtype, "activation": cfg.model.activation,
            "dropout": cfg.model.dropout, "optim": cfg.optim.name,
            "input_width": math.prod(cfg.data.image_shape), "num_classes": cfg.data.num_classes}


def record(cfg: config.Config, root: Path, frame: pd.DataFrame, info: Mapping[str, Mapping[str, str]],
           files: list[Path], start_ms: int | None = None) -> str:
    """The study as an MLflow run in ``scaling.experiment``: ``run_params`` as params, ``run_tags`` as tags,
    the default point's numbers as metrics, the files as artifacts.
    start_ms: when the timings began (the run starts then and ends once recorded)."""
    hidden = "-".join(map(str, cfg.model.hidden_sizes))
    uri = resolve_tracking_uri(root, cfg.tracking.uri)
    name = f"scaling {cfg.scaling.grid} h{hidden} bs{cfg.train.batch_size} " + " vs ".join(map(label, cfg.backends))
    with TrackedRun(uri, prepare_study(uri, cfg.scaling.experiment, DESCRIPTION), name, run_params(cfg),
                    run_tags(cfg, root, info), start_time=start_ms) as run:
        run.log_metrics(default_metrics(frame, hidden, cfg.train.batch_size, cfg.train.dtype))
        for path in files:
            run.log_artifact(path, "figures" if path.suffix == ".png" else None)
    return run.run_id


def run_study(values: Mapping[str, Any], root: Path, on_round: RoundCallback | None = None,
              export_dir: Path | None = None) -> StudyResult:
    """Time the grid ``scaling.grid`` of the composed config ``values``; write and record the results.

    export_dir: where to write the run's portable export (its artifacts are the files written here,
    so they are left out). Raises ``ConfigError`` (one line, naming the key) on a bad config before any timing.
    """
    cfg = load(values)
    grid, start_ms = cfg.scaling.grids[cfg.scaling.grid], now_ms()
    frame, info = measure(cfg, points(grid, cfg.model.hidden_sizes, cfg.train.batch_size), grid, on_round)
    about = Provenance(run_tags(cfg, root, info), {k: str(v) for k, v in run_params(cfg).items()},
                       datetime.now(timezone.utc))
    csv, md, *pngs = files = write_results(frame, resolve(root, cfg.scaling.out_dir), cfg.data.title, about)
    run_id = record(cfg, root, frame, info, files, start_ms)
    if export_dir is not None:
        portable.export_runs(resolve_tracking_uri(root, cfg.tracking.uri), [run_id], export_dir, artifacts=False)
    return StudyResult(frame, csv, md, tuple(pngs), run_id)
