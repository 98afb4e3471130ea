"""What MLflow shows of a training run: the named logged model, its predict contract, the data inputs."""
from __future__ import annotations

import json

import mlflow
import mlflow.pyfunc
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from mlpbench.model_io import load_model
from mlpbench.run import train_and_track
from mlpbench.tracking.models import model_name

from support import tiny_config

pytestmark = pytest.mark.slow


def test_model_names_follow_backend_and_preset():
    assert model_name("numpy", "default") == "numpy-mlp"
    assert model_name("torch", "tutorial") == "torch-mlp-tutorial"


@pytest.mark.parametrize("backend", ["numpy", "torch"])
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
