"""Train the torch backend with each of torch's own optimizations against eager float32 (DVC stage
``torch_options``).

    python pipelines/torch_options.py                   # the setting params.yaml names (quick)
    python pipelines/torch_options.py --setting full    # the default epochs

Records one MLflow run per variant in ``torch_options.experiment`` and writes the run file (which
runs the report reads) and one metrics file per variant.
"""
import argparse
import sys
import time
from pathlib import Path

from mlpbench.config import ConfigError
from mlpbench.data import DataFileError
from mlpbench.params import load_params
from mlpbench.torch_options.study import run_study, write_files
from mlpbench.tracking.portable import ExportError, check_replaceable
from mlpbench.tracking.journal import StoreFailed

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="the composed config")
    parser.add_argument("--setting", help="a name under torch_options.settings (default: torch_options.setting)")
    parser.add_argument("--run-file", type=Path, default=ROOT / "metrics" / "torch_options_run.json")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "metrics" / "torch_options",
                        help="one metrics file per variant: <dir>/<variant>.json")
    parser.add_argument("--export-dir", type=Path, help="write the runs' portable export here (the DVC stage does)")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def progress(i: int, n: int, name: str) -> None:
        print(f"[{i + 1}/{n}] {name}", file=sys.stderr, flush=True)

    try:
        if args.export_dir:
            check_replaceable(args.export_dir, "--export-dir")
        result = run_study(load_params(args.params), ROOT, args.setting, progress)
    except (ConfigError, DataFileError, ExportError, FileNotFoundError) as err:
        sys.exit(f"torch_options failed: {err}")
    except StoreFailed as err:
        sys.exit(f"torch_options failed: {err.describe()}")
    write_files(result, args.run_file, args.metrics_dir, args.export_dir)
    skipped = "".join(f"; skipped {name}: {why}" for name, why in result.skipped.items())
    exported = f", {args.export_dir}" if args.export_dir else ""
    print(f"{len(result.runs)} variants ({result.setting}) in {time.perf_counter() - start:.1f} s; wrote "
          f"{args.run_file}{exported} and {args.metrics_dir}{skipped}")


if __name__ == "__main__":
    main()
