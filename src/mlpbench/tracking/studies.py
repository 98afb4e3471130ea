"""The experiment of a measurement study (the scaling study), apart from the training runs.

A study's run is a ``TrackedRun`` (params, metrics, tags, its files as artifacts, an honest end
status) in an experiment of its own, so the training runs' lists stay comparable.
"""
from __future__ import annotations

from mlflow.tracking import MlflowClient

from mlpbench.tracking.runs import NOTE_TAG, _artifact_location, _retire_empty_default, _store_lock


def prepare_study(uri: str, experiment: str, description: str) -> str:
    """Create the store and the study's experiment (safely from several processes), described by
    ``description`` (Markdown, shown by the MLflow UI); return its id."""
    with _store_lock(uri):
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(
            experiment, artifact_location=_artifact_location(uri, experiment))
        if (found.tags if found else {}).get(NOTE_TAG) != description:
            client.set_experiment_tag(experiment_id, NOTE_TAG, description)
        _retire_empty_default(client, uri)
        return experiment_id


def annotate_run(uri: str, run_id: str, params: dict | None = None, tags: dict | None = None,
                 metrics: dict | None = None) -> None:
    """Add params, tags and metrics to a run another process may own (a search's sweep parent)."""
    from mlflow.entities import Metric, Param, RunTag

    from mlpbench.tracking.journal import now_ms

    MlflowClient(uri).log_batch(run_id, metrics=[Metric(k, float(v), now_ms(), 0) for k, v in (metrics or {}).items()],
                                params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
                                tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()])


def tag_child(uri: str, parent_run_id: str, key: str, value: str, tags: dict[str, str]) -> str | None:
    """Set ``tags`` on the child run of ``parent_run_id`` tagged ``key=value``; return its id (None: no such run)."""
    client = MlflowClient(uri)
    parent = client.get_run(parent_run_id)
    found = client.search_runs([parent.info.experiment_id], max_results=1,
                               filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.{key} = '{value}'")
    for run in found:
        for k, v in tags.items():
            client.set_tag(run.info.run_id, k, v)
        return run.info.run_id
    return None
