"""The ``data`` section alone, as the data stages (download, normalise, split) read it.

``load_data`` merges and checks only that section, with the checks and messages ``load.load`` gives
it, so those stages import neither the registries of backends and options nor the other sections' checks:
registering a backend does not rerun them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import MISSING

from mlpbench.config import checks
from mlpbench.config.checks import ConfigError
from mlpbench.config.merge import merge, plain
from mlpbench.config.schema import DataConfig

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class _DataOnly:
    """The schema's ``data`` key alone, so errors name ``data.<key>`` as the whole config's do."""

    data: DataConfig = MISSING


def load_data(values: Mapping[str, Any]) -> DataConfig:
    """Typed, validated ``DataConfig`` from a composed config (the other sections are not read).

    Raises ``ConfigError`` with one line naming the key, the value and what is allowed.
    """
    values = plain(values)
    data = merge(_DataOnly, {"data": values["data"]} if "data" in values else {}).data
    data.image_shape = tuple(data.image_shape)
    checks.check_patterns(data, "data.")
    validate_data(data)
    return data


def validate_data(d: DataConfig) -> None:
    """Raise ``ConfigError`` on the first value of the ``data`` section out of range."""
    checks.non_empty("data.title", d.title)
    for role, f in vars(d.files).items():
        checks.positive(f"data.files.{role}.size", f.size)
        if not _SHA256.fullmatch(f.sha256):
            raise ConfigError(f"data.files.{role}.sha256={f.sha256!r} is invalid; give the file's 64 lower-case "
                              "hex digits (sha256sum FILE)")
    if len(d.image_shape) != 2 or min(d.image_shape) <= 0:
        raise ConfigError(f"data.image_shape={list(d.image_shape)} is invalid; give [rows, cols], both > 0")
    if d.num_classes < 2:
        raise ConfigError(f"data.num_classes={d.num_classes!r} is invalid; a classifier needs at least 2 classes")
    checks.positive("data.download.timeout", d.download.timeout)
    checks.unit_interval("data.split.val_fraction", d.split.val_fraction, closed_low=False)
    checks.non_negative("data.split.seed", d.split.seed)
