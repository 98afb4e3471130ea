"""An Optuna study whose trials are SLURM jobs, the study on the team PostgreSQL (its own database beside
MLflow's), the runs on the team server: every trial finished once, with one run each."""
from __future__ import annotations

import os
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from support import PROJECT_ROOT, TEST_DATA, run_checked, write_learnable_data

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]


def test_a_study_of_slurm_trials_on_postgresql(slurm, team_server, team_postgres, tmp_path):
    root, storage = write_learnable_data(tmp_path), f"{team_postgres}/optuna"
    data = root / "data"
    env = {**{k: v for k, v in os.environ.items() if k != "DVC_ROOT"}, **slurm, "MLFLOW_TRACKING_URI": team_server,
           "CI": "1"}
    run_checked([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m", "hydra/sweeper=optuna",
                 "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "tracking=server",
                 TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
                 f"hydra.sweep.dir={root / 'multirun'}", "model.hidden_sizes=[16]", "train.batch_size=32",
                 "train.epochs=2", "train.seeds=1", "train.threads=1", f"hydra.sweeper.storage={storage}",
                 "hydra.sweeper.study_name=slurm", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                 "optim.lr=tag(log,interval(0.01,0.2))"], root, env, timeout=300)
    trials = optuna.load_study(study_name="slurm", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    client = MlflowClient(team_server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, "tags.study = 'slurm' and tags.trial_state = 'COMPLETE'")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == [0, 1]
    assert all(r.data.tags.get("slurm_job_id") for r in runs)
