"""A configuration trained on several seeds (``train.seeds``): one run per seed under a parent, paired
across backends, travelling together (tiny data)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from mlpbench import stats
from mlpbench.run.seeds import train_and_track
from mlpbench.tracking.restore import restore
from mlpbench.tracking.tags import GROUP_TAG

from support import tiny_config

OUTPUTS = ["outputs.model_dir=models/x", "outputs.metrics_file=metrics/x.json", "outputs.history_file=metrics/x.csv",
           "outputs.run_file=metrics/x_run.json", "outputs.export_dir=runs/x"]


def test_three_seeds_make_a_parent_with_their_means_and_one_run_each(tiny_root):
    values = tiny_config(tiny_root, ["train.seeds=3", "train.seed=4", *OUTPUTS])
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    client = MlflowClient(values["tracking"]["uri"])
    parent = client.get_run(summary["run_id"])
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert parent.info.status == "FINISHED" and parent.data.tags[GROUP_TAG] == "group"
    assert parent.info.run_name.endswith("(3 seeds)") and parent.data.metrics["seeds"] == 3
    assert sorted(int(r.data.params["train.seed"]) for r in children) == [4, 5, 6]
    assert {r.info.status for r in children} == {"FINISHED"} and {r.data.tags[GROUP_TAG] for r in children} == {"seed"}
    # the group's row, which the runs table shows first, names its data set like each seed's run
    for run in (parent, *children):
        assert sorted(i.dataset.name for i in run.inputs.dataset_inputs) == ["mnist-test", "mnist-train",
                                                                             "mnist-validation"], run.info.run_name
    # the parent's numbers are the children's mean and interval
    tests = [r.data.metrics["test/acc"] for r in children]
    estimate = stats.over_seeds(tests)
    assert parent.data.metrics["test/acc"] == pytest.approx(np.mean(tests))
    assert parent.data.metrics["test/acc_ci95_low"] == pytest.approx(estimate.low)
    assert parent.data.metrics["test/acc_sd"] == pytest.approx(np.std(tests, ddof=1))
    # the step op by op is timed once per group, on its first seed (the report reads one run per backend)
    assert {int(r.data.params["train.seed"]) for r in children if "attribution/step_ms" in r.data.metrics} == {4}
    # every seed's run records which test images it got right (the report's McNemar test)
    for r in children:
        path = client.download_artifacts(r.info.run_id, "test_errors.json", str(tiny_root / r.info.run_id))
        record = json.loads(Path(path).read_text())
        assert record["images"] == r.data.metrics["test/images"]
        assert 1 - len(record["wrong"]) / record["images"] == pytest.approx(r.data.metrics["test/acc"])
    # the files: the run file names the parent and each seed's run; the metrics file the means and spread
    identity = json.loads((tiny_root / "metrics/x_run.json").read_text())
    assert identity["run_id"] == parent.info.run_id
    assert identity["seed_runs"] == {r.data.params["train.seed"]: r.info.run_id for r in children}
    numbers = json.loads((tiny_root / "metrics/x.json").read_text())
    assert list(numbers) == ["val_acc", "test_acc", "sd", "epoch_s"]
    assert numbers["test_acc"] == pytest.approx(np.mean(tests))
    # the export holds the group; restored elsewhere, the children hang under the restored parent
    other = f"sqlite:///{tiny_root / 'other.db'}"
    mapping, imported = restore(other, [tiny_root / "runs/x"])
    assert imported == 4
    for r in children:
        copy = MlflowClient(other).get_run(mapping[r.info.run_id])
        assert copy.data.tags["mlflow.parentRunId"] == mapping[parent.info.run_id]


def test_both_backends_share_each_seed_so_their_runs_pair(tiny_root):
    """The same seed gives both backends the same initial weights and batch order: without dropout (whose
    masks each backend draws itself) their first-epoch losses agree closely, and differ from another seed's."""
    losses = {}
    for backend in ("numpy", "torch"):
        values = tiny_config(tiny_root, [f"backend={backend}", "train.seeds=2", "train.epochs=1", "model.dropout=0"])
        summary = train_and_track(values, tiny_root, tiny_root / f"out-{backend}", progress=False)
        client = MlflowClient(values["tracking"]["uri"])
        runs = json.loads((tiny_root / f"out-{backend}" / "run.json").read_text())["seed_runs"]
        assert summary["run_id"] not in runs.values()
        losses[backend] = {seed: client.get_run(rid).data.metrics["train/loss"] for seed, rid in runs.items()}
    assert losses["numpy"].keys() == losses["torch"].keys() == {"0", "1"}
    for seed in ("0", "1"):
        assert losses["numpy"][seed] == pytest.approx(losses["torch"][seed], rel=1e-4)
    assert losses["numpy"]["0"] != pytest.approx(losses["numpy"]["1"], rel=1e-4)
