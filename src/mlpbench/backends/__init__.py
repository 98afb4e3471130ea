"""The model backends behind one ``Backend`` protocol, and the registries of their options.

``BACKENDS`` names every backend once: config validation, the DVC matrix (through params.yaml)
and the report read it. A backend is one module with a class implementing ``Backend`` plus one
``register`` line below. ``backends.build`` starts one (importing its module only then).
"""
from __future__ import annotations

from dataclasses import dataclass

from mlpbench.registry import Registry

from .base import ACTIVATIONS, INIT_SCHEMES, Backend, init_params, resolve_init

__all__ = ["ACTIVATIONS", "BACKENDS", "INIT_SCHEMES", "Backend", "BackendSpec", "init_params", "label",
           "resolve_init"]


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its labels for people and where its ``Backend`` class lives.

    The module is imported by ``backends.build.make_backend`` on first use, so validating a
    config or running a data stage never imports torch (which takes seconds).
    """

    label: str  # e.g. "NumPy (from scratch)", used by the report
    short: str  # e.g. "NumPy", used in sentences
    module: str  # e.g. "mlpbench.backends.numpy_backend"
    cls: str  # the Backend class in that module


BACKENDS: Registry[BackendSpec] = Registry("backend")
BACKENDS.register("numpy", BackendSpec("NumPy (from scratch)", "NumPy", "mlpbench.backends.numpy_backend",
                                       "NumpyBackend"))
BACKENDS.register("torch", BackendSpec("PyTorch", "PyTorch", "mlpbench.backends.torch_backend", "TorchBackend"))


def label(name: str) -> str:
    """The short label of a backend name for sentences and legends; the name itself if unknown."""
    return BACKENDS[name].short if name in BACKENDS else name
