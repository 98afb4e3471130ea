"""The boundary where a composed config (Hydra's object or ``params.yaml``) becomes typed values.

``load`` merges the values into the schema (unknown keys and wrong types fail with the key named),
then ``validate`` checks the backend's name against the registry of backends and every other value's
range (``sections``); NaN and infinity fail every numeric check.
"""
from __future__ import annotations

from typing import Any, Mapping

from mlpbench.config import checks
from mlpbench.config.checks import ConfigError
from mlpbench.config.schema import Config
from mlpbench.config.sections import parse, validate_sections
from mlpbench.options import BACKENDS, UNSUPPORTABLE, unsupported


def load(values: Mapping[str, Any]) -> Config:
    """Typed, validated ``Config`` from the plain-dict (or DictConfig) form of a composed config.

    The ``hydra`` section, if present, is ignored. Raises ``ConfigError`` with one line naming the
    key, the value and what is allowed.
    """
    return validate(parse(values))


def validate(cfg: Config) -> Config:
    """Raise ``ConfigError`` on the first value out of range; return ``cfg`` unchanged otherwise."""
    checks.choice("backend", cfg.backend, BACKENDS)
    for name in cfg.backends:
        checks.choice("backends[]", name, BACKENDS)
    _check_supported(cfg)
    return validate_sections(cfg)


def _check_supported(cfg: Config) -> None:
    """Refuse a value the chosen backend declares unsupported (``options.BackendSpec.unsupported``)."""
    for key in UNSUPPORTABLE:
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value in unsupported(cfg.backend, key):
            raise ConfigError(f"backend={cfg.backend} does not implement {key}={value}; choose another with "
                              f"{key.removesuffix('.name')}=NAME, or another backend")
