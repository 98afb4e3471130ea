"""Synthetic MLflow runs for the report tests, logged with ``MlflowClient`` (no training).

The runs carry what training runs record: the params of their own optimizer and schedule only,
per-epoch and summary metrics, environment tags. Values are chosen so that no two columns of a
table agree, so a value in the wrong column shows. One session store holds the comparison's four
runs (experiment ``mlpbench``) and a sweep in ``sweep-test``: a parent with four children
(backend x optim.lr, the last FAILED with an ``error`` tag) and a report run, which a sweep report must leave out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from mlpbench import figures

ROOT = Path(__file__).resolve().parents[2]
SWEEP_EXPERIMENT = "sweep-test"
SWEEP_LRS = ("0.03", "3e-3")  # logged in this order; text order differs from numeric order
EPOCHS = (1, 2, 3)
TAGS = {"git_commit": "0123abcd", "data_sha256": "5eed" * 16, "numpy_version": "2.4.6", "torch_version": "2.13.0+cpu",
        "blas": "openblas 0.3.31", "python_version": "3.11.7", "cpu": "Test CPU 9000", "cpu_count": "4",
        "dataset": "mnist", "dataset_title": "MNIST", "backend_device": "cpu", "backend_dtype": "float32"}
MODEL = {"model.activation": "relu", "model.init_scale": "0.5", "train.seed": "0", "train.dtype": "float32"}
TUTORIAL = {**MODEL, "model.hidden_sizes": "[128]", "model.init": "uniform", "model.dropout": "0.0",
            "optim.name": "sgd", "optim.lr": "0.01", "optim.momentum": "0.0", "optim.nesterov": "False",
            "optim.weight_decay": "0.0", "schedule.name": "constant", "train.batch_size": "64", "train.epochs": "3"}
DEFAULT = {**MODEL, "model.hidden_sizes": "[32, 16]", "model.init": "auto", "model.dropout": "0.25",
           "optim.name": "adam", "optim.lr": "0.001", "optim.beta1": "0.9", "optim.beta2": "0.999",
           "optim.eps": "1e-08",
           "optim.weight_decay": "0.0", "schedule.name": "cosine", "schedule.min_lr": "0.0", "train.batch_size": "256",
           "train.epochs": "3"}
# key: (preset, backend, params, (train, validation, test accuracy), training seconds, run name)
COMPARED = {
    "tutorial_numpy": ("tutorial", "numpy", TUTORIAL, (0.9196, 0.9121, 0.9176), 5.54, "tutorial numpy"),
    "tutorial_torch": ("tutorial", "torch", TUTORIAL, (0.9152, 0.9087, 0.9113), 10.5, "tutorial torch | <h128>"),
    "numpy": ("default", "numpy", DEFAULT, (0.9919, 0.9826, 0.9828), 16.1, "numpy default"),
    "torch": ("default", "torch", DEFAULT, (0.9917, 0.9813, 0.9825), 24.8, "torch default"),
}


def summary(accuracy: tuple[float, float, float], seconds: float) -> dict[str, float]:
    """Summary metrics as training logs them: the rest derived from accuracy and time, all distinct."""
    train, val, test = accuracy
    return {"final/train_acc": train, "final/val_acc": val, "test/acc": test, "final/train_loss": 1.05 - val,
            "final/val_loss": 1.1 - val, "test/loss": 1.2 - val, "epochs_run": 3.0, "best_epoch": 2.0,
            "time/total_s": seconds, "time/train_s": 0.9 * seconds, "time/epoch_median_s": seconds / 3.3,
            "time/samples_per_s_median": 60000 / seconds, "memory/peak_rss_mb": 600 + 2 * seconds}


def per_epoch(val_acc: float) -> list[tuple[str, float, int]]:
    """(key, value, epoch) of the curves training logs with step=epoch."""
    out = []
    for e in EPOCHS:
        late = (len(EPOCHS) - e) / 10
        out += [("train/acc", val_acc + 0.01 - late, e), ("val/acc", val_acc - late, e),
                ("train/loss", 1.0 - val_acc + late, e), ("val/loss", 1.1 - val_acc + late, e), ("lr", 0.01, e)]
    return out


def log_run(client: MlflowClient, experiment_id: str, name: str, backend: str, preset: str, params: dict,
            accuracy: tuple[float, float, float], seconds: float, tags: dict | None = None,
            status: str = "FINISHED") -> str:
    """One ended run as a training run records it; returns its id."""
    threads = "2" if backend == "torch" else "1"
    tags = {**TAGS, "backend": backend, "preset": preset, "backend_threads": threads, **(tags or {})}
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    metrics = [Metric(k, v, 1000 * e, e) for k, v, e in per_epoch(accuracy[1])]
    metrics += [Metric(k, v, 9000, 0) for k, v in summary(accuracy, seconds).items()]
    params = {"backend": backend, "preset": preset, **params}
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run_id, status)
    return run_id


@dataclass(frozen=True)
class Store:
    root: Path
    uri: str
    run_ids: dict[str, str]  # keys of COMPARED
    run_files: dict[str, Path]  # the training stages' run files (outputs.run_file)
    parent_run_id: str
    child_run_ids: tuple[str, ...]
    report_run_id: str  # in SWEEP_EXPERIMENT, tagged report=true


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("report_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    ids = {name: client.create_experiment(name, artifact_location=(root / "artifacts" / name).as_uri())
           for name in ("mlpbench", SWEEP_EXPERIMENT)}
    run_ids, files = {}, {}
    for key, (preset, backend, params, accuracy, seconds, name) in COMPARED.items():
        run_ids[key] = log_run(client, ids["mlpbench"], name, backend, preset, params, accuracy, seconds)
        files[key] = root / "metrics" / f"{key}_run.json"
        files[key].parent.mkdir(exist_ok=True)
        files[key].write_text(json.dumps({"run_id": run_ids[key], "backend": backend, "preset": preset}))
    parent = client.create_run(ids[SWEEP_EXPERIMENT], run_name="sweep test", tags={
        "sweep": "parent", "sweep_overrides": "backend=numpy,torch optim.lr=0.03,3e-3"}).info.run_id
    children = []
    for i, (backend, lr) in enumerate((b, lr) for b in ("numpy", "torch") for lr in SWEEP_LRS):
        children.append(log_run(client, ids[SWEEP_EXPERIMENT], f"sweep {backend} lr{lr}", backend, "default",
                                {**TUTORIAL, "optim.lr": lr}, (0.96 + i / 100, 0.95 + i / 100, 0.94 + i / 100), 3.0 + i,
                                tags={"mlflow.parentRunId": parent, **({"error": "RuntimeError: boom"} if i == 3 else {})},
                                status="FAILED" if i == 3 else "FINISHED"))
    client.set_terminated(parent, "FINISHED")
    report = client.create_run(ids[SWEEP_EXPERIMENT], run_name="report", tags={"report": "true"}).info.run_id
    return Store(root, uri, run_ids, files, parent, tuple(children), report)


@pytest.fixture(scope="session")
def client(store: Store) -> MlflowClient:
    return MlflowClient(store.uri)


@pytest.fixture(scope="session")
def hidden(store, client):
    """Experiment ``sweep-hidden``: default runs over model.hidden_sizes with varying machine keys,
    one KILLED run with another lr, and one tutorial run (a second preset)."""
    exp = client.create_experiment("sweep-hidden")
    ids = []
    for i, (backend, sizes) in enumerate((b, h) for b in ("numpy", "torch") for h in ("[256]", "[64]")):
        machine = {"train.threads": str(i + 1), "train.device": "cpu", "train.eval_batch_size": str(256 * (i + 1))}
        ids.append(log_run(client, exp, f"{backend} {sizes}", backend, "default",
                           {**DEFAULT, "model.hidden_sizes": sizes, **machine}, (0.97, 0.96, 0.95), 4.0))
    ids.append(log_run(client, exp, "killed", "numpy", "default", {**DEFAULT, "optim.lr": "0.5"}, (0.5, 0.5, 0.5),
                       1.0, tags={"killed_reason": "SIGTERM"}, status="KILLED"))
    ids.append(log_run(client, exp, "tutorial", "numpy", "tutorial", TUTORIAL, (0.9, 0.9, 0.9), 1.0))
    return ids


@pytest.fixture
def drawn(monkeypatch) -> dict:
    """File name -> the matplotlib figure written to it, of every report figure saved while the test runs."""
    seen, save = {}, figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, path: (seen.__setitem__(path.name, fig), save(fig, path))[1])
    return seen
