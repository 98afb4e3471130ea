"""The GEMM floor: its flop count, the GEMMs each backend's ``gemm_step`` runs, and the interleaved timing."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mlpbench.backends.numpy_backend import gemm_step as numpy_gemm_step
from mlpbench.backends.torch_gemm import gemm_step as torch_gemm_step
from mlpbench.training.speed import StepSpeed, gemm_flops, interleaved

SIZES, BATCH = (784, 512, 256, 10), 768


def test_the_default_net_has_the_flops_counted_by_hand():
    forward = 784 * 512 + 512 * 256 + 256 * 10  # multiply-adds per row
    weight_grads = forward
    input_grads = 512 * 256 + 256 * 10  # none for the first layer: the data's gradient is never needed
    assert gemm_flops(SIZES, BATCH) == 2 * BATCH * (forward + weight_grads + input_grads)
    assert gemm_flops((784, 10), 1) == 2 * 2 * 784 * 10


def _counted(monkeypatch, module, name: str) -> list[int]:
    """Patch ``module.name`` (a matrix product) to add each call's flops to the returned list."""
    flops, original = [], getattr(module, name)

    def counting(a, b, *args, **kwargs):
        flops.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        return original(a, b, *args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return flops


@pytest.mark.parametrize("sizes", [SIZES, (20, 7), (20, 9, 8, 7, 3)])
def test_each_backends_gemm_step_runs_exactly_the_counted_gemms(monkeypatch, sizes):
    numpy_flops = _counted(monkeypatch, np, "matmul")
    numpy_gemm_step(sizes, 5, np.dtype("float32"))()
    torch_flops = _counted(monkeypatch, torch, "mm")
    torch_gemm_step(sizes, 5, torch.float32, torch.device("cpu"))()
    assert sum(numpy_flops) == sum(torch_flops) == gemm_flops(sizes, 5)
    assert len(numpy_flops) == len(torch_flops) == 3 * (len(sizes) - 1) - 1


def test_calls_are_timed_in_turn_after_their_warm_up_each_round_starting_one_further():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in "ABC"}
    times = interleaved(calls, repeats=4)
    assert order == ["A", "A", "B", "B", "C", "C"] + list("ABC" "BCA" "CAB" "ABC")  # none always follows another
    assert {name: len(t) for name, t in times.items()} == {"A": 4, "B": 4, "C": 4}


def test_the_pause_before_each_timing_is_waited_but_not_timed():
    start = time.perf_counter()
    times = interleaved({"A": lambda: None, "B": lambda: None}, repeats=2, settle_s=0.02)
    assert time.perf_counter() - start >= 4 * 0.02
    assert all(t < 0.01 for ts in times.values() for t in ts)


def test_a_fast_call_is_repeated_until_a_timing_lasts_min_time():
    count = {"n": 0}
    times = interleaved({"fast": lambda: count.__setitem__("n", count["n"] + 1)}, repeats=2, min_time_s=0.002)
    assert count["n"] > 2 + 2 * 10 and all(0 < t < 0.002 for t in times["fast"])


def test_step_metrics_split_the_step_into_gemms_and_the_rest():
    speed = StepSpeed(batch=768, flops=2_000_000_000, step_s=0.0125, floor_s=0.01)
    assert speed.metrics() == pytest.approx({"time/step_median_s": 0.0125, "gemm/floor_step_s": 0.01,
                                             "gemm/gflops": 200.0, "gemm/share": 0.8,
                                             "time/overhead_step_s": 0.0025})
