"""Timing every backend's training step and GEMM floor at each point of the study, each backend in
its own process, in turn.

Each backend runs in a worker process of its own (``multiprocessing`` spawn), because two BLAS
libraries in one process slow each other: after a call, OpenBLAS's and OpenMP's idle threads keep
spinning for a while and take the cores from the other library's threads (a torch step of the
default net timed right after NumPy GEMMs in one process took about 4x as long as alone).

The study runs in rounds. In a round, one worker and then the other times every point; the
coordinator waits ``SETTLE_S`` between them, so that the idle worker's threads have gone to sleep,
and the order of the workers alternates from round to round (AB BA AB ...), so noise that lasts
longer than a round falls on every backend alike. At each point a worker builds its backend through
the registry (``backends.build``), as training builds it, from the default config with the point's
hidden sizes, batch size and dtype, runs the step and the GEMMs once untimed (a fresh backend's
first step allocates its buffers), then times the step and its GEMMs (``training.speed``). Every
worker times on the same random batch at a point. Nothing here writes files or logs.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import statistics
import time
import traceback
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mlpbench import stats
from mlpbench.backends.build import build_backend
from mlpbench.config import Config
from mlpbench.config.schema import ScalingGrid
from mlpbench.options import BACKENDS, BackendSpec
from mlpbench.scaling.grid import Point
from mlpbench.training.speed import calls_per_timing, gemm_flops, step_calls, timed

RoundCallback = Callable[[int, int, str], None]  # (round, rounds, backend) before a backend's round
SETTLE_S = 0.3  # OpenBLAS's idle threads spin about 0.1 s (2**28 cycles) before they sleep; OpenMP's less
KINDS = ("step", "gemm")


def configure(cfg: Config, backend: str, point: Point) -> Config:
    """``cfg`` for ``backend`` at ``point``: its hidden sizes, batch size and dtype."""
    return dataclasses.replace(
        cfg, backend=backend, model=dataclasses.replace(cfg.model, hidden_sizes=point.hidden_sizes),
        train=dataclasses.replace(cfg.train, batch_size=point.batch_size, dtype=point.dtype))


def summary_row(point: Point, backend: str, sizes: Sequence[int], step: list[float], floor: list[float],
                first_step: list[float] | None = None) -> dict:
    """One CSV row: the point, then median / min / max seconds of the step and of its GEMMs alone.

    first_step: the first backend's step times at the point, round by round: ``step_ratio`` (with
    ``_ci95_low``/``_high``) is this backend's step over that one's, paired by round (``stats.ratio``: the
    rounds interleave the backends, so the interval holds what the machine's load did to both).
    """
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
        **_ratio(step, first_step),
    }


def _ratio(step: list[float], first_step: list[float] | None) -> dict[str, float]:
    if not first_step or len(first_step) != len(step):
        return {}
    return stats.ratio(step, first_step).metrics("step_ratio")


class PointTimer:
    """One backend's timings of every point, a round at a time (what a worker process runs)."""

    def __init__(self, cfg: Config, backend: str, points: Sequence[Point], min_time_s: float) -> None:
        self.cfg, self.backend, self.points, self.min_time_s = cfg, backend, list(points), min_time_s
        self.counts: list[dict[str, int]] = []  # calls per timing at each point, fixed in the first round
        self.infos: dict[str, dict[str, str]] = {}  # the backend's info() at the first point of each dtype

    def time_point(self, i: int) -> dict[str, float]:
        """Seconds per call of the step and of its GEMMs at point ``i`` (points in order in the first round)."""
        point, cfg = self.points[i], self.cfg
        in_features, classes = math.prod(cfg.data.image_shape), cfg.data.num_classes
        rng = np.random.default_rng([cfg.train.seed, i])  # the same batch for every backend
        x = rng.random((point.batch_size, in_features), dtype=np.float32)  # pixels in [0, 1) as normalised
        y = rng.integers(0, classes, size=point.batch_size)
        backend = build_backend(configure(cfg, self.backend, point), in_features, classes)
        self.infos.setdefault(point.dtype, backend.info())
        calls = step_calls(backend, x, y, point.batch_size, rng)
        if len(self.counts) == i:  # the first round: two untimed calls, the second to size the timings
            self.counts.append({kind: calls_per_timing(calls[kind], self.min_time_s) for kind in KINDS})
        else:
            for kind in KINDS:
                calls[kind]()
        return {kind: timed(calls[kind], self.counts[i][kind]) for kind in KINDS}

    @property
    def info(self) -> dict[str, str]:
        """``info()`` in the config's dtype (in the first dtype timed where the grid has not that one)."""
        return self.infos.get(self.cfg.train.dtype) or next(iter(self.infos.values()), {})


def _serve(conn, cfg: Config, backend: str, spec: BackendSpec, points: Sequence[Point], min_time_s: float) -> None:
    """A worker: on each request, time every point and send ("round", [timings], info);
    ("error", traceback) ends it.

    spec: the backend as the parent registered it; a fresh interpreter's registry has only the backends
    ``mlpbench.options`` registers, so one registered elsewhere (a notebook's, a test's) is added here.
    """
    if backend not in BACKENDS:
        BACKENDS.register(backend, spec)
    timer = PointTimer(cfg, backend, points, min_time_s)
    try:
        while conn.recv():
            conn.send(("round", [timer.time_point(i) for i in range(len(points))], timer.info))
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class _Worker:
    def __init__(self, cfg: Config, backend: str, points: Sequence[Point], min_time_s: float) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no thread pool of the parent's
        self.backend = backend
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, name=f"scaling-{backend}", daemon=True,
                                       args=(theirs, cfg, backend, BACKENDS[backend], list(points), min_time_s))
        self.process.start()
        theirs.close()

    def round(self) -> tuple[list[dict[str, float]], dict[str, str]]:
        """Every point's timings, and the backend's info()."""
        self.conn.send(True)
        try:
            kind, *body = self.conn.recv()
        except EOFError:
            self.process.join(timeout=5)
            raise RuntimeError(f"the scaling study's {self.backend} worker died (exit code "
                               f"{self.process.exitcode}; out of memory?)") from None
        if kind == "error":  # its last line first, then the worker's traceback
            raise RuntimeError(f"the scaling study's {self.backend} worker failed: "
                               f"{body[0].strip().splitlines()[-1]}\n{body[0]}")
        return body[0], body[1]

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(False)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def measure(cfg: Config, points: Sequence[Point], grid: ScalingGrid,
            on_round: RoundCallback | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """One row per (point, backend) (see ``summary_row``), and each backend's ``info()`` at the default dtype.

    ``on_round`` is called before each backend's round (``grid.repeats`` rounds of every backend).
    """
    backends, points = list(cfg.backends), list(points)
    workers = []
    try:
        workers = [_Worker(cfg, name, points, grid.min_time_s) for name in backends]
        times = {(name, i): {kind: [] for kind in KINDS} for name in backends for i in range(len(points))}
        info: dict[str, dict[str, str]] = {}
        for r in range(grid.repeats):
            for turn, worker in enumerate(workers if r % 2 == 0 else workers[::-1]):
                if turn:
                    time.sleep(SETTLE_S)
                if on_round is not None:
                    on_round(r, grid.repeats, worker.backend)
                found, info[worker.backend] = worker.round()
                for i, timing in enumerate(found):
                    for kind in KINDS:
                        times[worker.backend, i][kind].append(timing[kind])
    finally:
        for worker in workers:
            worker.close()
    rows = []
    for i, point in enumerate(points):
        sizes = (math.prod(cfg.data.image_shape), *point.hidden_sizes, cfg.data.num_classes)
        first = times[backends[0], i]["step"]
        rows += [summary_row(point, name, sizes, times[name, i]["step"], times[name, i]["gemm"], first)
                 for name in backends]
    return pd.DataFrame(rows), info
