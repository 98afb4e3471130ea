"""The registries the backends implement and config validation checks names against: backends,
activations and init schemes.

They live here, below both ``config`` and ``backends``, so that validating a config never imports a
backend and the backends can read the typed config without a circle. (Optimizers and schedules are
registered with their config classes in ``config.schema``, which the backends import too.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

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


# Activation name -> the init scheme init="auto" picks for it: He keeps ReLU-like signals at unit
# scale, Xavier suits the symmetric saturating ones. Each backend implements every name.
ACTIVATIONS: Registry[str] = Registry("activation")
for _name, _scheme in (("relu", "he"), ("leaky_relu", "he"), ("gelu", "he"), ("sigmoid", "xavier"),
                       ("tanh", "xavier")):
    ACTIVATIONS.register(_name, _scheme)

# Init scheme name -> draw(fan_in, fan_out, init_scale, rng) -> (W (fan_in, fan_out), b (fan_out,)) in
# float64; ``backends.base.init_params`` draws every backend's initial weights with them.
INIT_SCHEMES: Registry[Callable[..., tuple[np.ndarray, np.ndarray]]] = Registry("init scheme")


@INIT_SCHEMES.register("uniform")
def _uniform(fan_in: int, fan_out: int, scale: float, rng: np.random.Generator):
    """W, b ~ U(-init_scale, init_scale), the reference tutorial's scheme."""
    return rng.uniform(-scale, scale, (fan_in, fan_out)), rng.uniform(-scale, scale, fan_out)


@INIT_SCHEMES.register("he")
def _he(fan_in: int, fan_out: int, scale: float, rng: np.random.Generator):
    """W ~ N(0, 2 / fan_in), b = 0."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)


@INIT_SCHEMES.register("xavier")
def _xavier(fan_in: int, fan_out: int, scale: float, rng: np.random.Generator):
    """W ~ U(-sqrt(6 / (fan_in + fan_out)), +...), b = 0."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)


def resolve_init(init: str, activation: str) -> str:
    """The concrete scheme in INIT_SCHEMES for a config's init ("auto" or a scheme) and activation."""
    if init == "auto":
        return ACTIVATIONS[activation]
    INIT_SCHEMES[init]  # an unknown name raises, listing the schemes
    return init
