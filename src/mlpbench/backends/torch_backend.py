"""The PyTorch backend: an idiomatic nn.Module MLP behind the ``Backend`` protocol.

Reads side by side with ``numpy_backend`` + ``numpy_nn.model``: same layer order, same names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mlpbench import config
from mlpbench.config import Config, ConfigError
from mlpbench.io import atomic_path
from mlpbench.model_io import save_weights
from mlpbench.model_options import ACTIVATIONS as ACTIVATION_NAMES
from mlpbench.registry import implementations

from .base import layer_sizes
from .torch_gemm import blas_info, gemm_step
from .torch_profile import op_attribution
from .torch_speedups import IMPL_KWARGS, autocast, check_impl, used_impl

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# Torch is the oracle of every option's parity test, so it implements every registered name: its tables are
# checked against the registries alone, not against its BackendSpec (which declares nothing unsupported;
# tests/backends/test_registries.py), and this module does not read the registry of backends.

# Activation name -> factory(leaky_slope); GELU uses the tanh approximation like numpy_nn.
ACTIVATIONS = implementations(ACTIVATION_NAMES, {
    "relu": lambda slope: nn.ReLU(),
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": lambda slope: nn.Sigmoid(),
    "tanh": lambda slope: nn.Tanh(),
    "gelu": lambda slope: nn.GELU(approximate="tanh"),
}, "the torch backend")


class MLP(nn.Sequential):
    """[Dropout ->] Linear -> activation [-> Dropout] -> ... -> Linear; returns logits (no softmax).

    Same arguments as ``numpy_nn.MLP`` (torch's global generator drives nn.Dropout, so no rng).
    Starts from torch's default init; set the shared initial weights with ``load_params``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        leaky_slope: float = 0.01,
        input_dropout: float = 0.0,
    ) -> None:
        sizes = [in_features, *hidden_sizes, out_features]
        modules: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout > 0 else []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            modules.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                modules.append(ACTIVATIONS[activation](leaky_slope))
                if dropout > 0:
                    modules.append(nn.Dropout(dropout))
        super().__init__(*modules)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]

    @torch.no_grad()
    def max_norm_(self, max_norm: float) -> None:
        """Rescale each hidden unit's incoming weight vector (a row of the weight, bias aside) to L2 norm
        ``max_norm`` where it is longer; the output layer is left free (see conf/model/mlp.yaml)."""
        for linear in self.linears()[:-1]:
            linear.weight.renorm_(2, 0, max_norm)

    @torch.no_grad()
    def load_params(self, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy (W (fan_in, fan_out), b) pairs in; torch stores the weight transposed (out, in)."""
        for linear, (w, b) in zip(self.linears(), params, strict=True):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))


# Option name -> factory(config, params, **impl) over torch.optim (impl: foreach/fused, see torch_speedups);
# every name registered in mlpbench.config has one.
OPTIMIZERS = implementations(config.OPTIMIZERS, {
    "sgd": lambda c, params, **impl: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                                                     weight_decay=c.weight_decay, **impl),
    "adam": lambda c, params, **impl: torch.optim.Adam(params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps,
                                                       weight_decay=c.weight_decay, **impl),
    "adamw": lambda c, params, **impl: torch.optim.AdamW(params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps,
                                                         weight_decay=c.weight_decay, **impl),
    "rmsprop": lambda c, params, **impl: torch.optim.RMSprop(params, lr=c.lr, alpha=c.alpha, eps=c.eps,
                                                             weight_decay=c.weight_decay, momentum=c.momentum,
                                                             centered=c.centered, **impl),
}, "the torch backend")
SCHEDULES = implementations(config.SCHEDULES, {
    "constant": lambda c, optimizer, epochs: None,
    "step": lambda c, optimizer, epochs: torch.optim.lr_scheduler.StepLR(optimizer, step_size=c.step_size,
                                                                         gamma=c.gamma),
    "cosine": lambda c, optimizer, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                                      eta_min=c.min_lr),
}, "the torch backend")


class Probabilities(nn.Module):
    """``model`` then softmax, the logged model's contract: (n, 784) float32 -> (n, classes) float32."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        return self.model(x.to(dtype)).softmax(dim=1).float()


def resolve_device(device: str) -> torch.device:
    """auto -> cuda when available, else cpu; asking for cuda without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but torch sees no CUDA device; use train.device=cpu or auto")
    return torch.device(device)


def check_options(cfg: Config) -> None:
    """What only torch can tell about ``cfg.torch`` (``ConfigError``): whether it runs the optimizer_impl."""
    if cfg.torch.optimizer_impl != "default":
        check_impl(lambda params, **impl: OPTIMIZERS[cfg.optim.name](cfg.optim, params, **impl), cfg.optim.name,
                   cfg.torch.optimizer_impl, resolve_device(cfg.train.device), DTYPES[cfg.train.dtype])


class TorchBackend:
    """``MLP`` + nn.CrossEntropyLoss + torch.optim optimizer + lr_scheduler, started from ``params``.

    ``cfg.torch``: ``compile`` runs the steps through ``torch.compile(module, dynamic=False)`` (``module`` stays the
    plain one that is saved and logged); ``autocast`` puts training and evaluation forward passes
    under ``torch.autocast``, the loss is taken on float32 logits; ``optimizer_impl`` picks
    torch.optim's implementation.
    """

    name = "torch"

    def __init__(self, cfg: Config, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        in_features, hidden, out_features = layer_sizes(params, cfg.model.hidden_sizes)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)  # nn.Dropout draws its masks from the global generator
        self.device = resolve_device(cfg.train.device)
        self.dtype = DTYPES[cfg.train.dtype]
        self.module = MLP(
            in_features, hidden, out_features,
            activation=cfg.model.activation, dropout=cfg.model.dropout, leaky_slope=cfg.model.leaky_slope,
            input_dropout=cfg.model.input_dropout,
        ).to(device=self.device, dtype=self.dtype)
        self.module.load_params(params)
        self.options = cfg.torch
        # dynamic=False: an epoch's short last batch compiles a graph of its own; by default dynamo would recompile
        # to one dynamic-shape graph that the full batches then run too, slower (benchmarks/bench_compile.py)
        self.net = torch.compile(self.module, dynamic=False) if cfg.torch.compile else self.module  # what steps call
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = OPTIMIZERS[cfg.optim.name](cfg.optim, self.module.parameters(),
                                                    **IMPL_KWARGS[cfg.torch.optimizer_impl])
        self.scheduler = SCHEDULES[cfg.schedule.name](cfg.schedule, self.optimizer, cfg.train.epochs)
        self.max_norm = cfg.model.max_norm_bound()
        self.meta = {"backend": self.name, "hidden_sizes": list(hidden), "activation": cfg.model.activation,
                     "leaky_slope": cfg.model.leaky_slope}
        self.sizes = (in_features, *hidden, out_features)

    def load(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (n, features), y: (n,) -> tensors on the device, in the run dtype / int64."""
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"load expects x (n, features) and y (n,); got {x.shape} and {y.shape}")
        x_t = torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)
        y_t = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.int64, device=self.device)
        return x_t, y_t

    def train_step(self, data: tuple[torch.Tensor, torch.Tensor], idx: np.ndarray) -> tuple[float, int]:
        """One step on rows ``idx`` (int64) of the loaded tensors; returns (mean loss, correct count)."""
        x, y = data
        index = torch.as_tensor(idx, dtype=torch.int64, device=self.device)
        xb, yb = x[index], y[index]
        self.module.train()
        self.optimizer.zero_grad()
        logits = self.logits(xb)
        loss = self.criterion(logits, yb)
        loss.backward()
        self.optimizer.step()
        if self.max_norm is not None:
            self.module.max_norm_(self.max_norm)
        correct = (logits.argmax(dim=1) == yb).sum()
        return loss.item(), int(correct.item())

    @torch.no_grad()
    def evaluate(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int) -> tuple[float, np.ndarray]:
        """Eval mode, no grad, over all rows in chunks: (mean loss, predicted labels (n,) int64)."""
        x, y = data
        self.module.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        predictions = []
        for start in range(0, len(y), batch_size):
            logits = self.logits(x[start : start + batch_size])
            total += nn.functional.cross_entropy(logits, y[start : start + batch_size], reduction="sum")
            predictions.append(logits.argmax(dim=1))
        return total.item() / len(y), torch.cat(predictions).cpu().numpy().astype(np.int64, copy=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The forward pass (compiled, under autocast where configured); logits in float32 or float64."""
        with autocast(self.device, self.options.autocast):
            logits = self.net(x)
        return logits.to(self.dtype)  # the loss in full precision, as torch's autocast guide advises

    def scheduler_step(self) -> None:
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {}
        for i, linear in enumerate(self.module.linears()):
            state[f"layers.{i}.weight"] = linear.weight.detach().cpu().numpy().T.copy()
            state[f"layers.{i}.bias"] = linear.bias.detach().cpu().numpy().copy()
        return state

    @classmethod
    def check(cls, cfg: Config) -> None:
        """A CUDA device for ``train.device=cuda``, and the optimizer_impl on this machine (``ConfigError``)."""
        if cfg.train.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but torch sees no CUDA device here; "
                              "use train.device=auto (CUDA when present) or train.device=cpu")
        check_options(cfg)

    def info(self) -> dict[str, str]:
        return {
            "device": str(self.device),
            "threads": str(torch.get_num_threads()),
            "dtype": str(self.dtype).removeprefix("torch."),
            "torch": torch.__version__,
            "blas": blas_info(self.device),
            "compile": str(self.options.compile).lower(),
            "autocast": self.options.autocast or "off",
            "optimizer_impl": used_impl(self.optimizer),
        }

    def gemm_step(self, batch: int) -> Callable[[], None]:
        return gemm_step(self.sizes, batch, self.dtype, self.device)

    def op_attribution(self, data: tuple[torch.Tensor, torch.Tensor], idx: np.ndarray, steps: int):
        """``steps`` training steps under torch.profiler, as op groups (``torch_profile.op_attribution``)."""
        return op_attribution(lambda: self.train_step(data, idx), steps)

    def save(self, model_dir: Path) -> list[Path]:
        """``weights.npz`` as every backend, plus ``model.pt`` (the module's state_dict) for torch users."""
        written = [save_weights(self.state_dict(), self.meta, model_dir)]
        with atomic_path(Path(model_dir) / "model.pt") as tmp:
            torch.save(self.module.state_dict(), tmp)
        return written + [Path(model_dir) / "model.pt"]

    def log_model(self, models, model_dir: Path, example: np.ndarray, name: str) -> str:
        return models.log_torch_model(Probabilities(self.module).eval(), example, name)
