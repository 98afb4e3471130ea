"""Composed values merged into the schema's dataclasses: unknown keys and wrong types fail in one line."""
from __future__ import annotations

from typing import Any, Mapping

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from mlpbench.config.checks import ConfigError


def plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """The plain-dict form of a composed config (Hydra's cfg or ``params.yaml``), without its ``hydra`` section."""
    if OmegaConf.is_config(values):
        values = OmegaConf.to_container(values, resolve=True, enum_to_str=True)
    values = dict(values)
    values.pop("hydra", None)
    return values


def merge(schema: type, *nodes: Any) -> Any:
    """The dataclass instance of ``schema`` with ``nodes`` (configs or dicts) merged in; ``ConfigError`` else."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), *nodes))
    except OmegaConfBaseException as err:
        raise ConfigError(describe(err)) from None


def describe(err: OmegaConfBaseException) -> str:
    """One line from OmegaConf's multi-line message: the key, what is wrong, what to do."""
    key = getattr(err, "full_key", None) or "?"
    msg = str(getattr(err, "msg", err)).splitlines()[0]
    section = key.split(".")[0]
    if isinstance(err, MissingMandatoryValue):
        return f"{key} has no value; set it in conf/ or on the command line ({key}=VALUE)"
    if isinstance(err, ConfigKeyError):
        allowed = _field_names(getattr(err, "object_type", None))
        hint = (f"; each {section} option has its own keys: pick one with {section}=NAME"
                if section in ("optim", "schedule") else "")
        return f"unknown key {key}; allowed keys here: {', '.join(allowed)}{hint}"
    return f"{key}: {msg}"


def _field_names(cls: type | None) -> list[str]:
    fields = getattr(cls, "__dataclass_fields__", None)
    return list(fields) if fields else ["(see conf/)"]
