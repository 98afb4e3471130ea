"""Stopping a run whose loss becomes NaN/inf or explodes, with an error that names the likely cause."""
from __future__ import annotations

import math

import numpy as np


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class DivergedError(NonFiniteLossError):
    """The training loss stayed finite but exploded far above its reference (see ``LossGuard``).

    A subclass of ``NonFiniteLossError``, so code that stops a run on a NaN loss stops it here too.
    """


class LossGuard:
    """Stops a run whose loss explodes, long before it overflows to NaN.

    The reference is ``max(ln(num_classes), loss of the very first step)``: the first loss is
    measured before any update, so it is what the initial weights give (about ln(10) = 2.3 for a
    small init, about 10 for the tutorial's uniform(-0.5, 0.5)). A step whose loss exceeds
    ``explode`` x the reference stops the run at once; ``patience`` steps in a row above
    ``sustained`` x the reference stop it too. Healthy runs stay below the reference after their
    first few steps, so neither fires on them.
    """

    def __init__(self, num_classes: int | None = None, explode: float = 100.0, sustained: float = 10.0,
                 patience: int = 5) -> None:
        self.floor = math.log(num_classes) if num_classes and num_classes > 1 else 0.0
        self.explode, self.sustained, self.patience = explode, sustained, patience
        self.reference: float | None = None  # None until the first step
        self.steps_above = 0

    @property
    def first_step(self) -> bool:
        return self.reference is None

    def check(self, loss: float, where: str, lr: float) -> None:
        """Record one finite step's loss; raise ``DivergedError`` when the rule above fires."""
        if self.reference is None:
            self.reference = max(self.floor, loss)
            return
        self.steps_above = self.steps_above + 1 if loss > self.sustained * self.reference else 0
        if loss > self.explode * self.reference:
            rule = f"above {self.explode:g}x its reference"
        elif self.steps_above >= self.patience:
            rule = f"above {self.sustained:g}x its reference for {self.steps_above} steps in a row"
        else:
            return
        raise DivergedError(
            f"training loss diverged at {where}: loss {loss:.4g} is {loss / self.reference:.3g}x its reference "
            f"{self.reference:.4g} (the larger of ln(num_classes) = {self.floor:.4g} and the first step's loss), "
            f"{rule}. {_lr_advice(lr)}")


def _lr_advice(lr: float) -> str:
    return (f"The learning rate {lr:g} is most likely too high for this model and optimizer: lower optim.lr "
            f"by 10x (optim.lr={lr / 10:g}) or use a schedule (e.g. schedule=cosine)")


def non_finite_rows(x: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    """Rows of ``x`` among ``idx`` holding NaN or inf; None when ``x`` is not given."""
    if x is None:
        return None
    return np.sort(idx[~np.isfinite(np.asarray(x[idx])).all(axis=1)])


def non_finite_error(loss: float, where: str, lr: float, guard: LossGuard,
                      bad_rows: np.ndarray | None) -> NonFiniteLossError:
    """The error for a NaN/inf loss, naming its most likely cause."""
    head = f"training loss became {loss} at {where}"
    if bad_rows is not None and len(bad_rows):
        shown = ", ".join(map(str, bad_rows[:5])) + (", ..." if len(bad_rows) > 5 else "")
        return NonFiniteLossError(
            f"{head}: the batch holds NaN or inf pixels ({len(bad_rows)} training rows, e.g. rows {shown} of "
            "the training part after the split); the data is broken, not the learning rate: check "
            "the processed training images (data.paths.processed) and remake them with `dvc repro normalise`")
    if guard.first_step:
        return NonFiniteLossError(
            f"{head}, the very first step, before any update (learning rate {lr:g} played no part): the data "
            "or the initial weights are broken: look for NaN/inf pixels in the processed arrays "
            "(`dvc repro normalise`) and for an init that overflows (model.init, model.init_scale)")
    return NonFiniteLossError(f"{head} (learning rate {lr:g}; the first step's loss was {guard.reference:.4g}). "
                              f"{_lr_advice(lr)}")
