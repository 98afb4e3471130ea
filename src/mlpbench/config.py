"""Typed configuration: the boundary where Hydra/OmegaConf objects become plain values.

Every section of ``conf/`` has a frozen dataclass here. ``from_dict`` builds them from the
composed config and ``validate`` rejects bad values before any work starts, with a message that
names the key, the value found and what is allowed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

BACKENDS = ("numpy", "torch")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu")
INITS = ("auto", "he", "xavier", "uniform")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
DTYPES = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """The MLP: 784 inputs -> hidden_sizes -> 10 logits."""

    hidden_sizes: tuple[int, ...] = (256,)
    activation: str = "relu"
    init: str = "auto"  # auto: He for ReLU-like activations, Xavier for sigmoid/tanh
    init_scale: float = 0.5  # half-width of the "uniform" init: U(-scale, scale)
    dropout: float = 0.0  # drop probability after each hidden activation
    leaky_slope: float = 0.01


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only, needs momentum > 0
    weight_decay: float = 0.0  # L2 for sgd/adam, decoupled for adamw
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule, stepped once per epoch."""

    name: str = "constant"
    step_size: int = 5  # step: multiply by gamma every step_size epochs
    gamma: float = 0.1
    min_lr: float = 0.0  # cosine: floor of the annealing


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    dtype: str = "float32"
    eval_batch_size: int = 10_000
    early_stopping_patience: int = 0  # 0 disables early stopping
    device: str = "auto"  # torch only
    threads: int = 0  # 0: leave the library default


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs besides data."""

    backend: str = "numpy"
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


def _positive(key: str, value: float, strict: bool = True) -> None:
    if (value <= 0) if strict else (value < 0):
        bound = "> 0" if strict else ">= 0"
        raise ConfigError(f"{key}={value!r} is invalid; it must be {bound}")


def validate(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on the first invalid value; return cfg unchanged otherwise."""
    _choice("backend", cfg.backend, BACKENDS)
    m, o, s, t = cfg.model, cfg.optim, cfg.schedule, cfg.train
    if len(m.hidden_sizes) == 0:
        raise ConfigError("model.hidden_sizes=[] is invalid; give at least one layer width, e.g. [128]")
    for i, h in enumerate(m.hidden_sizes):
        if not isinstance(h, int) or isinstance(h, bool) or h <= 0:
            raise ConfigError(f"model.hidden_sizes[{i}]={h!r} is invalid; widths must be integers > 0")
    _choice("model.activation", m.activation, ACTIVATIONS)
    _choice("model.init", m.init, INITS)
    _positive("model.init_scale", m.init_scale)
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"model.dropout={m.dropout!r} is invalid; it must be in [0, 1)")
    _positive("model.leaky_slope", m.leaky_slope, strict=False)
    _choice("optim.name", o.name, OPTIMIZERS)
    _positive("optim.lr", o.lr)
    _positive("optim.momentum", o.momentum, strict=False)
    if o.momentum >= 1:
        raise ConfigError(f"optim.momentum={o.momentum!r} is invalid; it must be in [0, 1)")
    if o.nesterov and (o.name != "sgd" or o.momentum == 0):
        raise ConfigError("optim.nesterov=true needs optim.name=sgd and optim.momentum > 0")
    _positive("optim.weight_decay", o.weight_decay, strict=False)
    for key, beta in (("optim.beta1", o.beta1), ("optim.beta2", o.beta2)):
        if not 0.0 <= beta < 1.0:
            raise ConfigError(f"{key}={beta!r} is invalid; it must be in [0, 1)")
    _positive("optim.eps", o.eps)
    _choice("schedule.name", s.name, SCHEDULES)
    _positive("schedule.step_size", s.step_size)
    _positive("schedule.gamma", s.gamma)
    _positive("schedule.min_lr", s.min_lr, strict=False)
    _positive("train.epochs", t.epochs)
    _positive("train.batch_size", t.batch_size)
    _positive("train.eval_batch_size", t.eval_batch_size)
    _positive("train.early_stopping_patience", t.early_stopping_patience, strict=False)
    _positive("train.threads", t.threads, strict=False)
    _choice("train.dtype", t.dtype, DTYPES)
    _choice("train.device", t.device, DEVICES)
    return cfg


def _build(cls: type, section: str, values: Mapping[str, Any]) -> Any:
    """Build dataclass ``cls`` from ``values``, rejecting unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {section}.{unknown[0]}; allowed keys in {section}: {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        key = f"{section}.{name}"
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{key}={value!r} has the wrong type; expected a list like [128]")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}={value!r} has the wrong type; expected true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key}={value!r} has the wrong type; expected an integer")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{key}={value!r} has the wrong type; expected a number")
            value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} has the wrong type; expected a string")
        kwargs[name] = value
    return cls(**kwargs)


def run_config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from the plain-dict form of the composed config.

    Only the sections a training run needs are read: backend, model, optim, schedule, train.
    """
    sections = {"model": ModelConfig, "optim": OptimConfig, "schedule": ScheduleConfig, "train": TrainConfig}
    kwargs: dict[str, Any] = {"backend": values.get("backend", "numpy")}
    for name, cls in sections.items():
        section = values.get(name) or {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"{name} must be a mapping of keys, got {section!r}")
        kwargs[name] = _build(cls, name, section)
    return validate(RunConfig(**kwargs))
