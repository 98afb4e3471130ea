"""Range checks for config values: each raises ``ConfigError`` naming the key, the value and the fix."""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Iterable


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def finite(key: str, value: float) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{key}={value!r} is invalid; it must be a finite number")


def positive(key: str, value: float) -> None:
    """``value > 0`` (and finite)."""
    finite(key, value)
    if value <= 0:
        raise ConfigError(f"{key}={value!r} is invalid; it must be > 0")


def non_negative(key: str, value: float) -> None:
    """``value >= 0`` (and finite)."""
    finite(key, value)
    if value < 0:
        raise ConfigError(f"{key}={value!r} is invalid; it must be >= 0")


def unit_interval(key: str, value: float, closed_low: bool = True) -> None:
    """``value`` in [0, 1), or (0, 1) when ``closed_low`` is False."""
    finite(key, value)
    low_ok = value >= 0 if closed_low else value > 0
    if not (low_ok and value < 1):
        raise ConfigError(f"{key}={value!r} is invalid; it must be in {'[' if closed_low else '('}0, 1)")


def choice(key: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


def non_empty(key: str, value: str) -> None:
    if not value.strip():
        raise ConfigError(f"{key}={value!r} is invalid; it must be a non-empty string")


def matches(key: str, value: str, regex: str, means: str) -> None:
    """``value`` matches ``regex`` whole; ``means`` says in words what is allowed."""
    if not isinstance(value, str) or not re.fullmatch(regex, value):
        raise ConfigError(f"{key}={value!r} is invalid; use {means}")


def check_patterns(node: Any, prefix: str = "") -> None:
    """Every string field the schema gives a ``Pattern`` (``schema.matching``) matches it, in every section."""
    for f in dataclasses.fields(node):
        key, value = f"{prefix}{f.name}", getattr(node, f.name)
        children = value.items() if isinstance(value, dict) else [("", value)]
        for name, child in children:
            if dataclasses.is_dataclass(child):
                check_patterns(child, f"{key}.{name}." if name else f"{key}.")
        pattern = f.metadata.get("pattern")
        if pattern and value is not None:
            matches(key, value, pattern.regex, pattern.means)
