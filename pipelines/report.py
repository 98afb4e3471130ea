"""Build the comparison report (DVC stage ``report``) or a sweep report from MLflow runs.

    python pipelines/report.py                                           # reports/comparison.{md,html}
    python pipelines/report.py metrics/numpy.json metrics/torch.json     # these runs only
    python pipelines/report.py --sweep PARENT_RUN_ID                     # reports/sweep_<id>.{md,html}
    python pipelines/report.py --experiment mlpbench --filter "params.backend = 'numpy'"

The metrics files are read only for their run ids; every number comes from the MLflow store
(MLFLOW_TRACKING_URI, else tracking.uri in params.yaml, else mlflow.db at the project root).
"""
import argparse
import sys
from pathlib import Path

from mlpbench.params import load_params
from mlpbench.report import ReportError, build_comparison, build_sweep, read_run_ids
from mlpbench.tracking import resolve_tracking_uri

ROOT = Path(__file__).resolve().parents[1]


def default_metrics(params: dict) -> list[Path]:
    """metrics/<backend>.json, then metrics/tutorial_<backend>.json, for every backend params.yaml trains."""
    backends = params.get("backends") or []
    return [ROOT / "metrics" / f"{prefix}{b}.json" for prefix in ("", "tutorial_") for b in backends]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="*", type=Path,
                        help="metrics JSON files of the runs to compare (default: metrics/<backend>.json and "
                        "metrics/tutorial_<backend>.json for each backend in params.yaml)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--sweep", metavar="PARENT_RUN_ID", help="report on the child runs of this sweep parent run")
    scope.add_argument("--experiment", metavar="NAME", help="report on the runs of this MLflow experiment")
    parser.add_argument("--filter", default="", help="MLflow search filter for --experiment/--sweep, "
                        "e.g. \"params.backend = 'numpy'\"")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="output folder (default: reports/)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="tracking.* settings")
    parser.add_argument("--ui-url", default=None, help="MLflow UI base URL for run links (default: tracking.ui_url)")
    parser.add_argument("--no-log", action="store_true", help="do not record the report as an MLflow run")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    params = load_params(args.params) if args.params.is_file() else {}
    track = params.get("tracking") or {}
    uri = resolve_tracking_uri(ROOT, track.get("uri"))
    ui_url = args.ui_url or track.get("ui_url")
    try:
        if args.sweep or args.experiment:
            files = build_sweep(uri, args.out, args.sweep, args.experiment, args.filter, ui_url, not args.no_log)
        else:
            if args.filter:
                sys.exit("--filter applies to --sweep/--experiment only")
            metrics = args.metrics or default_metrics(params)
            files = build_comparison(uri, read_run_ids(metrics), args.out, ui_url, not args.no_log)
    except ReportError as err:
        sys.exit(f"report failed: {err}")
    logged = f"; MLflow run {files.report_run_id}" if files.report_run_id else ""
    print(f"wrote {files.markdown} and {files.html} ({len(files.figures)} figures){logged}")


if __name__ == "__main__":
    main()
