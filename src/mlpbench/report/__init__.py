"""Reports built from MLflow runs: the backend comparison, sweep summaries and the ablation.

    from mlpbench.report import build_comparison, build_sweep, read_run_ids
    build_comparison(uri, read_run_ids(["metrics/numpy.json", ...]), Path("reports"))
    build_sweep(uri, Path("reports"), parent_run_id="...")
    build_ablation(uri, Path("reports/ablation"), parent_run_id="...")

Runs are read as DataFrames (``runs``, through ``mlpbench.tracking.queries``); tables are columns
of those frames (``tables``), rendered to Markdown by pandas and to HTML by one Jinja2 template
(``render``), the HTML with its figures embedded.
"""
from mlpbench.report.ablation import build_ablation
from mlpbench.report.comparison import build_comparison
from mlpbench.report.render import ReportFiles
from mlpbench.report.runs import ReportError, read_run_ids
from mlpbench.report.sweep import build_sweep

__all__ = ["ReportError", "ReportFiles", "build_ablation", "build_comparison", "build_sweep", "read_run_ids"]
