"""tracking=server, SLURM job tags, CPUs per job and the scheduler's signals: fast checks, no services."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mlpbench import slurm
from mlpbench.config import ConfigError
from mlpbench.run.machine import with_threads
from mlpbench.signals import Terminated, sigterm_raises
from mlpbench.sweep import check_warning_time
from mlpbench.tracking import resolve_tracking_uri

from support import PROJECT_ROOT, TEST_DATA, tiny_config


def test_tracking_server_takes_the_uri_from_the_environment_first(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000/")
    assert resolve_tracking_uri(PROJECT_ROOT, "http://other:5000", server=True) == "http://mlflow.lab:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_tracking_uri(PROJECT_ROOT, "https://other:5000", server=True) == "https://other:5000"


@pytest.mark.parametrize("env, configured, message", [
    (None, None, "tracking=server needs the server's address: set MLFLOW_TRACKING_URI="),
    ("sqlite:////tmp/x.db", None, "tracking=server needs an http(s) server address, got 'sqlite:////tmp/x.db'"),
])
def test_tracking_server_without_a_server_address_is_one_clear_error(monkeypatch, env, configured, message):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as err:
        resolve_tracking_uri(PROJECT_ROOT, configured, server=True)
    assert "\n" not in str(err.value)


def test_a_run_with_tracking_server_and_no_uri_stops_with_one_line(tiny_root):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    data = tiny_root / "data"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "tracking=server",
                           "experiment=debug", TEST_DATA, f"data.paths.processed={data / 'processed'}",
                           f"data.paths.split={data / 'split'}", f"hydra.run.dir={tiny_root / 'h'}"],
                          cwd=tiny_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "train failed: tracking=server needs the server's address: set MLFLOW_TRACKING_URI="), done.stderr
    assert not (tiny_root / "mlflow.db").exists()


def test_tracking_server_with_a_file_uri_in_the_config_is_refused(tiny_root):
    from mlpbench.config.load import load

    with pytest.raises(ConfigError, match=r"tracking=server but tracking.uri='sqlite:.*' is not an http\(s\) URL"):
        load(tiny_config(tiny_root, ["tracking=server", "tracking.uri=sqlite:///x.db"]))


def test_slurm_job_tags_name_the_array_task_node_and_cluster():
    env = {"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "2", "SLURMD_NODENAME": "n3",
           "SLURM_CLUSTER_NAME": "lab"}
    assert slurm.job_tags(env) == {"slurm_job_id": "10_2", "slurm_node": "n3", "slurm_cluster": "lab"}
    assert slurm.job_tags({"SLURM_JOB_ID": "12"}) == {"slurm_job_id": "12", "slurm_node": "", "slurm_cluster": ""}
    assert slurm.job_tags({}) == {}


def test_each_job_gets_the_cpus_its_launcher_gave_it(tiny_root, monkeypatch):
    from mlpbench.config.load import load

    cfg = load(tiny_config(tiny_root, ["train.threads=0"]))
    assert with_threads(cfg, n_jobs=1, cpus=3).train.threads == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert slurm.available_cpus() == 4
    assert with_threads(cfg, n_jobs=2).train.threads == 2
    pinned = load(tiny_config(tiny_root, ["train.threads=1"]))
    assert with_threads(pinned, n_jobs=1, cpus=8).train.threads == 1


@pytest.mark.parametrize("sig, why", [(signal.SIGTERM, ""), (signal.SIGUSR2, "time limit")])
def test_the_schedulers_signals_unwind_a_run(sig, why):
    with pytest.raises(Terminated, match=f"received signal {sig.name}.*{why}"):
        with sigterm_raises():
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) is not None


@pytest.mark.parametrize("delay, minutes, refused", [(60, 1, True), (90, 1, True), (50, 1, False), (60, 2, False)])
def test_a_warning_not_below_the_time_limit_is_refused(delay, minutes, refused):
    launcher = {"signal_delay_s": delay, "timeout_min": minutes}
    if not refused:
        check_warning_time(launcher)
        return
    with pytest.raises(ConfigError, match=f"^hydra.launcher.signal_delay_s={delay} is not below the time limit "
                                          f"hydra.launcher.timeout_min={minutes} "):
        check_warning_time(launcher)
    check_warning_time({"n_jobs": 2})  # the joblib launcher has no time limit


def test_a_slurm_sweep_whose_warning_would_come_at_the_start_stops_with_one_line(tiny_root):
    data = tiny_root / "data"
    cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "-m", "hydra/launcher=slurm",
           "hydra.launcher.timeout_min=1", f"hydra.sweep.dir={tiny_root / 'multirun'}", "optim.lr=0.1,0.2",
           TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
           f"tracking.uri=sqlite:///{tiny_root / 'mlflow.db'}"]
    done = subprocess.run(cmd, cwd=tiny_root, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "sweep not started: hydra.launcher.signal_delay_s=60 is not below the time limit" in done.stderr
    assert not (tiny_root / "mlflow.db").exists() and not (tiny_root / "multirun" / slurm.JOBS_FILE).exists()
