"""The NumPy backend's PhaseTimer (mlpbench.backends.numpy_phases, also benchmarks/bench_training.py's): it times
a NumPy backend's steps by phase without changing what the backend computes, and its phases, as op groups, add
up to the step."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mlpbench.backends.build import build_backend
from mlpbench.training.attribution import GROUPS

from backend_helpers import PROJECT_ROOT, build_config, random_data, run_training


def bench_training():
    spec = importlib.util.spec_from_file_location("bench_training", PROJECT_ROOT / "benchmarks" / "bench_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numpy_backend():
    cfg = build_config("numpy", model={"hidden_sizes": (32, 16), "dropout": 0.25}, optim={"name": "nesterov"})
    return build_backend(cfg, in_features=20, out_features=10)


def test_timed_steps_compute_what_untimed_ones_do_and_every_phase_is_counted_once():
    x, y = random_data(96, 20)
    plain, timed = numpy_backend(), numpy_backend()
    timer = bench_training().PhaseTimer(timed)

    losses, corrects, _ = run_training(plain, plain.load(x, y), 96, epochs=2, batch_size=32)
    timed_losses, timed_corrects, _ = run_training(timed, timed.load(x, y), 96, epochs=2, batch_size=32)

    np.testing.assert_array_equal(timed_losses, losses)
    assert timed_corrects == corrects
    np.testing.assert_array_equal(timed.model.flat.data, plain.model.flat.data)
    assert timer.steps == 6
    ms = timer.ms_per_step()
    assert set(ms) == {"Linear forward", "Linear backward", "ReLUDropout forward", "ReLUDropout backward",
                       "dropout draw", "gather", "loss", "optimizer", "rest", "step"}
    inside = [v for k, v in ms.items() if k not in ("rest", "step")]
    assert all(v > 0 for v in inside)
    # each phase counts its own time only (the draws inside a dropout forward once): they add up to the step
    assert 0 <= ms["rest"] < ms["step"]
    assert sum(v for k, v in ms.items() if k != "step") == pytest.approx(ms["step"])


def test_op_attribution_groups_every_phase_and_leaves_the_backend_unwrapped():
    x, y = random_data(64, 20)
    timed, plain = numpy_backend(), numpy_backend()
    before = set(vars(timed))
    profile = timed.op_attribution(timed.load(x, y), np.arange(32), steps=3)
    assert set(vars(timed)) == before and type(timed.model.modules[1].rng) is np.random.Generator
    assert set(profile.group_s) == set(GROUPS)
    total_ms = sum(op["ms_per_step"] for op in profile.ops)
    assert 1e3 * profile.total_s == pytest.approx(total_ms)
    plain_data = plain.load(x, y)
    for _ in range(3):
        plain.train_step(plain_data, np.arange(32))
    np.testing.assert_array_equal(timed.model.flat.data, plain.model.flat.data)  # the same three steps


def test_a_reset_timer_counts_only_the_steps_after_it():
    x, y = random_data(64, 20)
    backend = numpy_backend()
    timer = bench_training().PhaseTimer(backend)
    data = backend.load(x, y)
    backend.train_step(data, np.arange(32))
    timer.reset()
    assert timer.steps == 0 and not timer.seconds
    backend.train_step(data, np.arange(32, 64))
    assert timer.steps == 1
    assert timer.ms_per_step()["step"] > 0
