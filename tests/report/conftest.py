"""Real tiny training runs recorded in a throw-away MLflow store, shared by the report tests.

One session fixture trains, on a learnable fake dataset (300 train/validation rows, 100 test):
numpy and torch with the default and the tutorial presets (the four runs of the comparison),
and a sweep: a parent run with four children (backend x optim.lr) in experiment ``sweep-test``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from mlpbench import tracking
from mlpbench.compose import compose
from mlpbench.run import train_and_track
from support import write_learnable_data

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["train.epochs=2", "model.hidden_sizes=[16]", "train.batch_size=32", "train.threads=1"]
SWEEP_EXPERIMENT = "sweep-test"
SWEEP_LRS = (0.003, 0.03)


@dataclass(frozen=True)
class Tracked:
    root: Path
    uri: str
    metrics_files: dict[str, Path]  # numpy, torch, tutorial_numpy, tutorial_torch
    run_ids: dict[str, str]
    parent_run_id: str
    child_run_ids: tuple[str, ...]


def config(root: Path, uri: str, overrides: list[str], preset: str, experiment: str = "mlpbench") -> dict:
    """The real conf/ composed with ``overrides``, pointed at the tiny data and the test store."""
    values = compose(ROOT, overrides + SMALL)
    values["data"]["paths"] = {"raw": str(root / "data" / "raw"), "processed": str(root / "data" / "processed"),
                               "split": str(root / "data" / "split")}
    values["tracking"].update(uri=uri, experiment=experiment)
    assert values["preset"] == preset, "the composed preset must tag the runs"
    return values


def _train(root: Path, values: dict, name: str, parent: str | None = None) -> dict:
    return train_and_track(values, root=root, out_dir=root / f"out_{name}", progress=False, parent_run_id=parent)


@pytest.fixture(scope="session")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Tracked:
    root = tmp_path_factory.mktemp("report_runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(root)  # anything MLflow resolves against the working directory stays in tmp
        write_learnable_data(root)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        client = MlflowClient(uri)
        for name in ("mlpbench", SWEEP_EXPERIMENT):  # artifacts under tmp, not ./mlruns
            client.create_experiment(name, artifact_location=(root / "artifacts" / name).as_uri())
        metrics_files, run_ids = {}, {}
        for preset, prefix in (("default", ""), ("tutorial", "tutorial_")):
            for backend in ("numpy", "torch"):
                extra = ["experiment=tutorial"] if preset == "tutorial" else []
                summary = _train(root, config(root, uri, extra + [f"backend={backend}"], preset), prefix + backend)
                path = root / "metrics" / f"{prefix}{backend}.json"
                path.parent.mkdir(exist_ok=True)
                path.write_text(json.dumps(summary, indent=2, sort_keys=True))
                metrics_files[prefix + backend], run_ids[prefix + backend] = path, summary["run_id"]
        experiment_id = client.get_experiment_by_name(SWEEP_EXPERIMENT).experiment_id
        parent = tracking.start_parent_run(uri, experiment_id, "sweep test",
                                           {"sweep": "parent", "sweep_overrides": "backend=numpy,torch optim.lr=0.003,0.03"})
        children = []
        for backend in ("numpy", "torch"):
            for lr in SWEEP_LRS:
                values = config(root, uri, [f"backend={backend}", f"optim.lr={lr}"], "default", SWEEP_EXPERIMENT)
                children.append(_train(root, values, f"sweep_{backend}_{lr}", parent)["run_id"])
        tracking.end_parent_run(uri, parent, "FINISHED")
    return Tracked(root, uri, metrics_files, run_ids, parent, tuple(children))


@pytest.fixture
def client(tracked: Tracked) -> MlflowClient:
    return MlflowClient(tracked.uri)
