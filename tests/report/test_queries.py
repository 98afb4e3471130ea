"""``tracking.queries.search_runs``: the DataFrame every report is built from."""
from __future__ import annotations

import math

import pytest

from mlpbench.tracking import ExperimentNotFoundError, RunNotFoundError
from mlpbench.tracking.queries import search_runs

from .conftest import SWEEP_EXPERIMENT


def test_runs_by_id_hold_what_was_logged(store, client):
    ids = [store.run_ids["numpy"], store.run_ids["tutorial_torch"]]
    frame = search_runs(store.uri, run_ids=[*ids, "0" * 32, "x' OR '1'='1"]).set_index("run_id")
    assert sorted(frame.index) == sorted(ids)
    run = client.get_run(ids[0])
    assert frame.loc[ids[0], "metrics.final/val_acc"] == run.data.metrics["final/val_acc"]
    assert frame.loc[ids[0], "params.optim.beta1"] == "0.9" and frame.loc[ids[0], "name"] == run.info.run_name
    assert math.isnan(frame.loc[ids[1], "params.optim.beta1"])  # an SGD run has no Adam keys
    assert frame.loc[ids[1], "tags.dataset_title"] == "MNIST"


def test_no_matching_id_gives_an_empty_frame_with_the_base_columns(store):
    frame = search_runs(store.uri, run_ids=["x'y"])
    assert frame.empty and list(frame.columns) == ["run_id", "name", "experiment_id", "status", "start_time"]


def test_children_of_a_parent_oldest_first(store):
    assert list(search_runs(store.uri, parent_run_id=store.parent_run_id)["run_id"]) == list(store.child_run_ids)


def test_unknown_experiment_and_parent_raise(store):
    with pytest.raises(ExperimentNotFoundError, match=SWEEP_EXPERIMENT):
        search_runs(store.uri, experiment="nope")
    with pytest.raises(RunNotFoundError):
        search_runs(store.uri, parent_run_id="0" * 32)
