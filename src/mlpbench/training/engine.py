"""One training loop for every backend.

The loop owns everything the backends must share for a fair comparison: the batch order (one
seeded permutation per epoch), the evaluation schedule, timing, early stopping and the guard
against a diverging loss. A backend only does what differs: a step, an evaluation, a scheduler
tick (see ``mlpbench.backends.Backend``). Nothing here prints or writes files; progress and
tracking hook in through the callbacks.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from mlpbench.config import TrainConfig
from mlpbench.data import Dataset
from mlpbench.data.augment import Shift
from mlpbench.training.divergence import LossGuard, non_finite_error, non_finite_rows
from mlpbench.training.metrics import accuracy, confusion_matrix


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches, in train mode
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float  # learning rate used during this epoch
    epoch_time: float  # seconds of training steps (evaluation excluded)
    eval_time: float
    samples_per_s: float

    def as_dict(self) -> dict[str, float]:
        """Metric keys as tracked: ``train/loss``, ``val/acc``, ``time/epoch_s``..."""
        return {
            "train/loss": self.train_loss,
            "train/acc": self.train_acc,
            "val/loss": self.val_loss,
            "val/acc": self.val_acc,
            "lr": self.lr,
            "time/epoch_s": self.epoch_time,
            "time/eval_s": self.eval_time,
            "time/samples_per_s": self.samples_per_s,
        }


@dataclass
class TrainResult:
    history: list[EpochMetrics]
    best_epoch: int  # epoch with the lowest validation loss
    test_loss: float
    test_acc: float
    confusion: np.ndarray  # (classes, classes) int64, rows: true label, columns: prediction
    total_time: float  # seconds for the whole fit, evaluation included
    stopped_early: bool = False
    test_correct: np.ndarray | None = None  # (n_test,) bool: which test images the model classified right


StepCallback = Callable[[int, int, int, float], None]  # (epoch, step, steps_per_epoch, loss)
EpochCallback = Callable[[EpochMetrics], None]


def train_epoch(backend, data, n: int, cfg: TrainConfig, rng: np.random.Generator, epoch: int,
                on_step: StepCallback | None, guard: LossGuard | None = None,
                x: np.ndarray | None = None) -> tuple[float, float]:
    """Run one epoch of steps in a seeded order; return (mean loss, accuracy).

    ``guard`` carries the divergence check across epochs (a fresh one when None); ``x`` (n, features),
    the training pixels ``data`` was loaded from, lets a NaN loss name the rows that caused it.
    Raises ``NonFiniteLossError`` on a NaN/inf loss and ``DivergedError`` on an exploding one.
    """
    guard = guard if guard is not None else LossGuard()
    order = rng.permutation(n)
    steps = math.ceil(n / cfg.batch_size)
    loss_sum, correct = 0.0, 0
    for step in range(steps):
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        loss, n_correct = backend.train_step(data, idx)
        where = f"epoch {epoch}, step {step + 1}/{steps}"
        if not math.isfinite(loss):
            raise non_finite_error(loss, where, backend.lr, guard, non_finite_rows(x, idx))
        guard.check(loss, where, backend.lr)
        loss_sum += loss * len(idx)
        correct += n_correct
        if on_step is not None:
            on_step(epoch, step + 1, steps, loss)
    return loss_sum / n, correct / n


def _training_sets(backend, dataset: Dataset, augment: Shift | None, seed: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Each epoch's training set as (the backend's loaded data, the pixels it holds): loaded once, now; or
    with ``augment``, newly shifted images (drawn from ``augment.rng(seed)``) loaded as each epoch starts."""
    if augment is None:
        return itertools.repeat((backend.load(dataset.x_train, dataset.y_train), dataset.x_train))
    rng = augment.rng(seed)

    def shifted() -> Iterator[tuple[Any, np.ndarray]]:
        while True:
            x = augment(dataset.x_train, rng)
            yield backend.load(x, dataset.y_train), x

    return shifted()


def fit(backend, dataset: Dataset, cfg: TrainConfig, on_epoch: EpochCallback | None = None,
        on_step: StepCallback | None = None, augment: Shift | None = None) -> TrainResult:
    """Train ``backend`` on ``dataset`` for ``cfg.epochs`` epochs and test it once at the end.

    The batch order depends only on ``cfg.seed``, so two backends given the same seed see the
    same batches in the same order. A NaN/inf loss raises ``NonFiniteLossError`` and an exploding
    one ``DivergedError`` (see ``LossGuard``), naming the step, the loss and the likely cause.
    With ``augment`` every epoch trains on newly shifted training images, the same for every backend
    given the same seed; shifting them counts in ``total_time``, not in an epoch's ``epoch_time``.
    """
    rng = np.random.default_rng(cfg.seed)
    training_sets = _training_sets(backend, dataset, augment, cfg.seed)
    val = backend.load(dataset.x_val, dataset.y_val)
    guard = LossGuard(dataset.num_classes)  # one reference for the whole run
    history: list[EpochMetrics] = []
    best_epoch, best_loss, stopped_early = 0, math.inf, False
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        train, x_train = next(training_sets)
        lr = backend.lr
        t0 = time.perf_counter()
        train_loss, train_acc = train_epoch(backend, train, len(dataset.y_train), cfg, rng, epoch, on_step,
                                            guard, x_train)
        t1 = time.perf_counter()
        val_loss, val_pred = backend.evaluate(val, cfg.eval_batch_size)
        eval_time = time.perf_counter() - t1
        backend.scheduler_step()
        metrics = EpochMetrics(epoch, train_loss, train_acc, val_loss, accuracy(val_pred, dataset.y_val),
                               lr, t1 - t0, eval_time, len(dataset.y_train) / (t1 - t0))
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
        if val_loss < best_loss:
            best_epoch, best_loss = epoch, val_loss
        elif cfg.early_stopping_patience and epoch - best_epoch >= cfg.early_stopping_patience:
            stopped_early = True
            break
    total_time = time.perf_counter() - start
    test_loss, test_pred = backend.evaluate(backend.load(dataset.x_test, dataset.y_test), cfg.eval_batch_size)
    return TrainResult(history, best_epoch, test_loss, accuracy(test_pred, dataset.y_test),
                       confusion_matrix(dataset.y_test, test_pred, dataset.num_classes), total_time, stopped_early,
                       np.asarray(test_pred) == dataset.y_test)
