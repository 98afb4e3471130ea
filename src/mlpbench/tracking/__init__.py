"""MLflow tracking: the only package of mlpbench that imports mlflow.

- ``store``: where the tracking store is (``resolve_tracking_uri``).
- ``runs``: the experiment, sweep parent runs, ``TrackedRun`` (one run, honest status).
- ``tags``: the tags naming the process that writes a run and why a run was ended (``mlpbench.processes``
  tells whether that process is alive).
- ``models``: logging a trained model in its backend's flavour.
- ``queries``: reading runs back for the report (dicts and DataFrames, no mlflow objects).
- ``doctor``: ending runs KILLED whose process is gone (or whose SLURM job is over).
- ``health``: whether the store answers and can be written, asked in seconds before any work.
- ``journal``: a run whose store fails: no more retries, its end kept beside its outputs for the doctor.
- ``portable``: the export of a stage's runs (``runs/<stage>/``, versioned with its outputs).
- ``restore``: importing exported runs a store lacks (the report, ``make ui``), once each.
"""
import os

# Before mlflow is imported: MLflow's telemetry thread sets and removes an environment variable
# while requests read the environment; with 16 jobs logging to a server at once, one job's
# log-batch failed with KeyError('_MLFLOW_TELEMETRY_SESSION_ID'). Compute nodes rarely have a route
# out for it anyway. MLFLOW_DISABLE_TELEMETRY=false turns it back on.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlpbench.tracking.queries import (ExperimentNotFoundError, RunNotFoundError, download_artifact,
                                       experiment_id_by_name, get_run, metric_history, search_runs)
from mlpbench.tracking.runs import (TrackedRun, children, descendants, end_killed, end_parent_run, flatten, log_report, prepare,
                                    start_parent_run)
from mlpbench.tracking.store import DB_NAME, resolve_tracking_uri, store_root

__all__ = [
    "DB_NAME", "ExperimentNotFoundError", "RunNotFoundError", "TrackedRun", "children", "descendants",
    "download_artifact", "end_killed", "end_orphans", "end_parent_run", "experiment_id_by_name",
    "flatten", "get_run", "log_report", "metric_history", "prepare", "resolve_tracking_uri", "search_runs",
    "start_parent_run", "store_root",
]


def __getattr__(name: str):
    """``end_orphans`` from ``doctor``, imported on first use: ``python -m mlpbench.tracking.doctor`` must
    find the doctor not yet imported (runpy warns otherwise)."""
    if name == "end_orphans":
        from mlpbench.tracking.doctor import end_orphans

        return end_orphans
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
