"""Reading ``params.yaml``, the composed configuration that DVC tracks."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from mlpbench.config.checks import ConfigError


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


def take_from_params(values: Mapping[str, Any], path: Path, keys: Sequence[str]) -> dict[str, Any]:
    """A copy of the composed config ``values`` with each dotted key in ``keys`` (a value or a whole
    section, e.g. ``train.seed``, ``data.split``) taken from the params file ``path`` instead.

    How a DVC stage reruns a preset with the settings every run shares: the script reads them here,
    so no value passes through the stage command's shell.
    """
    params, merged = load_params(path), copy.deepcopy(dict(values))
    for key in keys:
        *parents, leaf = key.split(".")
        source, target = params, merged
        for part in parents:
            source, target = source.get(part) if isinstance(source, dict) else None, target.get(part)
        if not isinstance(source, dict) or leaf not in source or not isinstance(target, dict) or leaf not in target:
            raise ConfigError(f"{key} is not a setting of both {path} and conf/; regenerate {path.name} with "
                           "`make params`, or drop the key from the stage command")
        target[leaf] = copy.deepcopy(source[leaf])
    return merged


def sweep_values(path: Path, key: str) -> str:
    """The list setting ``key`` of the params file ``path``, comma-joined as a Hydra sweep override takes it."""
    values = load_params(path).get(key)
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{path} has no list {key}; regenerate it with `make params`")
    return ",".join(str(v) for v in values)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mlpbench.params KEY [--params PATH]``: print ``sweep_values`` (``make ablation`` sweeps
    ``backend=`` over the ``backends`` DVC trains)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="print a list setting of params.yaml, comma-joined")
    parser.add_argument("key")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        print(sweep_values(args.params, args.key))
    except (FileNotFoundError, ValueError, ConfigError) as err:
        sys.exit(f"params: {err}")


if __name__ == "__main__":
    main()
