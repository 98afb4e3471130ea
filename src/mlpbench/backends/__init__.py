"""The two model backends (NumPy from scratch, PyTorch) behind one ``Backend`` protocol."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlpbench.config import RunConfig

from .base import Backend, init_params, resolve_init

__all__ = ["Backend", "init_params", "make_backend", "resolve_init"]


def make_backend(cfg: RunConfig, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> Backend:
    """The backend named by ``cfg.backend``, started from copies of ``params`` (see init_params)."""
    if cfg.backend == "numpy":
        from .numpy_backend import NumpyBackend

        return NumpyBackend(cfg, params)
    if cfg.backend == "torch":
        from .torch_backend import TorchBackend  # imported lazily: torch takes seconds to load

        return TorchBackend(cfg, params)
    raise ValueError(f"backend={cfg.backend!r} is unknown; choose numpy or torch")
