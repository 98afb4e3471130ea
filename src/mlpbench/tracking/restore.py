"""Import the pipeline's run exports (``runs/<stage>/``) into the tracking store; ``make ui`` runs it first.

    python -m mlpbench.tracking.restore                # every export under runs/, into the project's store
    python -m mlpbench.tracking.restore runs/numpy     # these exports only
    python -m mlpbench.tracking.restore --uri http://127.0.0.1:5000

A run already in the store (by its own id, or imported before) is left alone, so this is safe to
run any number of times; see ``mlpbench.tracking.portable``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlpbench.params import load_params
from mlpbench.tracking.portable import ExportError, restore
from mlpbench.tracking.store import resolve_tracking_uri

EXPORTS = "runs"  # the folder every run-producing DVC stage writes its export into (dvc.yaml)


def store_uri(root: Path, uri: str | None) -> str:
    """``uri``, else what the pipeline uses: MLFLOW_TRACKING_URI, tracking.uri of params.yaml, mlflow.db in ``root``."""
    if uri:
        return uri
    params = root / "params.yaml"
    tracking = (load_params(params).get("tracking") or {}) if params.is_file() else {}
    return resolve_tracking_uri(root, tracking.get("uri"), server=bool(tracking.get("server")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help=f"export folders (default: every folder in {EXPORTS}/)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: the current folder)")
    parser.add_argument("--uri", help="tracking store (default: the pipeline's)")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p for p in (args.root / EXPORTS).glob("*") if p.is_dir())
    uri = store_uri(args.root, args.uri)
    try:
        mapping, imported = restore(uri, folders)
    except ExportError as err:
        print(f"restore failed: {err}; rebuild the stage that writes it (`dvc repro -s -f <stage>`)", file=sys.stderr)
        return 1
    except Exception as err:  # the store refused a write (read-only, full disk): one line, nothing half-made
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(f"restore failed: the MLflow store {uri} refused the import ({first}); the runs of {EXPORTS}/ "
              "are not in it", file=sys.stderr)
        return 1
    print(f"{imported} of {len(mapping)} exported run(s) imported from {len(folders)} folder(s) under "
          f"{EXPORTS}/; the others were already in the store")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
