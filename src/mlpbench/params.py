"""Reading ``params.yaml``, the composed configuration that DVC tracks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_params(path: Path) -> dict[str, Any]:
    """The parsed ``params.yaml``; a clear error when it is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; regenerate it from conf/ with `make params`")
    values = yaml.safe_load(path.read_text())
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of config keys; regenerate it with `make params`")
    return values


def resolve(root: Path, path: str | Path) -> Path:
    """``path`` as an absolute path, relative ones taken from the project root."""
    path = Path(path)
    return path if path.is_absolute() else Path(root) / path
