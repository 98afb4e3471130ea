"""How fast a training step runs, and how much of it is matrix products (the "GEMM floor").

A step's GEMMs are the forward ``x @ W`` of every layer, the weight gradient ``x.T @ grad`` of
every layer and the input gradient ``grad @ W.T`` of every layer but the first (no backend
computes the data's gradient). A backend's ``gemm_step(batch)`` runs exactly those on its own
BLAS, dtype and device, with nothing else: no bias, activation, dropout, loss or optimizer. Its
time is the least a step could take with that BLAS; the rest of the step is the backend's own
overhead. Steps and GEMM floors are timed in turn (ABAB...), so a machine that slows down for a
while slows both alike. Nothing here prints, logs or writes files.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np


def gemm_flops(sizes: Sequence[int], batch: int) -> int:
    """Floating-point operations of one step's GEMMs (2 per multiply-add).

    sizes: (in_features, *hidden_sizes, out_features); batch: rows per step.
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(2 * batch * fan_in * fan_out * (2 if i == 0 else 3) for i, (fan_in, fan_out) in enumerate(pairs))


def calls_per_timing(call: Callable[[], object], min_time_s: float) -> int:
    """Run ``call`` twice (warm-up, then an estimate of its time); return how many back-to-back calls
    last ``min_time_s`` (at least one, at most 10,000)."""
    call()
    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    return max(1, min(10_000, math.ceil(min_time_s / max(once, 1e-9))))


def timed(call: Callable[[], object], count: int) -> float:
    """Seconds per call of ``count`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def interleaved(calls: Mapping[str, Callable[[], object]], repeats: int,
                min_time_s: float = 0.0, settle_s: float = 0.0) -> dict[str, list[float]]:
    """Seconds per call of each callable, timed in turn ``repeats`` times: {name: [s, ...]}.

    Each callable first runs twice (warm-up; the second run estimates its time). A timing then
    covers as many back-to-back calls as last ``min_time_s`` (at least one), divided by that count.
    Each round starts one callable further along (ABC, BCA, CAB, ...). settle_s: a pause (not timed)
    before each timing, for callables on different thread pools: OpenBLAS's and OpenMP's threads spin
    for a while after a call returns (OpenBLAS for about 0.1 s), and would hold the cores the next
    callable's threads need (NumPy's step timed just before torch's doubled it).
    """
    counts = {name: calls_per_timing(call, min_time_s) for name, call in calls.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if settle_s:
                time.sleep(settle_s)
            times[name].append(timed(calls[name], counts[name]))
    return times


@dataclass(frozen=True)
class StepSpeed:
    """Median seconds of a training step and of its GEMMs alone, over paired timings."""

    batch: int
    flops: int  # of one step's GEMMs
    step_s: float
    floor_s: float

    @property
    def gflops(self) -> float:
        """GEMM throughput of the backend's BLAS on this net's shapes."""
        return self.flops / self.floor_s / 1e9

    def metrics(self) -> dict[str, float]:
        """Metric keys as tracked: ``time/step_median_s``, ``gemm/floor_step_s``, ``gemm/gflops``..."""
        return {"time/step_median_s": self.step_s, "gemm/floor_step_s": self.floor_s, "gemm/gflops": self.gflops,
                "gemm/share": self.floor_s / self.step_s, "time/overhead_step_s": self.step_s - self.floor_s}


def step_calls(backend, x: np.ndarray, y: np.ndarray, batch: int,
               rng: np.random.Generator) -> dict[str, Callable[[], object]]:
    """{"step": one ``train_step`` on ``batch`` random rows of x (n, features) / y (n,), "gemm": its GEMMs}.

    Every call trains ``backend`` one more step: use a backend made for measuring, not one whose
    weights matter.
    """
    data = backend.load(x, y)
    idx = rng.integers(0, len(y), size=batch)
    return {"step": lambda: backend.train_step(data, idx), "gemm": backend.gemm_step(batch)}


def measure_step(backend, x: np.ndarray, y: np.ndarray, batch: int, sizes: Sequence[int], repeats: int = 7,
                 seed: int = 0) -> StepSpeed:
    """Median step and GEMM-floor seconds of ``backend`` on ``batch`` rows, timed in turn ``repeats`` times.

    sizes: (in_features, *hidden_sizes, out_features) of the backend's net.
    """
    times = interleaved(step_calls(backend, x, y, batch, np.random.default_rng(seed)), repeats)
    return StepSpeed(batch, gemm_flops(sizes, batch), statistics.median(times["step"]),
                     statistics.median(times["gemm"]))
