"""What every backend offers the training loop (``Backend``) and the shared initial weights."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from mlpbench.model_options import INIT_SCHEMES, resolve_init

if TYPE_CHECKING:
    from mlpbench.config import Config, ModelConfig
    from mlpbench.training.attribution import OpProfile


def initial_params(cfg: "Config", in_features: int, out_features: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``init_params`` as ``cfg`` sets them (its model, ``train.seed`` and ``train.dtype``): any two backends
    started from configs sharing model, seed and dtype start from the same weights."""
    return init_params(in_features, cfg.model.hidden_sizes, out_features, cfg.model,
                       np.random.default_rng(cfg.train.seed), cfg.train.dtype)


def init_params(
    in_features: int,
    hidden_sizes: Sequence[int],
    out_features: int,
    model: "ModelConfig",
    rng: np.random.Generator,
    dtype: str,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Initial weights for every backend, drawn once in NumPy.

    Returns one ``(W, b)`` per Linear layer, ``W`` of shape (fan_in, fan_out) and ``b`` of shape
    (fan_out,), C-contiguous, of ``dtype``. Values are drawn in float64 and then cast, so the
    float32 and float64 runs of one seed start from the same (rounded) weights.
    """
    draw = INIT_SCHEMES[resolve_init(model.init, model.activation)]
    sizes = [in_features, *hidden_sizes, out_features]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w, b = draw(fan_in, fan_out, model.init_scale, rng)
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

    name: str  # its name in BACKENDS

    @classmethod
    def check(cls, cfg: "Config") -> None:
        """What only this backend can tell about ``cfg`` on this machine, before any MLflow run exists
        (e.g. a CUDA device for ``train.device=cuda``): raise ``ConfigError`` in one line that says what
        to do. Values the backend never implements are declared in its ``BackendSpec.unsupported``
        instead, so config validation refuses them without importing the backend.
        """
        ...

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

    def gemm_step(self, batch: int) -> Callable[[], None]:
        """A function that runs once the matrix products of a training step on ``batch`` rows.

        Forward ``x @ W`` per layer, ``x.T @ grad`` per layer and ``grad @ W.T`` for all but the
        first, on random operands of this net's shapes, with the backend's own BLAS, dtype and
        device, and nothing else (``mlpbench.training.speed`` times it against ``train_step``).
        """
        ...

    def op_attribution(self, data: object, idx: np.ndarray, steps: int) -> "OpProfile":
        """``steps`` training steps on rows ``idx`` of ``data`` under the backend's own instruments: seconds per
        step in each op group of ``mlpbench.op_groups.GROUPS`` (what they leave of the wall time as framework
        overhead) and the raw per-op rows (``mlpbench.training.attribution`` times it against ``train_step``).
        """
        ...

    def info(self) -> dict[str, str]:
        """Where and how it runs, e.g. {"device": "cpu", "threads": "2", "dtype": "float32", "blas": ...}."""
        ...

    def save(self, model_dir: Path) -> list[Path]:
        """Write the trained model into ``model_dir`` atomically; return the files written.

        Every backend writes ``weights.npz`` (see ``model_io``) and may add its own format.
        """
        ...

    def log_model(self, models, model_dir: Path, example: np.ndarray, name: str) -> str:
        """Log the saved model through ``models`` (``mlpbench.tracking.models``) in its own flavour.

        example: a few input rows (k, features) that document (and for torch, trace) the model;
        name: the logged model's name (``models.model_name``). Returns the logged model's id.
        Its pyfunc ``predict`` returns class probabilities (see ``mlpbench.tracking.models``).
        """
        ...
