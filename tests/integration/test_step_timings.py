"""Every training run records its step time and the GEMM floor of its own backend (tiny data)."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from mlpbench.options import BACKENDS
from mlpbench.run.seeds import train_and_track

from support import tiny_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", BACKENDS.names())
def test_a_training_run_records_its_step_time_and_gemm_floor(tiny_root, backend):
    values = tiny_config(tiny_root, [f"backend={backend}"])
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    run = MlflowClient(values["tracking"]["uri"]).get_run(summary["run_id"])
    m = run.data.metrics
    assert 0 < m["gemm/floor_step_s"] and 0 < m["time/step_median_s"] and m["gemm/gflops"] > 0
    assert m["gemm/share"] == pytest.approx(m["gemm/floor_step_s"] / m["time/step_median_s"])
    # 784-16-10 at batch 32: forward and weight gradients of both layers, the input gradient of the second
    assert m["gemm/gflops"] == pytest.approx(2 * 32 * (2 * 784 * 16 + 3 * 16 * 10) / m["gemm/floor_step_s"] / 1e9)
    assert run.data.tags["backend_blas"]
