"""The torch backend on a CUDA device, against the NumPy backend on the CPU.

Marked ``cuda``: collected only where torch sees a CUDA device (see conftest.py), so a CPU-only
machine deselects them instead of skipping them one by one.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mlpbench.backends.build import build_backend
from mlpbench.data import Dataset
from mlpbench.training import fit

from backend_helpers import build_config, random_data, run_training

pytestmark = pytest.mark.cuda


def test_auto_device_puts_the_model_and_data_on_cuda() -> None:
    cfg = build_config("torch", model={"hidden_sizes": (16,)}, train={"device": "auto"})
    backend = build_backend(cfg, in_features=12, out_features=10)
    assert backend.device.type == "cuda" and backend.info()["device"].startswith("cuda")
    assert all(p.is_cuda for p in backend.module.parameters())
    x, y = backend.load(*random_data(20, 12))
    assert x.is_cuda and y.is_cuda and x.dtype == torch.float32
    loss, correct = backend.train_step((x, y), np.arange(8, dtype=np.int64))
    assert isinstance(loss, float) and isinstance(correct, int)
    eval_loss, predictions = backend.evaluate((x, y), batch_size=7)
    assert isinstance(eval_loss, float) and predictions.dtype == np.int64 and predictions.shape == (20,)
    assert all(isinstance(v, np.ndarray) for v in backend.state_dict().values())


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_cuda_training_curves_match_the_numpy_backend(dtype: str, tol: float) -> None:
    """4 epochs, Nesterov SGD with a step schedule: the same losses, lrs and final weights."""
    x, y = random_data(60, 30, seed=4)
    runs = {}
    for name, device in (("numpy", "cpu"), ("torch", "cuda")):
        cfg = build_config(name, model={"hidden_sizes": (24, 16)},
                           optim={"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
                           schedule={"name": "step", "step_size": 2},
                           train={"epochs": 4, "dtype": dtype, "device": device})
        backend = build_backend(cfg, in_features=30, out_features=10)
        data = backend.load(x, y)
        losses, _, lrs = run_training(backend, data, len(y), epochs=4, batch_size=16)
        runs[name] = (losses, lrs, backend.evaluate(data, 25)[0], backend.state_dict())
    (np_losses, np_lrs, np_eval, np_state), (t_losses, t_lrs, t_eval, t_state) = runs["numpy"], runs["torch"]
    assert np_losses[-1] < np_losses[0]
    np.testing.assert_allclose(np_losses, t_losses, rtol=tol, atol=0)
    assert np_lrs == pytest.approx(t_lrs, rel=1e-15)
    assert np_eval == pytest.approx(t_eval, rel=tol)
    for key in np_state:
        np.testing.assert_allclose(np_state[key], t_state[key], rtol=0, atol=tol * 10, err_msg=key)


def _fit_on_cuda(seed: int):
    """The engine's fit with dropout on 400 learnable rows; everything it returns lives on the host."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (10, 20))
    y = rng.integers(0, 10, 600)
    x = (centres[y] + rng.normal(0, 0.5, (600, 20))).astype(np.float32)
    data = Dataset(x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:], num_classes=10)
    cfg = build_config("torch", model={"hidden_sizes": (32,), "dropout": 0.2},
                       optim={"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
                       train={"epochs": 3, "batch_size": 32, "seed": seed, "device": "cuda"})
    backend = build_backend(cfg, in_features=20, out_features=10)
    return fit(backend, data, cfg.train), backend.state_dict()


def test_engine_fit_on_cuda_learns_and_is_deterministic() -> None:
    (first, first_state), (again, again_state) = _fit_on_cuda(7), _fit_on_cuda(7)
    assert first.history[-1].val_acc > 0.9 and first.test_acc > 0.9
    assert first.confusion.sum() == 100
    assert [m.train_loss for m in first.history] == [m.train_loss for m in again.history]
    assert all(np.array_equal(first_state[k], again_state[k]) for k in first_state)
    (other, _) = _fit_on_cuda(8)
    assert [m.train_loss for m in other.history] != [m.train_loss for m in first.history]
