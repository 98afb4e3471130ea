"""The two model backends (NumPy from scratch, PyTorch) behind one ``Backend`` protocol."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlpbench.config import RunConfig

from .base import Backend, init_params, resolve_init

__all__ = ["Backend", "build_backend", "init_params", "make_backend", "resolve_init"]


def make_backend(cfg: RunConfig, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> Backend:
    """The backend named by ``cfg.backend``, started from copies of ``params`` (see init_params)."""
    if cfg.backend == "numpy":
        from .numpy_backend import NumpyBackend

        return NumpyBackend(cfg, params)
    if cfg.backend == "torch":
        from .torch_backend import TorchBackend  # imported lazily: torch takes seconds to load

        return TorchBackend(cfg, params)
    raise ValueError(f"backend={cfg.backend!r} is unknown; choose numpy or torch")


def build_backend(cfg: RunConfig, in_features: int = 784, out_features: int = 10) -> Backend:
    """The backend of ``cfg``, started from weights drawn with ``cfg.train.seed``.

    Any two backends built from configs sharing model, seed and dtype start from the same weights.
    """
    params = init_params(in_features, cfg.model.hidden_sizes, out_features, cfg.model,
                         np.random.default_rng(cfg.train.seed), cfg.train.dtype)
    return make_backend(cfg, params)
