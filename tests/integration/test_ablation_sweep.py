"""The ablation end to end on tiny data: a sweep over the first two steps, then its report."""
from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from mlpbench.options import BACKENDS
from mlpbench.report import build_ablation
from support import PROJECT_ROOT, TEST_DATA

from report.helpers import rows_by

pytestmark = pytest.mark.slow  # about 40 s of CPU: two steps x backends, each two one-epoch seeds, then the report


def test_a_two_step_ablation_sweep_reports_the_change_of_each_backend(tiny_root):
    data, sweep_dir = tiny_root / "data", tiny_root / "multirun"
    uri = f"sqlite:///{tiny_root / 'mlflow.db'}"
    cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m", f"hydra.sweep.dir={sweep_dir}",
           "experiment=ablation/00_tutorial,ablation/01_init", f"backend={','.join(BACKENDS)}",
           TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}", f"tracking.uri={uri}",
           "model.hidden_sizes=[16]", "train.batch_size=32", "train.epochs=1", "train.threads=1", "train.seeds=2"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(cmd, cwd=tiny_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    parent = (sweep_dir / "mlflow_parent_run_id").read_text().strip()
    md = build_ablation(uri, tiny_root / "report", parent, log_to_mlflow=False).markdown.read_text()
    client = MlflowClient(uri)
    children = {(r.data.params["preset"], r.data.params["backend"]): r
                for r in client.search_runs(["1"], f"tags.mlflow.parentRunId = '{parent}'")}
    assert set(children) == {(p, b) for p in ("ablation_00_tutorial", "ablation_01_init") for b in BACKENDS}

    def per_seed(group) -> list[float]:  # each job is a seed group: its two seeds' runs, in seed order
        runs = client.search_runs(["1"], f"tags.mlflow.parentRunId = '{group.info.run_id}'")
        return [r.data.metrics["final/val_acc"] for r in sorted(runs, key=lambda r: r.data.params["train.seed"])]

    for backend in BACKENDS:
        before, after = (per_seed(children[p, backend]) for p in ("ablation_00_tutorial", "ablation_01_init"))
        diff = [a - b for a, b in zip(after, before)]
        row = rows_by(md, "The path")[("01 init", backend)]
        assert row[0] == "2" and row[3].startswith(f"{50 * (diff[0] + diff[1]):+.2f} points")
        if diff[0] != diff[1]:  # two different differences: an interval (scipy's paired t)
            ci = stats.ttest_rel(after, before).confidence_interval(0.95)
            assert f"[{100 * ci.low:+.2f}, {100 * ci.high:+.2f}]" in row[3]
    assert rows_by(md, "Contribution of each change", width=1)[("01 init",)][0] == "model.init uniform → auto"
    assert "Missing steps" not in md and "did not finish" not in md
