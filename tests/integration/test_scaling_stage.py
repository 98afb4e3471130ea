"""The scaling stage's script on a tiny grid in tmp_path, with a tmp SQLite MLflow store."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlpbench.compose import compose
from mlpbench.options import BACKENDS

from support import PROJECT_ROOT, run_checked

pytestmark = pytest.mark.slow
SCRIPT = [sys.executable, str(PROJECT_ROOT / "pipelines" / "scaling.py")]
TINY = ["model.hidden_sizes=[16,8]", "train.batch_size=8", "scaling.grids.quick.widths=[16,32]",
        "scaling.grids.quick.batch_sizes=[4,8]", "scaling.grids.quick.depths=[2,3]",
        "scaling.grids.quick.dtypes=[float32]", "scaling.grids.quick.repeats=2", "scaling.grids.quick.min_time_s=0"]


def tiny_params(tmp_path: Path, *extra: str) -> Path:
    values = compose(PROJECT_ROOT, [*TINY, f"scaling.out_dir={tmp_path / 'out'}",
                                    f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", *extra])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def test_the_stage_writes_the_csv_table_figures_and_an_mlflow_run(tmp_path):
    out = run_checked([*SCRIPT, "--params", str(tiny_params(tmp_path))], tmp_path, _env(), timeout=600)
    frame = pd.read_csv(tmp_path / "out" / "scaling.csv")
    # widths 16, 32 / batches 4, 8 / depths 2, 3 around 16-8 at batch 8: four points, each for every backend
    assert sorted(set(frame["hidden_sizes"])) == ["16-8", "16-8-8", "32-16"]
    assert len(frame) == 4 * len(BACKENDS) and set(frame["backend"]) == set(BACKENDS)
    assert (frame["floor_s"] > 0).all() and (frame["repeats"] == 2).all()
    assert (frame["step_s_min"] <= frame["step_s"]).all() and (frame["step_s"] <= frame["step_s_max"]).all()
    table = (tmp_path / "out" / "scaling.md").read_text()
    assert "| faster" in table and "figures/samples_per_s_width.png" in table

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("mlpbench-scaling").experiment_id])
    assert run.info.run_id in out and run.info.status == "FINISHED"
    assert run.data.params["grid"] == "quick" and run.data.params["widths"] == "[16, 32]"
    assert run.data.tags["blas_numpy"] and run.data.tags["blas_torch"] and run.data.tags["study"] == "scaling"
    assert {"numpy/step_s", "torch/gemm_gflops", "numpy/points_faster"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"scaling.csv", "scaling.md", "figures"} <= artifacts
    assert len(client.list_artifacts(run.info.run_id, "figures")) == 3


def test_an_unknown_grid_fails_in_one_line_before_any_timing(tmp_path):
    done = subprocess.run([*SCRIPT, "--params", str(tiny_params(tmp_path)), "--grid", "huge"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == ("scaling failed: scaling.grid='huge' is not a grid; choose one of: quick, full "
                                   "(or add it under scaling.grids in conf/scaling/)")
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
