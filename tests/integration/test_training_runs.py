"""Training runs end to end on tiny data: what MLflow records, kills, sweeps, a tracking server."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from mlpbench.model_io import load_model
from mlpbench.options import BACKENDS
from mlpbench.run.seeds import train_and_track
from mlpbench.environment import LOAD_METRIC
from mlpbench.tracking import portable
from mlpbench.tracking.restore import restore

from support import PROJECT_ROOT, TEST_DATA, free_port, stop, tiny_config

pytestmark = pytest.mark.slow
TRAIN = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py")]


def _cli_overrides(root: Path, *extra: str) -> list[str]:
    """Command-line overrides pointing a pipelines/train.py run at ``root``'s tiny data and store."""
    data = root / "data"
    return [TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
            f"tracking.uri=sqlite:///{root / 'mlflow.db'}", "model.hidden_sizes=[16]",
            "train.batch_size=32", "train.seeds=1", *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "PYTHONUNBUFFERED": "1", "CI": "1"}


@pytest.mark.parametrize("backend", BACKENDS.names())
def test_run_records_params_metrics_tags_artifacts_and_outputs(tiny_root, backend):
    values = tiny_config(tiny_root, [f"backend={backend}"])
    values["outputs"] = {"model_dir": "models/x", "metrics_file": "metrics/x.json", "history_file": "metrics/x.csv",
                         "run_file": "metrics/x_run.json", "export_dir": "runs/x"}
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)

    run = MlflowClient(values["tracking"]["uri"]).get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["backend"] == backend and run.data.params["model.hidden_sizes"] == "[16]"
    assert run.data.params["train.epochs"] == "2" and run.data.params["train.threads"] == "1"
    # only the keys of the run's own optimizer (Nesterov SGD) and schedule (cosine) are recorded
    optim_keys = {k for k in run.data.params if k.startswith(("optim.", "schedule."))}
    assert optim_keys == {"optim.name", "optim.lr", "optim.weight_decay", "optim.momentum", "optim.nesterov",
                          "schedule.name", "schedule.min_lr"}
    assert run.data.params["data.name"] == "mnist" and run.data.params["data.split.val_fraction"] == "0.2"
    # only what applies: He init (auto for ReLU) reads no scale, ReLU no slope, numpy no torch options
    assert not {"model.init_scale", "model.leaky_slope"} & set(run.data.params)
    assert any(k.startswith("torch.") for k in run.data.params) == (backend == "torch")
    for tag in ("backend", "git_commit", "data_sha256", "numpy_version", f"{BACKENDS[backend].library}_version",
                "blas", "cpu", "cpu_count", "backend_threads", "backend_device"):
        assert run.data.tags.get(tag), tag
    assert (run.data.tags["dataset"], run.data.tags["dataset_title"]) == ("mnist", "MNIST")
    assert backend in run.info.run_name and "h16" in run.info.run_name
    client = MlflowClient(values["tracking"]["uri"])
    history = client.get_metric_history(summary["run_id"], "val/acc")
    assert [m.step for m in history] == [1, 2]
    load = client.get_metric_history(summary["run_id"], LOAD_METRIC)  # the key the torch options study logs too
    assert [m.step for m in load] == [1, 2] and all(m.value >= 0 for m in load)
    for key in ("test/acc", "time/total_s", "time/epoch_median_s", "memory/peak_rss_mb", "train/loss"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(summary["run_id"])}
    assert {"config.yaml", "history.csv", "confusion_matrix.json", "figures"} <= artifacts
    # outputs at the declared paths: the run file names the run, the metrics file holds MLflow's
    # numbers only, under the same flat keys in every stage's file (`dvc metrics show`: a row per file)
    identity = json.loads((tiny_root / "metrics/x_run.json").read_text())
    assert identity == {"run_id": summary["run_id"], "experiment_id": run.info.experiment_id,
                        "run_name": run.info.run_name, "backend": backend, "preset": "default",
                        "seed_runs": {"0": summary["run_id"]}, "export": "../runs/x"}
    # the run's export, restored into a store that never saw the run, is the run as it ended
    other = f"sqlite:///{tiny_root / 'other.db'}"
    mapping, imported = restore(other, [tiny_root / "runs/x"])
    local = mapping[summary["run_id"]]
    assert imported == 1 and local != summary["run_id"]
    copy = MlflowClient(other).get_run(local)
    assert (copy.info.status, copy.info.run_name, copy.data.params) == ("FINISHED", run.info.run_name, run.data.params)
    assert copy.data.metrics == run.data.metrics and copy.data.tags[portable.SOURCE_TAG] == summary["run_id"]
    assert {a.path for a in MlflowClient(other).list_artifacts(local)} >= artifacts
    metrics = json.loads((tiny_root / "metrics/x.json").read_text())
    # what `dvc exp show` opens on: validation and test accuracy, then the median epoch time
    assert metrics == {"val_acc": run.data.metrics["final/val_acc"], "test_acc": run.data.metrics["test/acc"],
                       "epoch_s": run.data.metrics["time/epoch_median_s"]}
    assert list(metrics) == ["val_acc", "test_acc", "epoch_s"]
    assert (tiny_root / "metrics/x.csv").read_text().startswith("epoch,train_loss")
    model = load_model(tiny_root / "models/x")
    x_test = np.load(tiny_root / "data/processed/test_images.npy")
    y_test = np.load(tiny_root / "data/processed/test_labels.npy")
    assert np.mean(model.predict(x_test) == y_test) == pytest.approx(metrics["test_acc"])
    if backend == "torch":
        assert (tiny_root / "models/x/model.pt").is_file()
    # the pyfunc model logged to MLflow (probabilities) predicts what the saved model predicts
    mlflow.set_tracking_uri(values["tracking"]["uri"])
    logged = mlflow.pyfunc.load_model(f"runs:/{summary['run_id']}/{backend}-mlp")
    np.testing.assert_array_equal(logged.predict(x_test.astype(np.float32)).argmax(axis=1), model.predict(x_test))


