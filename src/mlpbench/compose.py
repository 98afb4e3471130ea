"""Compose ``conf/`` into ``params.yaml`` exactly as ``dvc exp run -S`` does.

Usage: ``python -m mlpbench.compose [OVERRIDE ...] [--output params.yaml] [--root .]``

``main`` goes through DVC's own ``compose_and_dump`` (the file DVC would write); ``compose`` calls
Hydra's compose API directly, for code and tests that only need the values.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from mlpbench.config.store import register_configs


def compose(root: Path, overrides: list[str] | None = None) -> dict:
    """The composition of ``root/conf/config.yaml`` with ``overrides`` as a plain dict (no ``hydra`` key)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(str((Path(root) / "conf").resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides or []))
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def main() -> None:
    from dvc.utils.hydra import compose_and_dump

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.epochs=3")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (holds conf/)")
    parser.add_argument("--output", type=Path, default=None, help="default: ROOT/params.yaml")
    args = parser.parse_args()
    output = args.output or args.root / "params.yaml"
    compose_and_dump(output, str((args.root / "conf").resolve()), None, "config", str(args.root), args.overrides)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
