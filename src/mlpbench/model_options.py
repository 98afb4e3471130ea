"""The registries of the model's options every backend implements: activations and init schemes.

Below both ``config`` and ``backends`` (as ``options``), and apart from the backends' registry, so that
registering a backend changes no stage that only validates these names or draws initial weights.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mlpbench.registry import Registry

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
