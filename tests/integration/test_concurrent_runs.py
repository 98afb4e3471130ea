"""Single runs started at the same moment each keep their own folder and outputs.

Before, six `python pipelines/train.py experiment=debug` started at once on a fresh store gave 3
FINISHED and 3 FAILED runs: Hydra's run folder (``outputs/<date>/<second>``) was shared, and each
run's start removed the others' staged outputs as an earlier run's leftovers.
"""
from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from support import PROJECT_ROOT, TEST_DATA, run_at_once, write_learnable_data

pytestmark = pytest.mark.slow
RUNS = 6
# Each copy waits for the others, then becomes the training script (the same process, started at once).
_EXEC = """
import os
at_once()
os.execv(sys.executable, [sys.executable, *args])
"""


def test_six_single_runs_started_at_once_all_finish_with_their_own_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    root = write_learnable_data(tmp_path)
    uri = f"sqlite:///{root / 'mlflow.db'}"  # fresh: the runs create it
    args = [str(PROJECT_ROOT / "pipelines" / "train.py"), "experiment=debug", "train.threads=1", "train.batch_size=64",
            TEST_DATA, f"data.paths.processed={root / 'data' / 'processed'}", f"data.paths.split={root / 'data' / 'split'}",
            f"tracking.uri={uri}"]
    run_at_once(_EXEC, tmp_path, RUNS, *args, timeout=600)

    folders = sorted((root / "outputs").glob("*/*"))
    assert len(folders) == RUNS, folders
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mlpbench").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * RUNS
    written = {json.loads((folder / "run.json").read_text())["run_id"] for folder in folders}
    assert written == {r.info.run_id for r in runs}
    for folder in folders:
        run_id = json.loads((folder / "run.json").read_text())["run_id"]
        assert json.loads((folder / "model" / "mlpbench-run.json").read_text())["run_id"] == run_id
        assert not list(folder.glob(".*staging*"))
