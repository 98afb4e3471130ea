"""The registry of backends: what config validation, the DVC matrix, training and the report read.

It lives here, below both ``config`` and ``backends``, so that validating a config never imports a
backend and the backends can read the typed config without a circle. It is alone in this file so that
registering a backend changes only the stages that read it (train, tutorial, report, scaling; see
``tests/backends/test_backend_recipe.py``). The options the backends implement are registered
elsewhere: activations and init schemes in ``model_options``, optimizers and schedules with their
config classes in ``config.schema``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from mlpbench.registry import Registry


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its labels for people, where its ``Backend`` class lives, the library it
    is built on and the registered options it does not implement.

    The module is imported by ``backends.build`` on first use, so validating a config or running a
    data stage never imports torch (which takes seconds).
    """

    label: str  # e.g. "NumPy (from scratch)", used by the report
    short: str  # e.g. "NumPy", used in sentences
    module: str  # e.g. "mlpbench.backends.numpy_backend"
    cls: str  # the Backend class in that module
    library: str  # the distribution it computes with, as pyproject's dependencies name it, e.g. "torch"
    # Config key -> the registered values of it the backend does not implement, e.g.
    # {"optim.name": ("rmsprop",), "train.dtype": ("float64",)}: config validation refuses them,
    # and the backend's factory tables may leave them out (``registry.implementations``).
    unsupported: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wrong = [k for k in self.unsupported if k not in UNSUPPORTABLE]
        if wrong:
            raise ValueError(f"backend {self.short}: unsupported= names keys {wrong}; a backend may declare "
                             f"values of {', '.join(UNSUPPORTABLE)} unsupported")


# The config keys whose values a backend may declare unsupported (each holds a registered name or a dtype).
UNSUPPORTABLE = ("optim.name", "schedule.name", "model.activation", "train.dtype")

# Every backend once: config validation, the DVC matrix (through params.yaml) and the report read it.
# A backend's name becomes stage names and paths (train@<name>, models/<name>), so it is an identifier.
BACKENDS: Registry[BackendSpec] = Registry("backend", pattern=r"[a-z][a-z0-9_]*")
BACKENDS.register("numpy", BackendSpec("NumPy (from scratch)", "NumPy", "mlpbench.backends.numpy_backend",
                                       "NumpyBackend", "numpy"))
BACKENDS.register("torch", BackendSpec("PyTorch", "PyTorch", "mlpbench.backends.torch_backend", "TorchBackend",
                                       "torch"))


def unsupported(backend: str, key: str) -> tuple[str, ...]:
    """The values of config ``key`` that ``backend`` declares unsupported (see ``BackendSpec``)."""
    return tuple(BACKENDS[backend].unsupported.get(key, ()))


def libraries() -> dict[str, str]:
    """Each library a registered backend computes with -> the short label of the first such backend."""
    found: dict[str, str] = {}
    for _, spec in BACKENDS.items():
        found.setdefault(spec.library, spec.short)
    return found


def label(name: str) -> str:
    """The short label of a backend name for sentences and legends; the name itself if unknown."""
    return BACKENDS[name].short if name in BACKENDS else name


UNREGISTERED_COLOUR = "0.45"  # a grey: no registered backend's colour


def colour(name: str) -> str:
    """The colour of a backend (its name or either label) in every figure: matplotlib's colour cycle in the
    registry's order, so it stays the same from figure to figure and report to report; a grey if unknown."""
    for i, (key, spec) in enumerate(BACKENDS.items()):
        if name in (key, spec.short, spec.label):
            return f"C{i % 10}"
    return UNREGISTERED_COLOUR
