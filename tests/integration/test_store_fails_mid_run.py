"""A tracking server that goes down mid-run and stays down: one line, no retry after the first, nothing lost.

Before, training hung 828 s (every later write, the error tag and the run's end each spent MLflow's whole
retry budget), printed 353 lines and left the run RUNNING with no error, which the doctor later called
"process gone". Now the first failed write ends the retries, the run's end goes to a journal in its folder,
the script exits with one line naming the store, the run and the command that records it, and the doctor
records it once the server is back. A real MLflow server is started, killed and restarted.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from support import PROJECT_ROOT, TEST_DATA, free_port, stop, write_learnable_data

pytestmark = pytest.mark.slow
# MLflow's retries, shortened from ~254 s to about 14 s for the test: what the first failed write spends.
RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2"}
RETRY_BUDGET_S = 2 + 4 + 8


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **extra}


def _server(root: Path, port: int) -> subprocess.Popen:
    """An MLflow server on 127.0.0.1:port over ``root/server.db``, answering /health."""
    log = open(root / "server.log", "a")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
                             f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=root, env=_env())
    deadline = time.monotonic() + 180  # a loaded 2-core machine can take a minute to import mlflow
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.25)


def _train(root: Path, uri: str, env: dict[str, str], seeds: int = 1) -> subprocess.Popen:
    """Training that would go on for hours, on ``root``'s tiny data, into the store ``uri``."""
    data = root / "data"
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "train.epochs=100000", "train.threads=1",
         f"train.seeds={seeds}",
         "model.hidden_sizes=[16]", "train.batch_size=32", TEST_DATA, f"data.paths.processed={data / 'processed'}",
         f"data.paths.split={data / 'split'}", f"tracking.uri={uri}", f"hydra.run.dir={root / 'run'}"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_epoch(store: MlflowClient, train: subprocess.Popen) -> str:
    """The id of the run ``train`` started, once the store has its first epoch's metrics."""
    deadline = time.monotonic() + 180
    while True:
        experiment = store.get_experiment_by_name("mlpbench")
        runs = store.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'") if experiment else []
        if runs and store.get_metric_history(runs[0].info.run_id, "val/acc"):
            return runs[0].info.run_id
        assert time.monotonic() < deadline and train.poll() is None, "the run did not start"
        time.sleep(0.5)


@pytest.mark.parametrize("seeds", [1, 2], ids=["a run", "a seed group"])
def test_a_server_gone_mid_run_ends_in_one_line_and_the_doctor_records_the_run(tmp_path, seeds):
    """A seed group: the seed's run and its parent each keep their end (the parent's is the one named), and
    the doctor, given the run's folder, records both."""
    root = write_learnable_data(tmp_path)
    port = free_port()
    uri, store = f"http://127.0.0.1:{port}", MlflowClient(f"sqlite:///{root / 'server.db'}")
    server = _server(root, port)
    train = _train(root, uri, _env(**RETRIES), seeds)
    try:
        seed_run = _first_epoch(store, train)
        run_id = store.get_run(seed_run).data.tags["mlflow.parentRunId"] if seeds > 1 else seed_run
        stop(server)
        killed = time.monotonic()
        _, stderr = train.communicate(timeout=300)
        took = time.monotonic() - killed
    finally:
        stop(train)
        stop(server)

    journal = root / "run" / "mlpbench-journal.json"
    last = stderr.strip().splitlines()[-1]
    assert last == (f"train failed: the tracking store {uri} failed during MLflow run {run_id} "
                    f"({json.loads(journal.read_text())['store_error']}); its end is kept in {journal}: once the "
                    f"store answers, record it with python -m mlpbench.tracking.doctor --uri {uri} --journals "
                    f"{journal.parent}"), stderr[-3000:]
    assert "Traceback" not in stderr
    assert took < 2 * RETRY_BUDGET_S, f"{took:.0f} s from the server's end to the script's: retried more than once"
    assert store.get_run(run_id).info.status == "RUNNING"  # the store never heard the end

    server = _server(root, port)
    try:
        doctor = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor", "--no-slurm", "--uri", uri,
                                 "--journals", str(journal.parent)], env=_env(), capture_output=True, text=True,
                                timeout=300)
    finally:
        stop(server)
    assert doctor.returncode == 0, doctor.stderr
    assert f"{run_id} (" in doctor.stdout and f"ended FAILED from {journal}" in doctor.stdout
    assert store.get_run(seed_run).info.status == "FAILED"  # a seed's run: its own journal, under seed-<n>/
    run = store.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("StoreFailed: MlflowException: ")
    assert run.data.tags["killed_reason"] == f"recorded from {journal}: the store failed during the run"
    assert not journal.exists() and (journal.parent / "mlpbench-journal.settled.json").is_file()


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs at ``tmp_path/disk`` (root only: mount needs it)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a small tmpfs needs root and mount(8); not running as root here")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # this process may still hold the store open


def test_a_store_whose_disk_fills_mid_run_ends_in_one_line_and_nothing_is_left_running(tmp_path, small_disk):
    """Before: 1,016 lines of output, even the UPDATE to FAILED failed, the run was left RUNNING."""
    from mlpbench import tracking

    root = write_learnable_data(tmp_path / "project")
    uri, filler = f"sqlite:///{small_disk / 'mlflow.db'}", small_disk / "filler"
    tracking.prepare(uri, "mlpbench")
    store = MlflowClient(uri)
    train = _train(root, uri, _env())
    try:
        run_id = _first_epoch(store, train)
        with open(filler, "wb", buffering=0) as fh:  # every byte the disk has left (unbuffered: close writes nothing)
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 65536)
        _, stderr = train.communicate(timeout=300)
    finally:
        stop(train)
    filler.unlink()

    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"train failed: the tracking store {uri} failed during MLflow run {run_id} ("), stderr
    assert "Traceback" not in stderr and "full" in last, stderr
    doctor = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor", "--no-slurm", "--uri", uri,
                             "--journals", str(root / "run")], env=_env(), capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0, doctor.stderr
    run = store.get_run(run_id)
    assert run.info.status == "FAILED" and "full" in run.data.tags["error"], (last, doctor.stdout)
