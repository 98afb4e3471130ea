"""The NumPy backend: the from-scratch MLP (``numpy_nn``) behind the ``Backend`` protocol."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from mlpbench import config
from mlpbench.config import Config
from mlpbench.environment import blas_info, numpy_blas_pools
from mlpbench.model_io import save_weights, weights_path
from mlpbench.model_options import ACTIVATIONS
from mlpbench.options import unsupported
from mlpbench.registry import implementations

from .base import layer_sizes
from .numpy_nn import MLP, SGD, Adam, AdamW, CosineAnnealingLR, CrossEntropyLoss, RMSprop, StepLR, Workspace
from .numpy_nn.activations import ACTIVATIONS as ACTIVATION_FACTORIES
from .numpy_phases import op_attribution

# Dropout masks come from an SFC64 generator seeded with [DROPOUT_STREAM, seed]: a stream
# independent of the default_rng(seed) that the training loop uses for initial weights and
# shuffling. SFC64 makes raw 64-bit draws about 1.4x faster than the default PCG64, and the masks
# need one draw per 4 elements (per 32 when the drop rate is a multiple of 1/4, as in the default).
DROPOUT_STREAM = 0xD12


def dropout_rng(seed: int) -> np.random.Generator:
    """The generator of the dropout masks for a run seeded with ``seed``."""
    return np.random.Generator(np.random.SFC64([DROPOUT_STREAM, seed]))


# Option name -> factory; every name registered in mlpbench.config must have one unless the spec declares it
# unsupported (checked here).
OPTIMIZERS = implementations(config.OPTIMIZERS, {
    "sgd": lambda c, params: SGD(params, c.lr, momentum=c.momentum, nesterov=c.nesterov,
                                 weight_decay=c.weight_decay),
    "adam": lambda c, params: Adam(params, c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.weight_decay),
    "adamw": lambda c, params: AdamW(params, c.lr, betas=(c.beta1, c.beta2), eps=c.eps,
                                     weight_decay=c.weight_decay),
    "rmsprop": lambda c, params: RMSprop(params, c.lr, alpha=c.alpha, eps=c.eps, weight_decay=c.weight_decay,
                                         momentum=c.momentum, centered=c.centered),
}, "the NumPy backend", unsupported("numpy", "optim.name"))
SCHEDULES = implementations(config.SCHEDULES, {
    "constant": lambda c, optimizer, epochs: None,
    "step": lambda c, optimizer, epochs: StepLR(optimizer, step_size=c.step_size, gamma=c.gamma),
    "cosine": lambda c, optimizer, epochs: CosineAnnealingLR(optimizer, T_max=epochs, eta_min=c.min_lr),
}, "the NumPy backend", unsupported("numpy", "schedule.name"))
implementations(ACTIVATIONS, ACTIVATION_FACTORIES, "numpy_nn", unsupported("numpy", "model.activation"))


def blas_threads(threads: int) -> str:
    """Limit every BLAS pool of the process to ``threads`` when > 0 (like torch.set_num_threads); report the
    size of NumPy's own."""
    blas = ThreadpoolController().select(user_api="blas")
    if threads > 0:
        blas.limit(limits=threads)
    return ",".join(str(lib["num_threads"]) for lib in numpy_blas_pools(blas.info())) or "unknown"


def gemm_step(sizes: Sequence[int], batch: int, dtype: np.dtype) -> Callable[[], None]:
    """The matrix products of a step of ``numpy_nn.MLP`` (see ``Backend.gemm_step``), as its Linear
    layers do them: ``np.matmul`` into preallocated arrays, weights stored (fan_in, fan_out).

    sizes: (in_features, *hidden_sizes, out_features).
    """
    rng, dtype = np.random.default_rng(0), np.dtype(dtype)
    # uniform values in the step's dtype: quick to draw, and what they are does not change a GEMM's time
    acts = [rng.random((batch, s), dtype=dtype) for s in sizes]  # the input, then each layer's output
    grads = [rng.random((batch, s), dtype=dtype) for s in sizes]  # gradients of the same
    weights = [rng.random((a, b), dtype=dtype) / dtype.type(a) for a, b in zip(sizes[:-1], sizes[1:])]
    weight_grads = [np.empty_like(w) for w in weights]

    def step() -> None:
        for i, w in enumerate(weights):
            np.matmul(acts[i], w, out=acts[i + 1])
        for i in reversed(range(len(weights))):
            np.matmul(acts[i].T, grads[i + 1], out=weight_grads[i])
            if i > 0:  # the data's gradient is never computed
                np.matmul(grads[i + 1], weights[i].T, out=grads[i])

    return step


