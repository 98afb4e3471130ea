"""Starting the backend a config names, from the shared initial weights."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mlpbench.backends import Backend, init_params
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
    params = init_params(in_features, cfg.model.hidden_sizes, out_features, cfg.model,
                         np.random.default_rng(cfg.train.seed), cfg.train.dtype)
    return make_backend(cfg, params)
