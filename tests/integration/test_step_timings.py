"""Every training run records its step time, the GEMM floor of its own backend and its step op by op (tiny data)."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from mlpbench.options import BACKENDS
from mlpbench.run.seeds import train_and_track

from support import tiny_config

pytestmark = pytest.mark.slow


def test_every_run_records_its_step_time_gemm_floor_and_step_op_by_op_and_the_report_shows_both(tiny_root, tmp_path):
    """Both backends in one store (one test: each run takes seconds), then the comparison report on them."""
    from mlpbench.op_groups import ARTIFACT, GROUPS, METRIC
    from mlpbench.report.comparison import build_comparison

    ids = []
    for backend in BACKENDS.names():
        values = tiny_config(tiny_root, [f"backend={backend}"])
        summary = train_and_track(values, tiny_root, tiny_root / f"out-{backend}", progress=False)
        client = MlflowClient(values["tracking"]["uri"])
        run = client.get_run(summary["run_id"])
        m = run.data.metrics
        assert 0 < m["gemm/floor_step_s"] and 0 < m["time/step_median_s"] and m["gemm/gflops"] > 0
        assert m["gemm/share"] == pytest.approx(m["gemm/floor_step_s"] / m["time/step_median_s"])
        # 784-16-10 at batch 32: forward and weight gradients of both layers, the input gradient of the second
        assert m["gemm/gflops"] == pytest.approx(2 * 32 * (2 * 784 * 16 + 3 * 16 * 10) / m["gemm/floor_step_s"] / 1e9)
        assert run.data.tags["backend_blas"]
        # the step op by op: every group, adding up to the instrumented step, and the raw profile
        assert all(m[METRIC.format(g)] >= 0 for g in GROUPS)
        assert m["attribution/coverage"] > 0 and m["attribution/step_ms"] > 0
        assert sum(m[METRIC.format(g)] for g in GROUPS) == pytest.approx(m["attribution/instrumented_step_ms"])
        assert ARTIFACT in {f.path for f in client.list_artifacts(summary["run_id"], "attribution")}
        ids.append(summary["run_id"])
    files = build_comparison(values["tracking"]["uri"], ids, tmp_path / "report", log_to_mlflow=False)
    text = files.markdown.read_text()
    assert "## The step op by op" in text and "| dropout RNG" in text and "step_attribution.png" in text