class NumpyBackend:
    """``numpy_nn.MLP`` + CrossEntropyLoss + optimizer + schedule, started from ``params``."""

    name = "numpy"

    def __init__(self, cfg: Config, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        in_features, hidden, out_features = layer_sizes(params, cfg.model.hidden_sizes)
        self.dtype = np.dtype(cfg.train.dtype)
        self.threads = blas_threads(cfg.train.threads)
        self.model = MLP(
            in_features, hidden, out_features,
            activation=cfg.model.activation,
            dropout=cfg.model.dropout,
            leaky_slope=cfg.model.leaky_slope,
            input_dropout=cfg.model.input_dropout,
            dtype=cfg.train.dtype,
            rng=dropout_rng(cfg.train.seed),
        )
        self.model.load_params(params)
        self.criterion = CrossEntropyLoss()
        self.optimizer = OPTIMIZERS[cfg.optim.name](cfg.optim, self.model.flat_parameters())
        self.scheduler = SCHEDULES[cfg.schedule.name](cfg.schedule, self.optimizer, cfg.train.epochs)
        self.max_norm = cfg.model.max_norm_bound()
        self.meta = {"backend": self.name, "hidden_sizes": list(hidden), "activation": cfg.model.activation,
                     "leaky_slope": cfg.model.leaky_slope}
        self.sizes = (in_features, *hidden, out_features)
        self._batch = Workspace()

    def load(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, features), y: (n,) -> contiguous (n, features + 1) run-dtype and (n,) int64 arrays.

        The extra last column of x is ones: the model's first Linear then adds its bias inside
        its GEMMs (see ``numpy_nn.Linear``), and a batch gathers its rows with the ones in place.
        """
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"load expects x (n, features) and y (n,); got {x.shape} and {y.shape}")
        with_ones = np.empty((len(x), x.shape[1] + 1), self.dtype)
        with_ones[:, :-1] = x
        with_ones[:, -1] = 1
        return with_ones, np.ascontiguousarray(y, dtype=np.int64)

    def train_step(self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> tuple[float, int]:
        """One step on rows ``idx`` (int64, all in [0, n)); returns (mean loss, correct count).

        No ``zero_grad()``: backward overwrites every gradient (see numpy_nn.module). With
        ``model.max_norm`` the hidden units' incoming weights are renormed after the step.
        """
        xb, yb = self.gather(data, idx)
        self.model.train()
        logits = self.model(xb)
        loss = self.criterion(logits, yb)
        correct = int(np.count_nonzero(np.argmax(logits, axis=1) == yb))
        self.model.backward(self.criterion.backward())
        self.optimizer.step()
        if self.max_norm is not None:
            self.model.max_norm_(self.max_norm)
        return loss, correct

    def gather(self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The batch: rows ``idx`` of x and y, copied into buffers reused from step to step."""
        x, y = data
        n = len(idx)
        xb = np.take(x, idx, axis=0, mode="clip", out=self._batch.get("x", (n, x.shape[1]), x.dtype))
        return xb, np.take(y, idx, mode="clip", out=self._batch.get("y", (n,), y.dtype))

    def op_attribution(self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray, steps: int):
        """``steps`` training steps timed by phase, as op groups (``numpy_phases.op_attribution``)."""
        return op_attribution(self, data, idx, steps)

    def evaluate(self, data: tuple[np.ndarray, np.ndarray], batch_size: int) -> tuple[float, np.ndarray]:
        """Eval mode over all rows in chunks: (mean loss, predicted labels (n,) int64)."""
        x, y = data
        self.model.eval()
        predictions = np.empty(len(y), dtype=np.int64)
        total = 0.0
        for start in range(0, len(y), batch_size):
            stop = min(start + batch_size, len(y))
            logits = self.model(x[start:stop])
            total += self.criterion(logits, y[start:stop]) * (stop - start)
            np.argmax(logits, axis=1, out=predictions[start:stop])
        return total / len(y), predictions

    def scheduler_step(self) -> None:
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {}
        for i, linear in enumerate(self.model.linears()):
            state[f"layers.{i}.weight"] = linear.weight.data.copy()
            state[f"layers.{i}.bias"] = linear.bias.data.copy()
        return state

    @classmethod
    def check(cls, cfg: Config) -> None:
        """Nothing beyond config validation: NumPy runs every valid config (on the CPU)."""

    def gemm_step(self, batch: int) -> Callable[[], None]:
        return gemm_step(self.sizes, batch, self.dtype)

    def info(self) -> dict[str, str]:
        return {"device": "cpu", "threads": self.threads, "dtype": self.dtype.name, "numpy": np.__version__,
                "blas": blas_info()}

    def save(self, model_dir: Path) -> list[Path]:
        return [save_weights(self.state_dict(), self.meta, model_dir)]

    def log_model(self, models, model_dir: Path, example: np.ndarray, name: str) -> str:
        return models.log_numpy_model(weights_path(model_dir), example, name)
