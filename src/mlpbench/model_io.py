"""Saving trained weights and loading them back as a NumPy predictor.

Every backend's model is written as ``weights.npz``: the state dict (``layers.{i}.weight``
(fan_in, fan_out), ``layers.{i}.bias``) plus a JSON ``meta`` entry (architecture and activation),
no pickles. The torch backend also writes ``model.pt`` (its ``state_dict``, for torch users).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlpbench.backends.numpy_nn.model import MLP
from mlpbench.config import RunConfig
from mlpbench.io import atomic_path

WEIGHTS_FILE = "weights.npz"


class LoadedModel:
    """A trained MLP in eval mode: ``predict(x (n, 784) float) -> labels (n,) int64``."""

    def __init__(self, state: dict[str, np.ndarray], meta: dict):
        n_layers = len(meta["hidden_sizes"]) + 1
        params = [(state[f"layers.{i}.weight"], state[f"layers.{i}.bias"]) for i in range(n_layers)]
        self.meta = meta
        self.net = MLP(params[0][0].shape[0], meta["hidden_sizes"], params[-1][0].shape[1],
                       activation=meta["activation"], leaky_slope=meta["leaky_slope"],
                       dtype=str(params[0][0].dtype))
        self.net.load_params(params)
        self.net.eval()

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.net(np.ascontiguousarray(x, dtype=self.net.flat.data.dtype)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(x), axis=1).astype(np.int64)


def save_model(backend, cfg: RunConfig, model_dir: Path) -> list[Path]:
    """Write ``weights.npz`` (and ``model.pt`` for torch) atomically; return the written paths."""
    model_dir = Path(model_dir)
    meta = {"backend": cfg.backend, "hidden_sizes": list(cfg.model.hidden_sizes),
            "activation": cfg.model.activation, "leaky_slope": cfg.model.leaky_slope}
    weights = model_dir / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **backend.state_dict())
    written = [weights]
    if cfg.backend == "torch":
        import torch

        with atomic_path(model_dir / "model.pt") as tmp:
            torch.save(backend.module.state_dict(), tmp)
        written.append(model_dir / "model.pt")
    return written


def load_model(path: Path) -> LoadedModel:
    """Load a ``weights.npz`` (or the folder holding it)."""
    path = Path(path)
    path = path / WEIGHTS_FILE if path.is_dir() else path
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        state = {k: npz[k] for k in npz.files if k != "meta"}
    return LoadedModel(state, meta)


def log_model(run, backend, cfg: RunConfig, model_dir: Path, example: np.ndarray) -> None:
    """Log the model to the MLflow run: torch via mlflow.pytorch, NumPy as a pyfunc model.

    example: a few input rows (k, 784), used by MLflow to trace and document the model.
    """
    if cfg.backend == "torch":
        run.log_torch_model(backend.module, example)
    else:
        run.log_numpy_model(Path(model_dir) / WEIGHTS_FILE)
