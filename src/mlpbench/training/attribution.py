"""Where a training step's time goes, op by op, grouped the same way for every backend.

A backend's ``op_attribution(data, idx, steps)`` runs ``steps`` training steps on rows ``idx`` under its
own instruments (torch: ``torch.profiler``; NumPy: timers wrapped around its modules' methods) and returns
an ``OpProfile``: seconds per step in each of ``GROUPS`` and the raw per-op rows. Its groups add up to the
instrumented step's wall time, the instruments' own cost included, since "framework overhead" is what the
timed ops leave of it. ``attribute`` times instrumented blocks in turn with plain steps, so the groups can be
checked against the step a run really takes (``Attribution.coverage``). Nothing here prints, logs or writes.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mlpbench.op_groups import (ARTIFACT, COVERAGE_METRIC, GROUPS, INSTRUMENTED_METRIC, LABELS, METRIC, STEP_METRIC,
                                largest)

__all__ = ["ARTIFACT", "COVERAGE_METRIC", "GROUPS", "INSTRUMENTED_METRIC", "LABELS", "METRIC", "STEP_METRIC", "Attribution", "OpProfile",
           "attribute", "largest"]

@dataclass(frozen=True)
class OpProfile:
    """One instrumented block of steps: seconds per step per group, and the raw rows behind them.

    ops: one dict per op or phase, ``{"name", "group", "ms_per_step", "calls_per_step"}``.
    """

    group_s: dict[str, float]
    ops: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.group_s) - set(GROUPS))
        if unknown:
            raise ValueError(f"op profile names groups {unknown}; the groups are {list(GROUPS)} "
                             "(mlpbench.training.attribution.GROUPS)")

    @property
    def total_s(self) -> float:
        return sum(self.group_s.values())


@dataclass(frozen=True)
class Attribution:
    """ms per step of each group in the median instrumented block, and the plain step timed in turn."""

    backend: str
    group_ms: dict[str, float]  # every name of GROUPS, in its order
    step_ms: float  # the plain (uninstrumented) step, median of the blocks timed in turn
    ops: list[dict[str, Any]]  # the raw rows of the median block
    coverage: float = float("nan")  # median over the rounds of instrumented / plain, each round's blocks paired

    @property
    def total_ms(self) -> float:
        return sum(self.group_ms.values())

    def metrics(self) -> dict[str, float]:
        """``attribution/<group>_ms`` per group, the plain step, the instrumented one (their sum) and
        ``attribution/coverage``."""
        return {**{METRIC.format(g): ms for g, ms in self.group_ms.items()}, STEP_METRIC: self.step_ms,
                INSTRUMENTED_METRIC: self.total_ms, COVERAGE_METRIC: self.coverage}

    def record(self) -> dict[str, Any]:
        """The artifact: groups with their meaning, the step, and the ops of the median block."""
        return {"backend": self.backend, "step_ms": self.step_ms, "instrumented_step_ms": self.total_ms,
                "coverage": self.coverage, "groups": {g: {"ms": self.group_ms[g], "meaning": GROUPS[g]} for g in GROUPS},
                "ops": self.ops}


def attribute(backend, x: np.ndarray, y: np.ndarray, batch: int, steps: int = 3, rounds: int = 21,
              seed: int = 0) -> Attribution:
    """Op attribution of ``backend``'s training step on ``batch`` random rows of x (n, features) / y (n,).

    ``rounds`` times in turn: ``steps`` plain steps and ``steps`` instrumented ones, which first alternating
    from round to round. Every step trains
    ``backend`` further: give it a backend made for measuring. The groups are those of the round whose
    instrumented step is the median (so they add up to it); the coverage pairs each round's instrumented
    block with its plain one, which keeps a machine's changing load out of it.
    """
    data = backend.load(x, y)
    idx = np.random.default_rng(seed).integers(0, len(y), size=batch)
    backend.train_step(data, idx)  # warm-up: buffers, thread pools, first-call costs
    plain: list[float] = []
    profiles: list[OpProfile] = []
    for r in range(rounds):  # plain first in even rounds, instrumented first in odd ones: no order favoured
        if r % 2:
            profiles.append(backend.op_attribution(data, idx, steps))
        plain.append(_timed(lambda: backend.train_step(data, idx), steps))
        if not r % 2:
            profiles.append(backend.op_attribution(data, idx, steps))
    middle = sorted(profiles, key=lambda p: p.total_s)[len(profiles) // 2]
    coverage = statistics.median(p.total_s / s for p, s in zip(profiles, plain))
    return Attribution(backend.name, {g: 1e3 * middle.group_s.get(g, 0.0) for g in GROUPS},
                       1e3 * statistics.median(plain), middle.ops, coverage)


def _timed(call: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count
