"""Logging trained models to the active MLflow run, one function per model flavour.

Each backend's ``log_model`` picks its flavour: torch modules through ``mlflow.pytorch``, the
NumPy MLP as an ``mlflow.pyfunc`` model logged as code (``numpy_pyfunc``, no pickle) whose artifact
is its ``weights.npz``.

Both flavours keep one contract: ``mlflow.pyfunc.load_model(uri).predict(x)`` with ``x`` (n, 784)
float32 pixels in [0, 1] returns (n, num_classes) float32 class probabilities (rows sum to 1; the
argmax is the digit). Models are named by ``model_name`` (``numpy-mlp``, ``torch-mlp-tutorial``)
and carry a signature and an input example.
"""
from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np

NUMPY_PYFUNC = Path(__file__).with_name("numpy_pyfunc.py")  # the NumPy model's code, logged as code


def model_name(backend: str, preset: str) -> str:
    """The logged model's name: ``<backend>-mlp``, with ``-<preset>`` unless the preset is default."""
    return f"{backend}-mlp" if preset == "default" else f"{backend}-mlp-{preset}"


def softmax(logits: np.ndarray) -> np.ndarray:
    """(n, classes) logits -> (n, classes) float32 probabilities, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _signature(example: np.ndarray, probabilities: np.ndarray):
    from mlflow.models import infer_signature

    return infer_signature(np.asarray(example, dtype=np.float32), probabilities)


def log_torch_model(module, input_example: np.ndarray, name: str) -> str:
    """Log an ``nn.Module`` that already follows the contract above; return the model id.

    module: returns probabilities (the torch backend wraps its MLP in ``Probabilities``), on any
    device; input_example: a few input rows (k, features), logged as the example and the signature.
    """
    import mlflow.pytorch  # the flavour pulls in torch; import it only when needed
    import torch

    example = np.asarray(input_example, dtype=np.float32)
    device = next(module.parameters()).device
    with torch.no_grad():
        probabilities = module(torch.from_numpy(example).to(device)).cpu().numpy()
    # Requirements given, not inferred: inference re-imports the model (seconds per run).
    info = mlflow.pytorch.log_model(module, name=name, input_example=example,
                                    signature=_signature(example, probabilities),
                                    pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
    return info.model_id


def log_numpy_model(weights: Path, input_example: np.ndarray, name: str) -> str:
    """Log the NumPy MLP saved in ``weights`` (a ``weights.npz``) as a pyfunc model; return its id.

    input_example: a few input rows (k, features), logged as the example and used for the signature.
    """
    from mlpbench import model_io

    example = np.asarray(input_example, dtype=np.float32)
    signature = _signature(example, softmax(model_io.load_model(weights).logits(example)))
    # Models-from-code: MLflow stores the file numpy_pyfunc.py, no pickle, and no copy of mlpbench
    # (loading imports the installed package, never code shipped inside the artifact).
    info = mlflow.pyfunc.log_model(
        name=name, python_model=str(NUMPY_PYFUNC), artifacts={"weights": str(weights)},
        pip_requirements=["numpy"], input_example=example, signature=signature,
    )
    return info.model_id


def register(model_id: str, name: str, alias: str, description: str) -> str:
    """Register the logged model ``model_id`` as a new version of ``name``; point ``alias`` at it.

    Returns the version. ``mlflow.pyfunc.load_model(f"models:/{name}@{alias}")`` then loads it.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = mlflow.register_model(f"models:/{model_id}", name).version
    client.set_registered_model_alias(name, alias, version)
    if client.get_registered_model(name).description != description:
        client.update_registered_model(name, description=description)
    return str(version)


def log_model_metrics(metrics: dict[str, float], model_id: str) -> None:
    """Log ``metrics`` to the active run, linked to the logged model ``model_id``."""
    mlflow.log_metrics(dict(metrics), model_id=model_id)
