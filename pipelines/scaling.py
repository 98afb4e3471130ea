"""Time a training step of every backend against its GEMM floor across width, batch and depth
(DVC stage ``scaling``).

    python pipelines/scaling.py                # the grid params.yaml names (scaling.grid: quick)
    python pipelines/scaling.py --grid full    # the longer grid

Writes ``scaling.out_dir`` (reports/scaling/): scaling.csv, scaling.md (where each backend wins)
and figures/, and records them as an MLflow run in the experiment ``scaling.experiment``.
"""
import argparse
import sys
from pathlib import Path

from mlpbench.config import ConfigError
from mlpbench.params import load_params
from mlpbench.scaling.study import run_study
from mlpbench.tracking.portable import ExportError, check_replaceable
from mlpbench.tracking.journal import StoreFailed

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="the composed config")
    parser.add_argument("--grid", help="a name under scaling.grids (default: scaling.grid)")
    parser.add_argument("--export-dir", type=Path, help="write the run's portable export here (the DVC stage does)")
    args = parser.parse_args(argv)
    values = load_params(args.params)
    if args.grid:
        values.setdefault("scaling", {})["grid"] = args.grid

    def progress(index: int, rounds: int, backend: str) -> None:
        print(f"round {index + 1}/{rounds}: {backend} times every point", file=sys.stderr, flush=True)

    try:
        if args.export_dir:
            check_replaceable(args.export_dir, "--export-dir")
        result = run_study(values, ROOT, progress, args.export_dir)
    except (ConfigError, ExportError) as err:
        sys.exit(f"scaling failed: {err}")
    except StoreFailed as err:
        sys.exit(f"scaling failed: {err.describe()}")
    print(f"wrote {result.csv}, {result.markdown} and {len(result.figures)} figures; MLflow run {result.run_id}")


if __name__ == "__main__":
    main()
