"""Compose ``conf/`` into ``params.yaml`` exactly as ``dvc exp run -S`` does.

Usage: ``python -m mlpbench.compose [OVERRIDE ...] [--output params.yaml] [--root .]``
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml
from dvc.utils.hydra import compose_and_dump


def compose(root: Path, overrides: list[str] | None = None) -> dict:
    """The composition of ``root/conf/config.yaml`` with ``overrides`` as a plain dict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_and_dump(out, str((Path(root) / "conf").resolve()), None, "config", tmp, overrides or [])
        return yaml.safe_load(out.read_text())


def main() -> None:
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
