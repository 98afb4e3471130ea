"""Starting the backend a config names, from the shared initial weights."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mlpbench.backends import Backend
from mlpbench.backends.base import initial_params
from mlpbench.options import BACKENDS

if TYPE_CHECKING:
    from mlpbench.config import Config


def backend_class(name: str) -> type:
    """The ``Backend`` class registered as ``name``, its module imported on first use."""
    spec = BACKENDS[name]
    return getattr(importlib.import_module(spec.module), spec.cls)


def make_backend(cfg: "Config", params: Sequence[tuple[np.ndarray, np.ndarray]]) -> Backend:
    """The backend named by ``cfg.backend``, started from copies of ``params`` (see init_params)."""
    return backend_class(cfg.backend)(cfg, params)


def build_backend(cfg: "Config", in_features: int, out_features: int) -> Backend:
    """The backend of ``cfg``, started from weights drawn with ``cfg.train.seed``.

    Any two backends built from configs sharing model, seed and dtype start from the same weights.
    """
    return make_backend(cfg, initial_params(cfg, in_features, out_features))
