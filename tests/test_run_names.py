"""Run names tell runs apart: the optimizer as configured, a sweep's parent by what it sweeps, each
child by its swept values."""
from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from mlpbench.config.load import load
from mlpbench.run.summary import run_name
from mlpbench.sweep import NAME_MAX, SWEPT_FILE, job_swept, sweep_name

from support import PROJECT_ROOT, TEST_DATA, tiny_config


@pytest.mark.parametrize(("overrides", "label"), [
    ([], "nesterov"), (["optim=sgd"], "sgd"), (["optim=sgd", "optim.momentum=0.9"], "sgd-m0.9"),
    (["optim=adam"], "adam"), (["optim=adamw"], "adamw"), (["optim=rmsprop"], "rmsprop"),
])
def test_run_name_names_the_optimizer_as_configured(tmp_path, overrides, label):
    cfg = load(tiny_config(tmp_path, ["backend=numpy", *overrides]))
    assert run_name(cfg) == f"numpy h16 relu {label} lr{cfg.optim.lr:g} bs32 e2"


def test_run_name_shows_the_preset_and_the_swept_values(tmp_path):
    cfg = load(tiny_config(tmp_path, ["backend=torch"]))
    name = run_name(cfg, {"backend": "torch", "optim.lr": "0.05"})
    assert name == "[backend=torch optim.lr=0.05] torch h16 relu nesterov lr0.1 bs32 e2"


def test_sweep_name_shows_the_swept_overrides_else_the_fixed_ones():
    assert sweep_name(["backend=numpy,torch", "train.epochs=1", "optim.lr=0.05,0.1"]) == \
        "sweep backend=numpy,torch optim.lr=0.05,0.1"
    assert sweep_name(["experiment=debug"]) == "sweep experiment=debug"
    assert sweep_name([]) == "sweep (no overrides)"
    long = sweep_name([f"model.hidden_sizes={','.join(f'[{n}]' for n in range(100, 140))}"])
    assert len(long) == NAME_MAX and long.endswith("…")


def test_job_swept_reads_the_keys_left_in_the_sweep_folder(tmp_path):
    (tmp_path / SWEPT_FILE).write_text("backend\noptim.lr\n")
    hc = OmegaConf.create({"mode": {"name": "MULTIRUN"}, "sweep": {"dir": str(tmp_path)},
                           "overrides": {"task": ["train.epochs=1", "optim.lr=0.05", "backend=numpy"]}})
    assert job_swept(hc) == {"backend": "numpy", "optim.lr": "0.05"}
    hc.mode.name = "RUN"
    assert job_swept(hc) == {}


@pytest.mark.slow
def test_sweep_parent_and_children_are_named_by_what_they_sweep(tiny_root):
    data, uri = tiny_root / "data", f"sqlite:///{tiny_root / 'mlflow.db'}"
    cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m",
           f"hydra.sweep.dir={tiny_root / 'multirun'}", "optim.lr=0.05,0.1",
           TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
           f"tracking.uri={uri}", "backend=numpy", "model.hidden_sizes=[16]", "train.batch_size=32",
           "train.epochs=1", "train.seeds=2"]
    done = subprocess.run(cmd, cwd=tiny_root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = MlflowClient(uri).search_runs(["1"])
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    assert [r.info.run_name for r in parents] == ["sweep optim.lr=0.05,0.1"]
    jobs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    seeds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in {j.info.run_id for j in jobs}]
    # each job a seed group: its parent names the seeds' count, each seed's run its seed
    assert sorted(r.info.run_name for r in jobs) == ["[optim.lr=0.05] numpy h16 relu nesterov lr0.05 bs32 e1 (2 seeds)",
                                                     "[optim.lr=0.1] numpy h16 relu nesterov lr0.1 bs32 e1 (2 seeds)"]
    assert sorted(r.info.run_name for r in seeds) == sorted(
        f"seed={s} [optim.lr={lr}] numpy h16 relu nesterov lr{lr} bs32 e1" for lr in ("0.05", "0.1") for s in (0, 1))
    # what tells them apart comes first: MLflow's runs table shows about 20 characters of a name
    assert len({r.info.run_name[:16] for r in jobs}) == 2 and len({r.info.run_name[:22] for r in seeds}) == 4
