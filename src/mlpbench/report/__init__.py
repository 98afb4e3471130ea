"""Reports built from MLflow runs: the backend comparison and sweep summaries.

    from mlpbench.report import build_comparison, build_sweep, read_run_ids
    build_comparison(uri, read_run_ids(["metrics/numpy.json", ...]), Path("reports"))
    build_sweep(uri, Path("reports"), parent_run_id="...")

Every number comes from the tracking store (see ``collect``); Markdown and HTML are rendered from
one list of blocks (``document``), the HTML with its figures embedded.
"""
from mlpbench.report.collect import ReportError, RunData, load_runs, load_sweep, read_run_ids
from mlpbench.report.comparison import build_comparison
from mlpbench.report.output import ReportFiles
from mlpbench.report.sweep import build_sweep

__all__ = ["ReportError", "ReportFiles", "RunData", "build_comparison", "build_sweep", "load_runs",
           "load_sweep", "read_run_ids"]
