"""Where a NumPy training step's time goes: timers wrapped around one backend's methods (``PhaseTimer``), and
those phases as the op groups both backends share (``op_attribution``).

Compute only: nothing here prints, logs or writes files.
"""
from __future__ import annotations

import collections
import time

import numpy as np

from mlpbench.training.attribution import OpProfile

# Phase -> op group (mlpbench.training.attribution.GROUPS). A module's phases are "<class> forward" and
# "<class> backward"; an activation or dropout class not named here counts as element-wise work.
PHASE_GROUPS = {"Linear forward": "gemm", "Linear backward": "gemm", "dropout draw": "dropout_rng",
                "loss": "loss", "optimizer": "optimizer", "max norm": "optimizer", "gather": "batch_gather",
                "rest": "framework_overhead"}


_UNSET = object()


class _TimedBitGenerator:
    """A bit generator's ``random_raw`` timed as the phase "dropout draw"; everything else passed through."""

    def __init__(self, inner, timer: "PhaseTimer") -> None:
        self._inner = inner
        self.random_raw = timer.wrap_call(inner.random_raw, "dropout draw")

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class _TimedGenerator:
    """A ``np.random.Generator`` whose ``bit_generator`` is timed; the draws are the generator's own."""

    def __init__(self, inner: np.random.Generator, timer: "PhaseTimer") -> None:
        self._inner = inner
        self.bit_generator = _TimedBitGenerator(inner.bit_generator, timer)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class PhaseTimer:
    """Seconds a NumPy backend spends in each phase of its training steps, each phase counted once.

    Wraps the methods of one backend instance (its modules' forward/backward, the dropout masks' random
    draws, the loss, the optimizer's step, the batch gather and train_step itself) with timers; the classes
    are untouched and the numbers computed are the same. A phase's time is its own, without the phases
    inside it (the draws inside a dropout forward), so the phases add up to the step; "rest" is what
    train_step spends outside every phase: the accuracy count and the Python of the step. The timers cost
    well under a microsecond per call.
    """

    def __init__(self, backend) -> None:
        from .numpy_nn.layers import Linear

        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._inside: list[float] = []  # per open phase: the time of the phases inside it so far
        self._undo: list[tuple[object, str, object]] = []  # (owner, attribute, its instance value before)
        for module in backend.model.modules:
            kind = "Linear" if isinstance(module, Linear) else type(module).__name__
            self._wrap(module, "forward", f"{kind} forward")
            self._wrap(module, "backward", f"{kind} backward")
            if isinstance(getattr(module, "rng", None), np.random.Generator):
                self._set(module, "rng", _TimedGenerator(module.rng, self))
        self._wrap(backend.criterion, "forward", "loss")
        self._wrap(backend.criterion, "backward", "loss")
        self._wrap(backend.optimizer, "step", "optimizer")
        if hasattr(backend.model, "max_norm_"):
            self._wrap(backend.model, "max_norm_", "max norm")
        self._wrap(backend, "gather", "gather")
        self._wrap(backend, "train_step", "step")

    def _wrap(self, owner, method: str, phase: str) -> None:
        self._set(owner, method, self.wrap_call(getattr(owner, method), phase))  # an instance attribute only

    def _set(self, owner, name: str, value) -> None:
        self._undo.append((owner, name, vars(owner).get(name, _UNSET)))
        setattr(owner, name, value)

    def remove(self) -> None:
        """Unwrap: the backend's methods and generators as they were before this timer."""
        for owner, name, before in reversed(self._undo):
            if before is _UNSET:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        self._undo.clear()

    def wrap_call(self, inner, phase: str):
        """``inner`` timed as ``phase``: its own seconds, without the phases it calls."""
        def timed(*args, **kwargs):
            self._inside.append(0.0)
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                self.seconds[phase] += elapsed - self._inside.pop()
                self.calls[phase] += 1
                if self._inside:
                    self._inside[-1] += elapsed

        return timed

    @property
    def steps(self) -> int:
        return self.calls["step"]

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def ms_per_step(self) -> dict[str, float]:
        """Phase -> milliseconds per step: each phase's own time, "rest" (train_step's own) and "step" (all)."""
        phases = {("rest" if k == "step" else k): v for k, v in self.seconds.items()}
        phases["step"] = sum(self.seconds.values())
        return {k: 1e3 * v / max(self.steps, 1) for k, v in phases.items()}


def group_of(phase: str) -> str:
    """The op group of a phase: ``PHASE_GROUPS``, else element-wise forward or backward by its direction."""
    if phase in PHASE_GROUPS:
        return PHASE_GROUPS[phase]
    return "elementwise_backward" if phase.endswith(" backward") else "elementwise_forward"


def op_attribution(backend, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray, steps: int) -> OpProfile:
    """``steps`` training steps of ``backend`` on rows ``idx``, timed by phase (a ``PhaseTimer``, removed
    again once done): seconds per step per op group."""
    timer = PhaseTimer(backend)
    try:
        for _ in range(steps):
            backend.train_step(data, idx)
    finally:
        timer.remove()
    ms = timer.ms_per_step()
    group_s: dict[str, float] = collections.defaultdict(float)
    ops = []
    for phase, value in ms.items():
        if phase == "step":
            continue
        group_s[group_of(phase)] += value / 1e3
        ops.append({"name": phase, "group": group_of(phase), "ms_per_step": value,
                    "calls_per_step": timer.calls["step" if phase == "rest" else phase] / steps})
    return OpProfile(dict(group_s), sorted(ops, key=lambda o: -o["ms_per_step"]))
