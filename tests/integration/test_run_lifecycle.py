"""Sweeps started together stay apart, and no stop (SIGTERM, Ctrl-C, SIGKILL) leaves a run RUNNING.

Real processes: pipelines/train.py with Hydra's joblib launcher on tiny data, a fresh SQLite store
per test; the statuses are read back with MlflowClient.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from support import PROJECT_ROOT, TEST_DATA

pytestmark = pytest.mark.slow
TRAIN = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py")]


def _overrides(root: Path, *extra: str) -> list[str]:
    """Tiny data and store; one seed per job unless ``extra`` sets ``train.seeds`` (seed groups)."""
    data = root / "data"
    seeds = [] if any(e.startswith("train.seeds=") for e in extra) else ["train.seeds=1"]
    return [TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
            f"tracking.uri=sqlite:///{root / 'mlflow.db'}", "model.hidden_sizes=[16]", "train.batch_size=32",
            *seeds, *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    return {**env, "PYTHONUNBUFFERED": "1", "CI": "1"}


def _sweep(root: Path, *extra: str) -> list[str]:
    return TRAIN + ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "backend=numpy,torch",
                    "train.seed=0,1"] + _overrides(root, *extra)


def _runs(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _fresh_store(root: Path) -> None:
    """Create the store before a test polls it while a sweep writes it (the polling must not race)."""
    from mlpbench import tracking

    tracking.prepare(f"sqlite:///{root / 'mlflow.db'}", "mlpbench")


def _wait_for_running_children(root: Path, proc: subprocess.Popen, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [r for r in _runs(root) if r.info.status == "RUNNING" and r.data.tags.get("mlflow.parentRunId")]
        if len(running) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended early:\n{proc.stdout.read()}")
        time.sleep(0.5)
    pytest.fail(f"no {n} running child runs within {timeout} s")


def test_two_sweeps_started_together_stay_apart(tiny_root):
    procs = [subprocess.Popen(_sweep(tiny_root, "train.epochs=1"), cwd=tiny_root, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    runs = _runs(tiny_root)
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    assert len(runs) == 10 and len(parents) == 2 and {p.info.status for p in parents} == {"FINISHED"}
    for parent in parents:
        kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(kids) == 4 and {k.info.status for k in kids} == {"FINISHED"}
    assert len({p.data.tags["sweep_dir"] for p in parents}) == 2


@pytest.mark.parametrize("how", ["SIGTERM to the sweep", "SIGINT to the group", "SIGTERM to a sweep of seed groups"])
def test_a_stopped_sweep_leaves_nothing_running(tiny_root, how):
    _fresh_store(tiny_root)
    seeds = ["train.seeds=3"] if "seed groups" in how else []  # each job a parent with a run per seed under it
    # preexec_fn: Ctrl-C's default action, as in a terminal; a test run started in the background by a
    # non-interactive shell has SIGINT ignored, and the sweep would inherit that and never stop
    proc = subprocess.Popen(_sweep(tiny_root, "train.epochs=100000", *seeds), cwd=tiny_root, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_running_children(tiny_root, proc, 2)
        if how.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, output
    runs = _runs(tiny_root)
    statuses = [r.info.status for r in runs]
    assert "RUNNING" not in statuses, (statuses, output)
    parent = next(r for r in runs if r.data.tags.get("sweep") == "parent")
    assert parent.info.status == "KILLED"
    assert "the sweep stopped before all its jobs finished" in parent.data.tags["sweep_end_reason"]
    assert all(r.info.status == "KILLED" for r in runs if r.data.tags.get("mlflow.parentRunId"))


def test_a_run_killed_with_sigkill_is_ended_killed_by_the_next_run(tiny_root):
    _fresh_store(tiny_root)
    cmd = TRAIN + _overrides(tiny_root, "train.epochs=100000", f"hydra.run.dir={tiny_root / 'h1'}")
    proc = subprocess.Popen(cmd, cwd=tiny_root, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any(r.info.status == "RUNNING" for r in _runs(tiny_root)):
            assert time.monotonic() < deadline and proc.poll() is None, "the run did not start"
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    killed_id = next(r.info.run_id for r in _runs(tiny_root))
    doctor = [sys.executable, "-m", "mlpbench.tracking.doctor", "--uri", f"sqlite:///{tiny_root / 'mlflow.db'}"]
    listed = subprocess.run(doctor + ["--dry-run"], capture_output=True, text=True, env=_env(), check=True).stdout
    assert f"{killed_id} " in listed and "would end KILLED" in listed

    done = subprocess.run(TRAIN + _overrides(tiny_root, "train.epochs=1", f"hydra.run.dir={tiny_root / 'h2'}"),
                          cwd=tiny_root, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    runs = {r.info.run_id: r for r in _runs(tiny_root)}
    assert runs[killed_id].info.status == "KILLED"
    assert "was gone when checked" in runs[killed_id].data.tags["killed_reason"]
    assert sorted(r.info.status for r in runs.values()) == ["FINISHED", "KILLED"]


@pytest.mark.parametrize("optim", ["nesterov", "adam"])
def test_a_diverging_run_ends_failed_with_the_reason(tiny_root, optim):
    from mlpbench.run.seeds import train_and_track
    from mlpbench.training import DivergedError

    from support import tiny_config

    values = tiny_config(tiny_root, ["experiment=debug", f"optim={optim}", "optim.lr=1e4"])
    with pytest.raises(DivergedError, match=r"epoch 1, step \d+/\d+.*optim.lr"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    (run,) = _runs(tiny_root)
    assert run.info.status == "FAILED" and "DivergedError" in run.data.tags["error"]
    assert not (tiny_root / "out" / "metrics.json").exists()


def test_a_crashing_job_fails_the_sweep_and_the_parent_names_it(tiny_root):
    cmd = TRAIN + ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optim.lr=0.1,1e4"] + \
        _overrides(tiny_root, "train.epochs=2")
    done = subprocess.run(cmd, cwd=tiny_root, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    runs = _runs(tiny_root)
    assert "RUNNING" not in [r.info.status for r in runs]
    parent = next(r for r in runs if r.data.tags.get("sweep") == "parent")
    crashed = next(r for r in runs if r.data.params.get("optim.lr") == "10000.0")
    assert parent.info.status == "FAILED" and crashed.info.status == "FAILED"
    reason = parent.data.tags["sweep_end_reason"]
    assert "1 job(s) FAILED" in reason and crashed.info.run_name in reason and "DivergedError" in reason
