"""What a scheduled job does, without a cluster: hydra/launcher=local (the submitit code path of
hydra/launcher=slurm as local processes, on SQLite), and the time-limit warning SLURM sends a job."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from support import PROJECT_ROOT, TEST_DATA

pytestmark = pytest.mark.slow


def test_a_local_submitit_sweep_gives_one_parent_and_its_children_each_on_its_cpus(tiny_root):
    data = tiny_root / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m", "hydra/launcher=local",
           "hydra.launcher.cpus_per_task=1", "experiment=debug", "backend=numpy,torch", "model.hidden_sizes=[16]",
           "train.batch_size=32", TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
           f"tracking.uri=sqlite:///{tiny_root / 'mlflow.db'}", f"hydra.sweep.dir={tiny_root / 'multirun'}"]
    done = subprocess.run(cmd, cwd=tiny_root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(f"sqlite:///{tiny_root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and sorted(c.info.status for c in children) == ["FINISHED"] * 2
    assert {c.data.tags["backend_threads"] for c in children} == {"1"}
    assert all(c.info.run_name.startswith(f"[backend={c.data.params['backend']}] ") for c in children)


def test_the_time_limit_warning_ends_the_run_killed_saying_why(tiny_root):
    """submitit asks SLURM for SIGUSR2 ``signal_delay_s`` before the time limit (SIGTERM at it)."""
    data, uri = tiny_root / "data", f"sqlite:///{tiny_root / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    from mlpbench import tracking

    tracking.prepare(uri, "mlpbench")  # the store exists before the test polls it
    cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "experiment=debug", "train.epochs=100000",
           "model.hidden_sizes=[16]", "train.batch_size=32", TEST_DATA, f"data.paths.processed={data / 'processed'}",
           f"data.paths.split={data / 'split'}",
           f"tracking.uri={uri}", f"hydra.run.dir={tiny_root / 'run'}"]
    proc = subprocess.Popen(cmd, cwd=tiny_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not _running(uri):
            assert time.monotonic() < deadline and proc.poll() is None, "the run did not start"
            time.sleep(0.5)
        proc.send_signal(signal.SIGUSR2)
        stderr = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    (run,) = MlflowClient(uri).search_runs([e.experiment_id for e in MlflowClient(uri).search_experiments()])
    assert run.info.status == "KILLED"
    assert "SIGUSR2 (the scheduler's warning before its time limit" in run.data.tags["error"]


def _running(uri: str) -> bool:
    client = MlflowClient(uri)
    return any(r.info.status == "RUNNING" for r in client.search_runs([e.experiment_id for e in client.search_experiments()]))
