"""Build the comparison report (DVC stage ``report``) or a sweep report from MLflow runs.

    python pipelines/report.py                                           # reports/comparison.{md,html}
    python pipelines/report.py metrics/numpy_run.json metrics/torch_run.json   # these runs only
    python pipelines/report.py --sweep PARENT_RUN_ID                     # reports/sweep_<id[:8]>_<name>.*
    python pipelines/report.py --experiment mlpbench --filter "params.preset = 'default'"
                                                          # reports/experiment_mlpbench_<filter>_<hash>.*
    python pipelines/report.py --ablation PARENT_RUN_ID [--trials PARENT_RUN_ID ...]
                                                          # reports/ablation/ablation.* (`make ablation`)
    python pipelines/report.py --study NAME [--storage PATH_OR_URL]
                                  # reports/study_<name>.md, its history figure, study_<name>_best.yaml
Only FINISHED runs are compared (the others are listed apart); an --experiment selection that
mixes presets is refused unless --mixed-presets, and runs of several data sets (tag ``dataset``) are
never compared in one report. Errors print one line and exit 1; --debug or
MLPBENCH_DEBUG=1 shows the traceback.

The run files (which MLflow run each training stage made) give the run ids; every number comes from
the MLflow store (MLFLOW_TRACKING_URI, else tracking.uri in params.yaml, else mlflow.db at the
project root), none from the metrics files. A run the store lacks (a fresh clone, a `dvc pull`, a
teammate's commit) is first imported from the run export its run file names (runs/<stage>/).
"""
import argparse
import os
import sys
from pathlib import Path

from mlpbench.params import load_params
from mlpbench.report import ReportError, build_ablation, build_comparison, build_sweep, read_run_ids
from mlpbench.tracking import resolve_tracking_uri

ROOT = Path(__file__).resolve().parents[1]
TORCH_OPTIONS_FILE = ROOT / "metrics" / "torch_options_run.json"  # written by the torch_options stage
DEBUG_ENV = "MLPBENCH_DEBUG"  # set (or pass --debug): a failed report shows its traceback


def default_run_files(params: dict) -> list[Path]:
    """metrics/<backend>_run.json, then metrics/tutorial_<backend>_run.json, for every backend params.yaml trains;
    then metrics/best_<backend>_run.json of those `make best` has trained (the best preset, about half an hour of
    training, is not a DVC stage: its run files and exports are committed as they are)."""
    backends = params.get("backends") or []
    best = [f for b in backends if (f := ROOT / "metrics" / f"best_{b}_run.json").is_file()]
    return [*(ROOT / "metrics" / f"{prefix}{b}_run.json" for prefix in ("", "tutorial_") for b in backends), *best]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_files", nargs="*", type=Path,
                        help="run files of the runs to compare (default: metrics/<backend>_run.json and "
                        "metrics/tutorial_<backend>_run.json for each backend in params.yaml, and "
                        "metrics/best_<backend>_run.json where `make best` wrote one)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--sweep", metavar="PARENT_RUN_ID", help="report on the child runs of this sweep parent run")
    scope.add_argument("--experiment", metavar="NAME", help="report on the runs of this MLflow experiment")
    scope.add_argument("--ablation", metavar="PARENT_RUN_ID",
                       help="the ablation report of this sweep parent run (make ablation), in <out>/ablation/")
    scope.add_argument("--study", metavar="NAME", help="report on this Optuna study (hydra.sweeper.study_name)")
    parser.add_argument("--storage", default=None, metavar="PATH_OR_URL",
                        help="with --study: its storage (default: optuna/<NAME>.journal in the project)")
    parser.add_argument("--trials", metavar="PARENT_RUN_ID", action="append", default=[],
                        help="with --ablation: a sweep of tutorial-reproduction trials, reported in a section of "
                        "their own (repeat for several sweeps)")
    parser.add_argument("--machine", default="", help="with --ablation: a sentence on the machine and its load")
    parser.add_argument("--filter", default="", help="MLflow search filter for --experiment/--sweep, "
                        "e.g. \"params.backend = 'numpy'\"")
    parser.add_argument("--torch-options", type=Path, metavar="RUN_FILE",
                        help="run file of the torch options study, whose section is added when the file exists "
                        f"(default without run files: {TORCH_OPTIONS_FILE.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="output folder (default: reports/)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="tracking.* settings")
    parser.add_argument("--ui-url", default=None, help="MLflow UI base URL for run links (default: tracking.ui_url)")
    parser.add_argument("--no-log", action="store_true", help="do not record the report as an MLflow run")
    parser.add_argument("--mixed-presets", action="store_true",
                        help="let an --experiment report compare runs of different presets")
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of a failure (or set {DEBUG_ENV}=1)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace):
    params = load_params(args.params) if args.params.is_file() else {}
    track = params.get("tracking") or {}
    uri = resolve_tracking_uri(ROOT, track.get("uri"), server=bool(track.get("server")))
    ui_url = args.ui_url or track.get("ui_url")
    if (args.trials or args.machine) and not args.ablation:
        raise ReportError("--trials and --machine apply to --ablation only")
    if args.ablation:
        if args.filter or args.mixed_presets:
            raise ReportError("--filter and --mixed-presets apply to --sweep/--experiment only")
        return build_ablation(uri, args.out / "ablation", args.ablation, args.trials, ui_url, not args.no_log,
                              machine=args.machine)
    if args.sweep or args.experiment:
        return build_sweep(uri, args.out, args.sweep, args.experiment, args.filter, ui_url, not args.no_log,
                           mixed_presets=args.mixed_presets)
    if args.filter or args.mixed_presets:
        raise ReportError("--filter and --mixed-presets apply to --sweep/--experiment only")
    run_files = args.run_files or default_run_files(params)
    return build_comparison(uri, read_run_ids(run_files), args.out, ui_url, not args.no_log,
                            torch_options_file=args.torch_options or (None if args.run_files else TORCH_OPTIONS_FILE),
                            run_files=run_files)


def study_report(args: argparse.Namespace) -> None:
    from mlpbench.report.study import build_study
    from mlpbench.search.study import storage_spec

    files = build_study(storage_spec(args.storage, args.study, ROOT), args.study, args.out)
    print(f"wrote {files.markdown} and {files.figure.name}")
    if files.preset:
        print(f"best trial as a preset: {files.preset}; to train it: cp {files.preset} "
              f"conf/experiment/search_{args.study}.yaml && python pipelines/train.py experiment=search_{args.study}")


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        if args.study:
            return study_report(args)
        if args.storage:
            raise ReportError("--storage applies to --study only")
        files = build(args)
    except Exception as err:  # one line for people; the traceback on request
        if args.debug or os.environ.get(DEBUG_ENV):
            raise
        kind = "" if isinstance(err, ReportError) else f"{type(err).__name__}: "
        first = (str(err).strip().splitlines() or [""])[0]
        sys.exit(f"report failed: {kind}{first} (pass --debug or set {DEBUG_ENV}=1 for the traceback)")
    logged = f"; MLflow run {files.report_run_id}" if files.report_run_id else ""
    if files.restored_runs:
        print(f"restored {files.restored_runs} run(s) from their run exports into the MLflow store")
    print(f"wrote {files.markdown} and {files.html} ({len(files.figures)} figures){logged}")


if __name__ == "__main__":
    main()
