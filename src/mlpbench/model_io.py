"""Saving trained weights and loading them back as a NumPy predictor.

Every backend writes its model as ``weights.npz`` (``Backend.save``): the state dict
(``layers.{i}.weight`` (fan_in, fan_out), ``layers.{i}.bias``) plus a JSON ``meta`` entry
(architecture and activation), no pickles. A backend may add its own format beside it (the torch
backend's ``model.pt``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlpbench.backends.numpy_nn.model import MLP
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


def weights_path(model_dir: Path) -> Path:
    return Path(model_dir) / WEIGHTS_FILE


def save_weights(state: dict[str, np.ndarray], meta: dict, model_dir: Path) -> Path:
    """Write ``model_dir/weights.npz`` atomically: ``state`` plus ``meta`` as JSON; return its path.

    state: the backend's ``state_dict()``; meta: backend, hidden_sizes, activation, leaky_slope.
    """
    path = weights_path(model_dir)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **state)
    return path


def load_model(path: Path) -> LoadedModel:
    """Load a ``weights.npz`` (or the folder holding it)."""
    path = Path(path)
    path = path / WEIGHTS_FILE if path.is_dir() else path
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        state = {k: npz[k] for k in npz.files if k != "meta"}
    return LoadedModel(state, meta)
