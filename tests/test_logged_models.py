"""What MLflow shows of a training run: the named logged model, its predict contract, the data inputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
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
from mlpbench.tracking.models import model_name

from support import free_port, stop, tiny_config

pytestmark = pytest.mark.slow


def test_model_names_follow_backend_and_preset():
    assert model_name("numpy", "default") == "numpy-mlp"
    assert model_name("torch", "tutorial") == "torch-mlp-tutorial"


@pytest.mark.parametrize("backend", BACKENDS.names())
def test_logged_model_predicts_probabilities_and_carries_metrics_and_data(tiny_root, backend):
    values = tiny_config(tiny_root, [f"backend={backend}"])
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    uri = values["tracking"]["uri"]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    run = client.get_run(summary["run_id"])

    # one logged model, named by backend and preset, with a signature and an input example
    (logged,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert logged.name == f"{backend}-mlp" and logged.source_run_id == run.info.run_id
    info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
    assert info.signature is not None and info.signature.inputs.to_dict()[0]["type"] == "tensor"
    assert info.saved_input_example_info is not None

    # predict: float32 (n, 784) pixels -> float32 (n, 10) probabilities whose argmax is the backend's label
    x_test = np.load(tiny_root / "data/processed/test_images.npy").astype(np.float32)
    probabilities = np.asarray(mlflow.pyfunc.load_model(f"models:/{logged.model_id}").predict(x_test))
    assert probabilities.shape == (len(x_test), 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()
    labels = load_model(tiny_root / "out" / "model").predict(x_test)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), labels)

    # the NumPy model is logged as code: no pickle, and no copy of mlpbench that loading would import
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{logged.model_id}", dst_path=str(tiny_root / "m")))
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*"))
    if backend == "numpy":
        assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle")) or f.startswith("code")], files

    # the test metrics are on the model as well as on the run
    model_metrics = {m.key: m.value for m in client.get_logged_model(logged.model_id).metrics}
    assert model_metrics["test/acc"] == pytest.approx(run.data.metrics["test/acc"])
    assert "test/loss" in model_metrics

    # the three splits as dataset inputs, with the project's data hash as digest
    inputs = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset
              for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "validation", "test"}
    data_hash = run.data.tags["data_sha256"]
    for context, dataset in inputs.items():
        assert dataset.name == f"mnist-{'train' if context == 'training' else context}"
        assert dataset.digest.endswith(f"-{context}") and data_hash.startswith(dataset.digest.rsplit("-", 1)[0])
        assert str(tiny_root / "data" / "processed") in dataset.source
    assert json.loads(inputs["test"].profile)["features_shape"] == [len(x_test), 784]


def _post_json(url: str, payload: dict, deadline: float, proc: subprocess.Popen, log: Path) -> dict:
    """POST ``payload`` to ``url`` as JSON once the server answers; fail with its log if it dies or hangs."""
    body = json.dumps(payload).encode()
    while True:
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except (ConnectionError, urllib.error.URLError):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not answer: {log.read_text()[-3000:]}")
            time.sleep(0.5)


def test_registered_alias_follows_the_newest_version_and_serves_over_rest(tiny_root):
    first = train_and_track(tiny_config(tiny_root, ["tracking.registry_alias=current"]), tiny_root,
                            tiny_root / "a", progress=False)
    values = tiny_config(tiny_root, ["tracking.registry_alias=current", "train.seed=1"])
    second = train_and_track(values, tiny_root, tiny_root / "b", progress=False)
    uri = values["tracking"]["uri"]
    client = MlflowClient(uri)
    registered = client.get_registered_model("numpy-mlp")
    assert registered.aliases == {"current": 2} and "(n, 10) float32 class probabilities" in registered.description
    assert client.get_model_version("numpy-mlp", "1").run_id == first["run_id"]
    assert client.get_model_version("numpy-mlp", "2").run_id == second["run_id"]
    assert client.get_run(second["run_id"]).data.tags["registered_model"] == "numpy-mlp/2"

    x_test = np.load(tiny_root / "data/processed/test_images.npy").astype(np.float32)[:20]
    labels = load_model(tiny_root / "b" / "model").predict(x_test)
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model("models:/numpy-mlp@current")
    np.testing.assert_array_equal(np.asarray(loaded.predict(x_test)).argmax(axis=1), labels)

    # The same model behind `mlflow models serve`, bound to 127.0.0.1, answering over REST.
    port, log = free_port(), tiny_root / "serve.log"
    bin_dir = Path(sys.executable).parent  # the environment's uvicorn runs the scoring server
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with open(log, "w") as out:
        proc = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/numpy-mlp@current",
                                 "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        answer = _post_json(f"http://127.0.0.1:{port}/invocations", {"inputs": x_test.tolist()},
                            time.monotonic() + 240, proc, log)
    finally:
        stop(proc)
    probabilities = np.asarray(answer["predictions"], dtype=np.float32)
    assert probabilities.shape == (20, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), labels)
