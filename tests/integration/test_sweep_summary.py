"""A sweep ends with a table of its jobs and the command that builds its report, and that command works."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from mlpbench.run.outcome import WIDTH

from support import PROJECT_ROOT, TEST_DATA, run_checked

pytestmark = pytest.mark.slow


def test_a_sweep_prints_its_jobs_and_the_report_command(tiny_root):
    data, uri = tiny_root / "data", f"sqlite:///{tiny_root / 'mlflow.db'}"
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "CI": "1"}
    out = run_checked([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m",
                       f"hydra.sweep.dir={tiny_root / 'multirun'}", "optim.lr=0.05,0.1", TEST_DATA,
                       f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
                       f"tracking.uri={uri}", "model.hidden_sizes=[16]", "train.batch_size=32", "train.epochs=1",
                       "train.seeds=1"], tiny_root, env)
    lines = out.split("stderr:")[0].splitlines()
    start = lines.index("sweep optim.lr=0.05,0.1: 2 of 2 jobs FINISHED")
    head, *jobs = lines[start + 1:start + 4]
    assert head.split() == ["job", "overrides", "status", "val", "acc", "test", "acc", "trained", "in"]
    for num, (job, lr) in enumerate(zip(jobs, ("0.05", "0.1"))):
        assert re.fullmatch(rf"\s*{num}  optim.lr={lr}\s+FINISHED\s+\d+\.\d\d %\s+\d+\.\d\d %\s+\d+\.\d s", job), job
    # this store is not the one the report reads by default, so the command names it
    said, command = lines[start + 4], lines[start + 5].strip()
    assert said == "its report:" and all(len(line) <= WIDTH for line in lines[start:start + 5])
    assert re.fullmatch(rf"MLFLOW_TRACKING_URI={re.escape(uri)} python pipelines/report.py --sweep [0-9a-f]{{32}}",
                        command), command

    words = shlex.split(command)
    report_env = {**env, **dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("--"))}
    args = [w for w in words if "=" not in w or w.startswith("--")]
    done = subprocess.run([sys.executable, *args[1:], "--out", str(tiny_root / "reports"), "--no-log"],
                          cwd=PROJECT_ROOT, env=report_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tiny_root / "reports").glob("sweep_*.md")), done.stdout + done.stderr
