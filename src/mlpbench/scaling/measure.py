"""Timing every backend's training step and GEMM floor at each point of the study, in turn.

At a point every backend is built through the registry (``backends.build``), as training builds
it, from the default config with the point's hidden sizes, batch size and dtype. The callables
(each backend's ``train_step`` on random rows, then its ``gemm_step``) are timed one after another,
``repeats`` rounds (``training.speed.interleaved``), so noise from other work on the machine
falls on every backend alike. Nothing here writes files or logs.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mlpbench.backends.build import build_backend
from mlpbench.config import Config
from mlpbench.config.schema import ScalingGrid
from mlpbench.scaling.grid import Point
from mlpbench.training.speed import gemm_flops, interleaved, step_calls

PointCallback = Callable[[int, int, Point], None]  # (index, count, point) before each point is timed


def configure(cfg: Config, backend: str, point: Point) -> Config:
    """``cfg`` for ``backend`` at ``point``: its hidden sizes, batch size and dtype."""
    return dataclasses.replace(
        cfg, backend=backend, model=dataclasses.replace(cfg.model, hidden_sizes=point.hidden_sizes),
        train=dataclasses.replace(cfg.train, batch_size=point.batch_size, dtype=point.dtype))


def summary_row(point: Point, backend: str, sizes: Sequence[int], step: list[float], floor: list[float]) -> dict:
    """One CSV row: the point, then median / min / max seconds of the step and of its GEMMs alone."""
    flops = gemm_flops(sizes, point.batch_size)
    step_s, floor_s = statistics.median(step), statistics.median(floor)
    return {
        "backend": backend, "dtype": point.dtype, "hidden_sizes": "-".join(map(str, point.hidden_sizes)),
        "width": point.width, "depth": point.depth, "batch_size": point.batch_size, "axes": " ".join(point.axes),
        "gemm_gflop": flops / 1e9, "step_s": step_s, "step_s_min": min(step), "step_s_max": max(step),
        "floor_s": floor_s, "floor_s_min": min(floor), "floor_s_max": max(floor),
        "overhead_s": step_s - floor_s, "gemm_share": floor_s / step_s,
        "samples_per_s": point.batch_size / step_s, "floor_samples_per_s": point.batch_size / floor_s,
        "gemm_gflops": flops / floor_s / 1e9, "repeats": len(step),
    }


def measure_point(cfg: Config, point: Point, repeats: int, min_time_s: float,
                  rng: np.random.Generator) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """The rows of every backend in ``cfg.backends`` at ``point``, and each backend's ``info()``."""
    in_features, classes = math.prod(cfg.data.image_shape), cfg.data.num_classes
    x = rng.random((point.batch_size, in_features), dtype=np.float32)  # pixels in [0, 1) as normalised
    y = rng.integers(0, classes, size=point.batch_size)
    calls, info = {}, {}
    for name in cfg.backends:
        backend = build_backend(configure(cfg, name, point), in_features, classes)
        info[name] = backend.info()
        for kind, call in step_calls(backend, x, y, point.batch_size, rng).items():
            calls[f"{name}/{kind}"] = call
    times = interleaved(calls, repeats, min_time_s)
    sizes = (in_features, *point.hidden_sizes, classes)
    rows = [summary_row(point, name, sizes, times[f"{name}/step"], times[f"{name}/gemm"]) for name in cfg.backends]
    return rows, info


def measure(cfg: Config, points: Sequence[Point], grid: ScalingGrid,
            on_point: PointCallback | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """One row per (point, backend) (see ``summary_row``), and each backend's ``info()`` at the default dtype."""
    rng = np.random.default_rng(cfg.train.seed)
    rows, info = [], {}
    for i, point in enumerate(points):
        if on_point is not None:
            on_point(i, len(points), point)
        found, point_info = measure_point(cfg, point, grid.repeats, grid.min_time_s, rng)
        rows += found
        if point.dtype == cfg.train.dtype or not info:
            info = point_info
    return pd.DataFrame(rows), info
