"""The loss guard: a NaN/inf or exploding loss stops the run within a few steps, naming its cause.

Driven with the real NumPy and torch backends on the tiny learnable data (tests/support.py).
Measured there (5 epochs, 40 steps): the first loss is 2.6 (default init) or 3.9 (the tutorial's
uniform(-0.5, 0.5)) and no later step of a healthy run exceeds 1.1x it; at optim.lr=1e4 the second
step's loss is 8e6..4e10, at Adam's lr=30 about 2e5.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from mlpbench import options
from mlpbench.config.load import load
from mlpbench.backends.build import build_backend
from mlpbench.data import load_dataset
from mlpbench.training import DivergedError, LossGuard, NonFiniteLossError, fit

from support import tiny_config

BACKENDS = options.BACKENDS.names()  # every registered backend


def _setup(root: Path, overrides=(), backend="numpy"):
    cfg = load(tiny_config(root, [f"backend={backend}", *overrides]))
    data = load_dataset(root / "data" / "processed", root / "data" / "split", cfg.data.num_classes, cfg.train.dtype)
    return cfg, build_backend(cfg, data.x_train.shape[1], cfg.data.num_classes), data


def _fit_recording(backend, data, cfg) -> tuple[list[float], object]:
    """Fit; return the reported step losses and the result. On an error, its ``losses`` holds them."""
    losses: list[float] = []
    try:
        return losses, fit(backend, data, cfg.train, on_step=lambda e, s, n, loss: losses.append(loss))
    except NonFiniteLossError as err:
        err.losses = losses  # for the caller's assertions
        raise


def _where(message: str) -> tuple[int, int, int]:
    return tuple(map(int, re.search(r"epoch (\d+), step (\d+)/(\d+)", message).groups()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optim, lr", [("sgd", "1e4"), ("adam", "1e4"), ("adam", "30")])
def test_exploding_loss_stops_within_a_few_steps(tiny_root, backend, optim, lr):
    cfg, b, data = _setup(tiny_root, [f"optim={optim}", f"optim.lr={lr}", "schedule=constant", "train.epochs=5"],
                          backend)
    with pytest.raises(DivergedError) as err:
        _fit_recording(b, data, cfg)
    assert isinstance(err.value, NonFiniteLossError)  # pipelines/train.py catches this one
    message = str(err.value)
    epoch, step, per_epoch = _where(message)
    assert (epoch - 1) * per_epoch + step <= 6  # 5 epochs of 8 steps without the guard
    assert len(err.value.losses) == (epoch - 1) * per_epoch + step - 1  # the failing step is not reported
    assert f"learning rate {float(lr):g}" in message and "optim.lr" in message and "too high" in message
    loss, ref = map(float, re.search(r"loss (\S+) is \S+x its reference (\S+) ", message).groups())
    assert loss > 100 * ref and ref == pytest.approx(max(np.log(10), err.value.losses[0]), rel=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("overrides", [[], ["experiment=tutorial", "model.hidden_sizes=[16]", "train.batch_size=32"],
                                       ["optim=adam", "optim.lr=0.001"]], ids=["default", "tutorial", "adam"])
def test_healthy_runs_are_not_stopped(tiny_root, backend, overrides):
    cfg, b, data = _setup(tiny_root, [*overrides, "train.epochs=5"], backend)
    losses, result = _fit_recording(b, data, cfg)
    assert len(result.history) == 5 and len(losses) == 5 * 8
    reference = max(np.log(10), losses[0])
    assert max(losses[1:]) < 2 * reference  # far from the guard's 10x / 100x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", [0, 2], ids=["first-batch", "third-batch"])
def test_nan_pixels_are_blamed_on_the_data_not_the_lr(tiny_root, backend, batch):
    cfg, b, data = _setup(tiny_root, ["optim.lr=0.05"], backend)
    order = np.random.default_rng(cfg.train.seed).permutation(len(data.y_train))
    row = int(order[batch * cfg.train.batch_size])
    data.x_train[row] = np.nan
    with pytest.raises(NonFiniteLossError) as err:
        _fit_recording(b, data, cfg)
    message = str(err.value)
    assert not isinstance(err.value, DivergedError)
    assert _where(message) == (1, batch + 1, 8) and len(err.value.losses) == batch
    assert "became nan" in message and f"rows {row} " in message and "NaN or inf pixels" in message
    assert "dvc repro normalise" in message and "too high" not in message


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_first_loss_blames_the_init_not_the_lr(tiny_root, backend):
    cfg, b, data = _setup(tiny_root, ["model.init=uniform", "model.init_scale=1e30"], backend)
    with pytest.raises(NonFiniteLossError) as err:
        _fit_recording(b, data, cfg)
    message = str(err.value)
    assert _where(message) == (1, 1, 8) and "very first step" in message
    assert "model.init_scale" in message and "too high" not in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_after_finite_steps_is_blamed_on_the_lr(tiny_root, backend):
    cfg, b, data = _setup(tiny_root, ["optim.lr=0.05", "schedule=constant"], backend)
    real_step, calls = b.train_step, []

    def step(handle, idx):  # the real step, but the 11th loss overflows (data and weights finite)
        calls.append(1)
        loss, correct = real_step(handle, idx)
        return (float("inf") if len(calls) == 11 else loss), correct

    b.train_step = step
    with pytest.raises(NonFiniteLossError) as err:
        _fit_recording(b, data, cfg)
    message = str(err.value)
    assert _where(message) == (2, 3, 8) and "became inf" in message
    assert "learning rate 0.05" in message and "optim.lr=0.005" in message and "schedule" in message


# --- the rule itself, on loss sequences ---------------------------------------------------------

def _feed(guard: LossGuard, losses) -> int:
    """Steps checked before the guard raised (len(losses) when it never did)."""
    for i, loss in enumerate(losses):
        try:
            guard.check(loss, f"epoch 1, step {i + 1}/99", 0.1)
        except DivergedError:
            return i
    return len(losses)


def test_rule_reference_is_the_larger_of_ln_classes_and_the_first_loss():
    guard = LossGuard(10)
    _feed(guard, [0.5])
    assert guard.reference == pytest.approx(np.log(10))
    guard = LossGuard(10)
    _feed(guard, [12.0])
    assert guard.reference == 12.0


def test_rule_one_step_above_100x_stops_at_once():
    assert _feed(LossGuard(10), [2.3, 2.0, 231.0, 1.0]) == 2
    assert _feed(LossGuard(10), [12.0, 11.0, 1100.0]) == 3  # a large first loss (tutorial init) moves the bar


def test_rule_sustained_10x_stops_after_5_steps_in_a_row():
    high = 10 * np.log(10) + 1
    assert _feed(LossGuard(10), [2.3] + [high] * 4 + [2.0] + [high] * 4) == 10  # broken streaks: never
    assert _feed(LossGuard(10), [2.3] + [high] * 8) == 5
