"""Sweeps through hydra/launcher=slurm on a one-node SLURM cluster, logging to the team server.

Real processes end to end: pipelines/train.py submits a SLURM job array (hydra-submitit-launcher),
each job trains on tiny data and logs to the MLflow server on PostgreSQL; statuses, metric
histories and the sweep report are read back from the server. The time-limit sweep runs beside the
other tests (it mostly waits for SLURM's clock; the cluster oversubscribes its CPUs, so no job queues).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlpbench.processes import live_pid
from mlpbench.slurm import read_job_ids
from mlpbench.tracking.tags import PROCESS_TAG, REASON_TAG

from support import PROJECT_ROOT, TEST_DATA, write_learnable_data

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]  # one worker starts the services
TRAIN = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py")]
EPOCHS = 3


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_learnable_data(tmp_path)


def _env(slurm: dict[str, str], server: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    return {**env, **slurm, "MLFLOW_TRACKING_URI": server, "PYTHONUNBUFFERED": "1", "CI": "1"}


def _sweep(root: Path, *overrides: str) -> list[str]:
    data = root / "data"
    return TRAIN + ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                    "tracking=server", "experiment=debug", "model.hidden_sizes=[16]", "train.batch_size=32",
                    TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
                    f"hydra.sweep.dir={root / 'multirun'}", *overrides]


def _family(server: str, sweep_dir: Path):
    """The sweep's parent run (found by its folder) and its children."""
    client = MlflowClient(server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (parent,) = [r for r in client.search_runs(experiments, "tags.sweep = 'parent'")
                 if r.data.tags["sweep_dir"] == str(sweep_dir)]
    children = client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return client, parent, children


@pytest.fixture(scope="module")
def time_limited_sweep(slurm, team_server, tmp_path_factory):
    """A sweep of two jobs under a 2-minute limit, one too long for it, started as the first test of the
    module that needs it begins: ``(root, process, log)``. SLURM sends SIGUSR2 ``signal_delay_s`` before
    the limit or up to 60 s earlier (a 1-minute limit warned its job 30 s in, too close to how long a
    job takes to start on a loaded machine), so here not before 55 s, long after training began."""
    root = write_learnable_data(tmp_path_factory.mktemp("time-limit"))
    log = root / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen(_sweep(root, "backend=numpy", "train.epochs=2,100000", "hydra.launcher.timeout_min=2",
                                       "hydra.launcher.signal_delay_s=5"),
                                cwd=root, env=_env(slurm, team_server), stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        yield root, proc, log
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.usefixtures("time_limited_sweep")
def test_a_slurm_sweep_of_four_jobs_logs_one_parent_four_children_and_reports(slurm, team_server, root):
    done = subprocess.run(_sweep(root, "backend=numpy,torch", "optim.lr=0.05,0.1", f"train.epochs={EPOCHS}"),
                          cwd=root, env=_env(slurm, team_server), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sacct" not in done.stderr  # the launcher never asks for accounting
    client, parent, children = _family(team_server, root / "multirun")
    assert parent.info.status == "FINISHED"
    assert sorted(c.info.status for c in children) == ["FINISHED"] * 4
    assert len({c.data.tags["slurm_job_id"] for c in children}) == 4
    assert {(c.data.params["backend"], c.data.params["optim.lr"]) for c in children} == \
        {(b, lr) for b in ("numpy", "torch") for lr in ("0.05", "0.1")}
    for child in children:
        assert child.data.tags["backend_threads"] == "1"  # cpus_per_task
        for key in ("train/loss", "val/acc", "lr", "time/epoch_s"):
            history = client.get_metric_history(child.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), (key, history)

    report = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "report.py"), "--sweep",
                             parent.info.run_id, "--out", str(root / "reports"), "--params", str(root / "none.yaml")],
                            cwd=root, env=_env(slurm, team_server), capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    (markdown,) = (root / "reports").glob(f"sweep_{parent.info.run_id[:8]}_*.md")
    text = markdown.read_text()
    assert all(c.info.run_id in text for c in children), text


def _wait_running(client: MlflowClient, parent_dir: Path, proc: subprocess.Popen, timeout: float = 240,
                  epochs: str = "100000"):
    """The child run of ``train.epochs=<epochs>`` once it has logged an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended early:\n{proc.stdout.read()}")
        try:
            _, _, children = _family(client.tracking_uri, parent_dir)
        except ValueError:  # no parent yet
            children = []
        long = [c for c in children if c.info.status == "RUNNING" and c.data.params.get("train.epochs") == epochs]
        if long and client.get_metric_history(long[0].info.run_id, "train/loss"):
            return long[0]
        time.sleep(1)
    pytest.fail(f"the long job did not start training within {timeout} s")


def test_scancel_of_one_job_ends_its_run_killed_and_the_parent_names_it(slurm, team_server, root):
    proc = subprocess.Popen(_sweep(root, "backend=numpy", "train.epochs=2,100000"), cwd=root,
                            env=_env(slurm, team_server), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        long = _wait_running(MlflowClient(team_server), root / "multirun", proc)
        subprocess.run(["scancel", long.data.tags["slurm_job_id"]], env=_env(slurm, team_server), check=True)
        output = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert "1 of 2 SLURM jobs did not finish" in output and "its MLflow run ended KILLED" in output, output
    _, parent, children = _family(team_server, root / "multirun")
    statuses = {c.data.params["train.epochs"]: c for c in children}
    assert statuses["2"].info.status == "FINISHED", (statuses["2"].data.tags, output)  # not abandoned
    killed = statuses["100000"]
    assert killed.info.status == "KILLED" and "SIGTERM" in killed.data.tags["error"]
    assert parent.info.status == "KILLED"
    reason = parent.data.tags["sweep_end_reason"]
    assert f"1 job(s) KILLED: {killed.info.run_name} (SLURM job {killed.data.tags['slurm_job_id']})" in reason


def test_a_job_that_outruns_its_time_limit_ends_killed_and_the_parent_names_it(time_limited_sweep, team_server):
    root, proc, log = time_limited_sweep
    try:
        proc.wait(timeout=300)
    finally:
        output = log.read_text()
    assert proc.returncode != 0, output
    assert "1 of 2 SLURM jobs did not finish" in output and "its MLflow run ended KILLED" in output, output
    _, parent, children = _family(team_server, root / "multirun")
    runs = {c.data.params["train.epochs"]: c for c in children}
    assert runs["2"].info.status == "FINISHED", (runs["2"].data.tags, output)
    killed = runs["100000"]
    assert killed.info.status == "KILLED", killed.data.tags
    assert "SIGUSR2 (the scheduler's warning before its time limit" in killed.data.tags["error"]
    assert killed.info.end_time - killed.info.start_time < 120_000  # ended before the limit, warned
    assert parent.info.status == "KILLED"
    reason = parent.data.tags["sweep_end_reason"]
    assert f"1 job(s) KILLED: {killed.info.run_name} (SLURM job {killed.data.tags['slurm_job_id']})" in reason


def test_the_doctor_ends_the_run_of_a_job_slurm_no_longer_runs_and_leaves_a_live_one(slurm, team_server, root):
    env = _env(slurm, team_server)
    proc = subprocess.Popen(_sweep(root, "backend=numpy", "train.epochs=100000,100001"), cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = MlflowClient(team_server)
    try:
        lost = _wait_running(client, root / "multirun", proc)
        live = _wait_running(client, root / "multirun", proc, epochs="100001")
        proc.kill()  # the submitting host is gone too: no exit hook cancels the jobs or ends their runs
        proc.wait(timeout=30)
        job = lost.data.tags["slurm_job_id"]
        os.kill(live_pid(lost.data.tags[PROCESS_TAG]), signal.SIGKILL)  # the job's python, as a dying node would
        _wait_gone(job, env)
        assert client.get_run(lost.info.run_id).info.status == "RUNNING"  # nothing could end it
        for run in (lost, live):  # as if they ran on another node: this host cannot see their processes
            client.set_tag(run.info.run_id, PROCESS_TAG, "node-b:" + run.data.tags[PROCESS_TAG].split(":", 1)[1])
        doctor = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor"], cwd=root, env=env,
                                capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert f"{lost.info.run_id} ({lost.info.run_name}): ended KILLED [{job} on node" in doctor.stdout, doctor.stdout
        assert live.info.run_id not in doctor.stdout
        assert client.get_run(lost.info.run_id).info.status == "KILLED"
        assert client.get_run(lost.info.run_id).data.tags[REASON_TAG].startswith(f"its SLURM job ({job} on node")
        assert client.get_run(live.info.run_id).info.status == "RUNNING"  # its job still runs
    finally:
        subprocess.run(["scancel", *read_job_ids(root / "multirun")], env=env, check=False)
        if proc.poll() is None:
            proc.kill()


def _wait_gone(job: str, env: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True).stdout
        if not listed.strip():
            return
        time.sleep(1)
    pytest.fail(f"SLURM job {job} was still listed {timeout} s after its process was killed")
