"""What every backend offers the training loop (``Backend``) and the shared initial weights."""
from __future__ import annotations

import math
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from mlpbench.config import ModelConfig

# Which scheme init="auto" picks for each activation: He keeps ReLU-like signals at unit scale,
# Xavier suits the symmetric saturating ones.
AUTO_INIT = {"relu": "he", "leaky_relu": "he", "gelu": "he", "sigmoid": "xavier", "tanh": "xavier"}


def resolve_init(init: str, activation: str) -> str:
    """The concrete scheme (he, xavier or uniform) for a config's init and activation."""
    scheme = AUTO_INIT.get(activation) if init == "auto" else init
    if scheme not in ("he", "xavier", "uniform"):
        raise ValueError(f"model.init={init!r} with activation={activation!r} has no init scheme; "
                         "use auto, he, xavier or uniform with a known activation")
    return scheme


def init_params(
    in_features: int,
    hidden_sizes: tuple[int, ...],
    out_features: int,
    model: ModelConfig,
    rng: np.random.Generator,
    dtype: str,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Initial weights for both backends, drawn once in NumPy.

    Returns one ``(W, b)`` per Linear layer, ``W`` of shape (fan_in, fan_out) and ``b`` of shape
    (fan_out,), C-contiguous, of ``dtype``. Values are drawn in float64 and then cast, so the
    float32 and float64 runs of one seed start from the same (rounded) weights.

    Schemes: ``uniform`` W, b ~ U(-init_scale, init_scale); ``he`` W ~ N(0, 2 / fan_in), b = 0;
    ``xavier`` W ~ U(-sqrt(6 / (fan_in + fan_out)), +...), b = 0; ``auto`` as in ``AUTO_INIT``.
    """
    scheme = resolve_init(model.init, model.activation)
    sizes = [in_features, *hidden_sizes, out_features]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if scheme == "uniform":
            w = rng.uniform(-model.init_scale, model.init_scale, (fan_in, fan_out))
            b = rng.uniform(-model.init_scale, model.init_scale, fan_out)
        elif scheme == "he":
            w = rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))
            b = np.zeros(fan_out)
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
            b = np.zeros(fan_out)
        params.append((np.ascontiguousarray(w, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)))
    return params


def layer_sizes(
    params: Sequence[tuple[np.ndarray, np.ndarray]], hidden_sizes: Sequence[int]
) -> tuple[int, tuple[int, ...], int]:
    """(in_features, hidden_sizes, out_features) of (W (fan_in, fan_out), b) pairs made for a config."""
    widths = [w.shape[1] for w, _ in params]
    if tuple(widths[:-1]) != tuple(hidden_sizes):
        raise ValueError(
            f"params have hidden sizes {tuple(widths[:-1])} but model.hidden_sizes={tuple(hidden_sizes)}; "
            "make them with init_params for the same config"
        )
    return params[0][0].shape[0], tuple(widths[:-1]), widths[-1]


@runtime_checkable
class Backend(Protocol):
    """One model + optimizer + schedule, driven batch by batch by the shared training loop."""

    name: str  # "numpy" | "torch"

    def load(self, x: np.ndarray, y: np.ndarray) -> object:
        """x: (n, features) float, y: (n,) int labels -> a handle to the data kept by the backend."""
        ...

    def train_step(self, data: object, idx: np.ndarray) -> tuple[float, int]:
        """One optimizer step on rows ``idx`` (int64, (batch,)) of ``data``.

        Returns the batch's mean cross-entropy (no L2 term) and its number of correct predictions.
        """
        ...

    def evaluate(self, data: object, batch_size: int) -> tuple[float, np.ndarray]:
        """Eval mode, no gradients, chunks of ``batch_size``: (mean loss, predictions (n,) int64)."""
        ...

    def scheduler_step(self) -> None:
        """Advance the learning-rate schedule; called once at the end of every epoch."""
        ...

    @property
    def lr(self) -> float:
        """The current learning rate."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights: 'layers.{i}.weight' (fan_in, fan_out), 'layers.{i}.bias' (fan_out,)."""
        ...

    def info(self) -> dict[str, str]:
        """Where and how it runs, e.g. {"device": "cpu", "threads": "2", "dtype": "float32"}."""
        ...
