"""Whole-backend behaviour: starting loss, learning, determinism and the Backend protocol."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from mlpbench import options
from mlpbench.backends import Backend
from mlpbench.backends.build import make_backend

from backend_helpers import build_config, make_params, random_data

BACKENDS = options.BACKENDS.names()  # every registered backend


def train(backend, data, n: int, steps: int, batch_size: int, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        losses.append(backend.train_step(data, rng.permutation(n)[:batch_size])[0])
    return losses


@pytest.mark.parametrize("name", BACKENDS)
def test_initial_loss_is_ln10_when_logits_start_near_zero(name) -> None:
    """With the tutorial's uniform init at a small scale (0.01) every logit starts within ~0.01 of 0.

    Inputs are U(0, 1) like scaled pixels: hidden pre-activations have std ~0.1 and the logits
    ~0.005, so the softmax is uniform to first order and the loss is ln 10 up to ~1e-4. (With He
    init the logits start at unit scale and the loss sits ~0.4 above ln 10, about half their variance.)
    """
    cfg = build_config(name, model={"hidden_sizes": (256,), "init": "uniform", "init_scale": 0.01},
                      train={"device": "cpu"})
    backend = make_backend(cfg, make_params(cfg))
    x, y = random_data(500, 784)
    loss, predictions = backend.evaluate(backend.load(x, y), batch_size=200)
    assert loss == pytest.approx(math.log(10), abs=0.01)
    assert predictions.shape == (500,)


@pytest.mark.parametrize("name", BACKENDS)
def test_overfits_20_examples(name) -> None:
    cfg = build_config(name, model={"hidden_sizes": (64,)}, optim={"name": "adam", "lr": 0.01},
                      train={"device": "cpu"})
    backend = make_backend(cfg, make_params(cfg))
    x, y = random_data(20, 784, seed=1)
    data = backend.load(x, y)
    losses = train(backend, data, 20, steps=60, batch_size=20)
    loss, predictions = backend.evaluate(data, batch_size=8)
    assert np.array_equal(predictions, y), "did not reach 100 % training accuracy"
    assert loss < 0.05 < losses[0]


def _run_twice(name, seed):
    x, y = random_data(64, 50, seed=2)
    results = []
    for _ in range(2):
        cfg = build_config(name, model={"hidden_sizes": (32, 16), "dropout": 0.3}, optim={"name": "adamw"},
                          train={"seed": seed, "device": "cpu"})
        backend = make_backend(cfg, make_params(cfg, in_features=50))
        data = backend.load(x, y)
        losses = train(backend, data, 64, steps=8, batch_size=16)
        results.append((losses, backend.state_dict()))
    return results


def _identical(a, b) -> bool:
    return a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


@pytest.mark.parametrize("name", BACKENDS)
def test_same_seed_gives_bit_identical_runs_with_dropout(name) -> None:
    first, second = _run_twice(name, 7)
    assert _identical(first, second)
    other_seed, _ = _run_twice(name, 8)
    assert not _identical(first, other_seed)  # the seed reaches the dropout masks


@pytest.mark.parametrize("name", BACKENDS)
def test_eval_mode_ignores_dropout(name) -> None:
    x, y = random_data(40, 30, seed=3)
    results = []
    for dropout in (0.0, 0.5):
        cfg = build_config(name, model={"hidden_sizes": (16,), "dropout": dropout}, train={"device": "cpu"})
        backend = make_backend(cfg, make_params(cfg, in_features=30))
        results.append(backend.evaluate(backend.load(x, y), batch_size=16))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_every_backend_satisfies_the_protocol_with_the_same_state() -> None:
    x, y = random_data(30, 40)
    states = {}
    for name in BACKENDS:
        cfg = build_config(name, model={"hidden_sizes": (12, 8)}, train={"dtype": "float64", "device": "cpu"})
        params = make_params(cfg, in_features=40)
        backend = make_backend(cfg, params)
        assert isinstance(backend, Backend) and backend.name == name
        assert {"device", "threads", "dtype"} <= set(backend.info()) and backend.info()["dtype"] == "float64"
        assert isinstance(backend.lr, float) and backend.lr == cfg.optim.lr
        data = backend.load(x, y)
        loss, correct = backend.train_step(data, np.arange(10, dtype=np.int64))
        assert isinstance(loss, float) and isinstance(correct, int) and 0 <= correct <= 10
        eval_loss, predictions = backend.evaluate(data, batch_size=7)
        assert isinstance(eval_loss, float) and predictions.dtype == np.int64 and predictions.shape == (30,)
        states[name] = backend.state_dict()
        # state_dict returns copies in the (fan_in, fan_out) layout of init_params
        assert [states[name][f"layers.{i}.{k}"].shape for i in range(3) for k in ("weight", "bias")] == [
            a.shape for pair in params for a in pair
        ]
    for name in BACKENDS:  # one step from the same weights on the same rows: the same weights after it
        assert states[name].keys() == states["numpy"].keys()
        for key in states["numpy"]:
            np.testing.assert_allclose(states[name][key], states["numpy"][key], rtol=0, atol=1e-12)


def test_torch_backend_exposes_its_module_and_settings() -> None:
    cfg = build_config("torch", model={"hidden_sizes": (8,), "activation": "gelu", "dropout": 0.1},
                      train={"device": "cpu", "threads": 2, "dtype": "float64"})  # not the tests' 1
    threads = torch.get_num_threads()
    try:
        backend = make_backend(cfg, make_params(cfg, in_features=5))
        assert torch.get_num_threads() == 2 and backend.info()["threads"] == "2"
    finally:
        torch.set_num_threads(threads)
    module = backend.module
    assert isinstance(module, torch.nn.Module)
    kinds = [type(m).__name__ for m in module]
    assert kinds == ["Linear", "GELU", "Dropout", "Linear"]  # logits out: no softmax layer
    assert module[1].approximate == "tanh"
    assert all(p.dtype == torch.float64 for p in module.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given when CUDA is missing")
def test_asking_for_cuda_without_one_says_what_to_do() -> None:
    cfg = build_config("torch", train={"device": "cuda"})
    with pytest.raises(RuntimeError, match="train.device=cpu"):
        make_backend(cfg, make_params(cfg))


def test_params_that_do_not_fit_the_config_are_rejected() -> None:
    cfg = build_config("numpy", model={"hidden_sizes": (8,)})
    params = make_params(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, hidden_sizes=(9,))))
    with pytest.raises(ValueError, match="hidden sizes"):
        make_backend(cfg, params)
