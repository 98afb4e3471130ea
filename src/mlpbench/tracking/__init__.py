"""MLflow tracking: the only package of mlpbench that imports mlflow.

- ``runs``: the store and experiment, sweep parent runs, ``TrackedRun`` (one run, honest status).
- ``models``: logging a trained model in its backend's flavour.
- ``queries``: reading runs back for the report (plain dicts out).
"""
from mlpbench.tracking.queries import (ExperimentNotFoundError, RunNotFoundError, download_artifact,
                                       experiment_id_by_name, find_runs, get_run, metric_history)
from mlpbench.tracking.runs import (DB_NAME, TrackedRun, child_statuses, end_parent_run, flatten, log_report,
                                    prepare, resolve_tracking_uri, start_parent_run)

__all__ = [
    "DB_NAME", "ExperimentNotFoundError", "RunNotFoundError", "TrackedRun", "child_statuses", "download_artifact",
    "end_parent_run", "experiment_id_by_name", "find_runs", "flatten", "get_run", "log_report", "metric_history",
    "prepare", "resolve_tracking_uri", "start_parent_run",
]
