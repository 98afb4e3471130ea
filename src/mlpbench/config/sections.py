"""A composed config as typed values, checked in every section but the backend's name.

``parse`` merges the values into the schema (unknown keys and wrong types fail with the key named);
``validate_sections`` checks ranges, NaN and infinity failing every numeric check. Neither reads the
registry of backends: ``load.load`` adds those checks (``backend``, ``backends``, what the backend
declares unsupported), and a caller that runs one backend it names itself (the torch options study)
uses ``load_sections``, so registering another backend changes nothing it depends on.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from omegaconf import OmegaConf

from mlpbench.config import checks
from mlpbench.config.checks import ConfigError
from mlpbench.config.data import validate_data
from mlpbench.config.merge import merge, plain
from mlpbench.config.schema import OPTIMIZERS, SCHEDULES, Config, TrackingConfig
from mlpbench.model_options import ACTIVATIONS, INIT_SCHEMES
from mlpbench.torch_options.variants import VARIANTS

DTYPES = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")
TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "file")
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")  # MLflow's registered model alias names


def load_sections(values: Mapping[str, Any]) -> Config:
    """``parse`` then ``validate_sections``: ``load`` without the checks that read the registry of backends."""
    return validate_sections(parse(values))


def parse(values: Mapping[str, Any]) -> Config:
    """Typed ``Config`` from the plain-dict (or DictConfig) form of a composed config, not yet validated.

    The ``hydra`` section, if present, is ignored. Raises ``ConfigError`` with one line naming the
    key, the value and what is allowed.
    """
    values = plain(values)
    options = {section: OmegaConf.structured(_option_class(values, section, registry))
               for section, registry in (("optim", OPTIMIZERS), ("schedule", SCHEDULES))}
    cfg = merge(Config, options, values)
    cfg.model.hidden_sizes = tuple(cfg.model.hidden_sizes)
    cfg.data.image_shape = tuple(cfg.data.image_shape)
    return cfg


def _option_class(values: Mapping[str, Any], section: str, registry) -> type:
    node = values.get(section)
    name = node.get("name") if isinstance(node, Mapping) else None
    if name not in registry:
        raise ConfigError(f"{section}.name={name!r} is not allowed; choose one of: {', '.join(registry)} "
                          f"(select one with {section}=NAME)")
    return registry[name]


def validate_sections(cfg: Config) -> Config:
    """Raise ``ConfigError`` on the first value out of range, the backend's name and what it declares
    unsupported aside (``load.validate`` checks those first); return ``cfg`` unchanged otherwise."""
    checks.check_patterns(cfg)
    m = cfg.model
    if len(m.hidden_sizes) == 0:
        raise ConfigError("model.hidden_sizes=[] is invalid; give at least one layer width, e.g. [128]")
    for i, width in enumerate(m.hidden_sizes):
        if width <= 0:
            raise ConfigError(f"model.hidden_sizes[{i}]={width!r} is invalid; widths must be integers > 0")
    checks.choice("model.activation", m.activation, ACTIVATIONS)
    checks.choice("model.init", m.init, ("auto", *INIT_SCHEMES))
    checks.positive("model.init_scale", m.init_scale)
    checks.unit_interval("model.dropout", m.dropout)
    checks.non_negative("model.leaky_slope", m.leaky_slope)
    checks.unit_interval("model.input_dropout", m.input_dropout)
    if m.max_norm is not None and not (math.isfinite(m.max_norm) and m.max_norm >= 0):
        raise ConfigError(f"model.max_norm={m.max_norm!r} is invalid; give the largest L2 norm a hidden unit's "
                          "incoming weights may have (> 0, e.g. 3.5), or null (or 0) for none")
    cfg.optim.check()
    cfg.schedule.check(cfg.optim.lr)
    t = cfg.train
    for key in ("epochs", "batch_size", "eval_batch_size", "seeds"):
        checks.positive(f"train.{key}", getattr(t, key))
    for key in ("seed", "early_stopping_patience", "threads", "augment_shift"):
        checks.non_negative(f"train.{key}", getattr(t, key))
    checks.choice("train.dtype", t.dtype, DTYPES)
    checks.choice("train.device", t.device, DEVICES)
    validate_data(cfg.data)
    if t.augment_shift >= min(cfg.data.image_shape):
        raise ConfigError(f"train.augment_shift={t.augment_shift} would move images of {list(cfg.data.image_shape)} "
                          f"pixels (data={cfg.data.name}) out of sight; give a smaller shift (e.g. 1 or 2), or 0 for none")
    _validate_tracking(cfg.tracking)
    cfg.scaling.check(DTYPES)
    cfg.torch.check(cfg.backend, t.dtype)
    cfg.torch_options.check(VARIANTS)
    return cfg


def _validate_tracking(t: TrackingConfig) -> None:
    if t.uri is not None:
        scheme = t.uri.split(":", 1)[0].split("+", 1)[0] if ":" in t.uri else ""
        if scheme not in TRACKING_SCHEMES:
            raise ConfigError(f"tracking.uri={t.uri!r} is not a tracking store URI; use e.g. sqlite:////abs/path/"
                              "mlflow.db or http://host:5000, or null for mlflow.db at the project root")
    if t.server and t.uri is not None and not t.uri.startswith(("http://", "https://")):
        raise ConfigError(f"tracking=server but tracking.uri={t.uri!r} is not an http(s) URL; give the team "
                          "server's address, e.g. tracking.uri=http://mlflow.lab:5000, or use tracking=default")
    if t.ui_url is not None and not t.ui_url.startswith(("http://", "https://")):
        raise ConfigError(f"tracking.ui_url={t.ui_url!r} is invalid; give the MLflow UI's http(s) URL or null")
    alias = t.registry_alias
    if alias is not None and (not _ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"v\d+", alias)):
        raise ConfigError(f"tracking.registry_alias={alias!r} is invalid; use letters, digits, _ and - (MLflow "
                          "reserves 'latest' and v<number>; models:/<name>/latest already means the newest "
                          "version), e.g. current, or null not to register the model")
