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
