"""Running a search on tiny data, and reading what it left in the study and in MLflow."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient
from optuna.storages.journal import JournalFileBackend, JournalStorage

from support import PROJECT_ROOT, TEST_DATA

TRAIN = str(PROJECT_ROOT / "pipelines" / "train.py")


def search_command(root: Path, study: str, *overrides: str) -> list[str]:
    """A search of ``study`` on ``root``'s tiny data, its store and journal under ``root``."""
    data = root / "data"
    return [sys.executable, TRAIN, "-m", "hydra/sweeper=optuna", TEST_DATA, f"hydra.sweep.dir={root / 'sweep'}",
            f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
            f"tracking.uri=sqlite:///{root / 'mlflow.db'}", f"hydra.sweeper.storage={root / 'study.journal'}",
            f"hydra.sweeper.study_name={study}", "model.hidden_sizes=[16]", "train.batch_size=32", "train.threads=1",
            "train.seeds=1", "train.epochs=3", "hydra.sweeper.seed=0", *overrides]


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "CI": "1"}


def study(root: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(root / "study.journal"))))


def runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def trial_runs(root: Path) -> list:
    return [r for r in runs(root) if "trial_number" in r.data.tags]
