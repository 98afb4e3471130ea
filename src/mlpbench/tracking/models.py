"""Logging trained models to the active MLflow run, one function per model flavour.

Each backend's ``log_model`` picks its flavour: torch modules through ``mlflow.pytorch``, the
NumPy MLP as an ``mlflow.pyfunc`` model (``NumpyMLPModel``) whose artifact is its ``weights.npz``.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np


def log_torch_model(module, input_example: np.ndarray) -> None:
    """Log an ``nn.Module``; ``input_example`` (a few input rows) traces and documents it."""
    import mlflow.pytorch  # the flavour pulls in torch; import it only when needed
    import torch

    # Requirements given, not inferred: inference re-imports the model (seconds per run).
    mlflow.pytorch.log_model(module, name="model", input_example=input_example,
                             pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])


def log_numpy_model(weights: Path) -> None:
    """Log the NumPy MLP saved in ``weights`` (a ``weights.npz``) as a pyfunc model."""
    # The model object holds no state (weights travel as an artifact), so pickling it is safe;
    # silence MLflow's generic warnings about pickled python models.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
        mlflow.pyfunc.log_model(
            name="model", python_model=NumpyMLPModel(), artifacts={"weights": str(weights)},
            code_paths=[str(Path(__file__).parents[1])],  # ship mlpbench: loads without installing it
            pip_requirements=["numpy"],
        )


class NumpyMLPModel(mlflow.pyfunc.PythonModel):
    """The from-scratch NumPy MLP as an ``mlflow.pyfunc`` model.

    Its one artifact ``weights`` is the ``weights.npz`` written by ``model_io.save_model``;
    ``predict`` takes pixels (n, 784) in [0, 1] and returns predicted digits (n,) int64.
    """

    def load_context(self, context) -> None:
        from mlpbench import model_io

        self.model = model_io.load_model(context.artifacts["weights"])

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        # The np.ndarray hint tells MLflow not to infer a signature from it (an untyped input
        # makes MLflow warn when this class is defined, i.e. in every run that imports tracking).
        return self.model.predict(np.asarray(model_input, dtype=np.float32))