def test_invalid_config_fails_before_any_run_is_created(tiny_root):
    values = tiny_config(tiny_root, ["optim.lr=0"])
    with pytest.raises(ValueError, match="optim.lr"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    assert not (tiny_root / "mlflow.db").exists()


def test_sigterm_marks_the_run_killed_and_leaves_no_model(tiny_root):
    model_dir = tiny_root / "models" / "numpy"
    cmd = TRAIN + _cli_overrides(tiny_root, "train.epochs=100000", f"outputs.model_dir={model_dir}",
                                 f"hydra.run.dir={tiny_root / 'hydra'}")
    proc = subprocess.Popen(cmd, cwd=tiny_root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until training is under way
            line = proc.stdout.readline()
            lines.append(line)
            if re.search(r" epoch +2/", line) or not line:  # right-aligned to the epoch count's width
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    output = "".join(lines) + proc.stdout.read()
    assert proc.returncode == 143, output
    assert "train stopped (received signal SIGTERM); its MLflow run ended KILLED" in output
    assert "Traceback" not in output
    runs = MlflowClient(f"sqlite:///{tiny_root / 'mlflow.db'}").search_runs(["1"])
    assert [r.info.status for r in runs] == ["KILLED"], output
    assert "SIGTERM" in runs[0].data.tags["error"]
    assert not model_dir.exists() or not any(model_dir.iterdir())


def test_parallel_sweep_has_one_parent_and_four_finished_children(tiny_root):
    sweep_dir = tiny_root / "multirun"
    cmd = TRAIN + ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}",
                   "backend=numpy,torch", "train.seed=0,1"] + _cli_overrides(tiny_root, "train.epochs=1")
    done = subprocess.run(cmd, cwd=tiny_root, env=_env(), capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "database is locked" not in output
    client = MlflowClient(f"sqlite:///{tiny_root / 'mlflow.db'}")
    runs = client.search_runs(["1"])
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4 and len(runs) == 5
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert all(r.info.status == "FINISHED" for r in children)
    assert all({"val/acc", "test/acc", "time/epoch_s"} <= set(r.data.metrics) for r in children)
    assert {r.data.tags["backend_threads"] for r in children} == {str(max(1, os.cpu_count() // 2))}


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited early:\n{proc.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer {url} within {timeout}s")


def test_training_against_a_tracking_server(tiny_root):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tiny_root / 'server.db'}",
         "--artifacts-destination", str(tiny_root / "server-artifacts"), "--workers", "1"],
        cwd=tiny_root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/health", server)
        values = tiny_config(tiny_root, ["backend=numpy"])
        values["tracking"]["uri"] = url
        summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)
        with urllib.request.urlopen(f"{url}/api/2.0/mlflow/runs/get?run_id={summary['run_id']}", timeout=10) as r:
            run = json.load(r)["run"]
    finally:
        stop(server, 30)
    assert run["info"]["status"] == "FINISHED"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["test/acc"] == pytest.approx(summary["test_acc"])
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["backend"] == "numpy"
    assert (tiny_root / "server-artifacts").is_dir()  # artifacts went through the server
