"""The doctor's SLURM check against a fake ``squeue``/``scontrol`` on PATH (the real cluster: tests/cluster)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlpbench import slurm
from mlpbench.tracking import doctor
from mlpbench.tracking.tags import PROCESS_TAG, REASON_TAG

# squeue as SLURM 22.05 answers `squeue -h -r -o %i -j IDS`: the listed ones among IDS; a single unknown
# id fails with "Invalid job id specified"; FAKE_SLURM_DOWN=1: the controller does not answer.
FAKE_SQUEUE = """#!/usr/bin/env bash
echo "$@" >> "$FAKE_SLURM_LOG"
if [ -n "${FAKE_SLURM_DOWN:-}" ]; then
  echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2; exit 1
fi
while [ $# -gt 0 ]; do [ "$1" = -j ] && ids="$2"; shift; done
IFS=, read -ra asked <<< "$ids"
listed=0
for id in "${asked[@]}"; do
  for live in $FAKE_SQUEUE_LIVE; do [ "$id" = "$live" ] && { echo "$id"; listed=1; }; done
done
if [ "${#asked[@]}" = 1 ] && [ "$listed" = 0 ]; then
  echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1
fi
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
printf 'Configuration data as of 2026-01-01T00:00:00\\nClusterName             = lab\\n'
"""
ELSEWHERE = "node7:0d1e2f:4242:123456"  # a process tag of another host


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("squeue", FAKE_SQUEUE), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(tmp_path / "squeue.log"))
    monkeypatch.setenv("FAKE_SQUEUE_LIVE", "")
    return tmp_path / "squeue.log"


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("doctor")
    return uri


def _run(uri: str, name: str, **tags: str) -> str:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("doctor").experiment_id
    return client.create_run(experiment, run_name=name, tags={PROCESS_TAG: ELSEWHERE, **tags}).info.run_id


def _experiment(uri: str) -> list[str]:
    return [MlflowClient(uri).get_experiment_by_name("doctor").experiment_id]


def _status(uri: str, run_id: str) -> str:
    return MlflowClient(uri).get_run(run_id).info.status


def _clear(uri: str) -> None:
    client = MlflowClient(uri)
    for run in doctor.running_runs(client, _experiment(uri)):
        client.set_terminated(run.info.run_id, "FINISHED")


def test_runs_of_jobs_slurm_no_longer_lists_end_killed_the_others_are_left_alone(uri, fake_slurm, monkeypatch):
    _clear(uri)
    monkeypatch.setenv("FAKE_SQUEUE_LIVE", "20_2 21")
    lost = _run(uri, "lost", slurm_job_id="20_1", slurm_node="node7", slurm_cluster="lab")
    pending = _run(uri, "pending", slurm_job_id="20_2", slurm_node="", slurm_cluster="lab")
    running = _run(uri, "running", slurm_job_id="21", slurm_node="node7")  # no cluster tag: this cluster's
    other = _run(uri, "other cluster", slurm_job_id="20_1", slurm_node="x1", slurm_cluster="gpu")
    no_job = _run(uri, "no job")

    listed = doctor.end_orphans(uri, _experiment(uri), dry_run=True, slurm_jobs=True)
    assert {o.name: o.state for o in listed} == {"lost": "job gone", "other cluster": "other cluster",
                                                 "no job": "elsewhere"}
    assert _status(uri, lost) == "RUNNING"  # a dry run changes nothing

    doctor.end_orphans(uri, _experiment(uri), slurm_jobs=True)
    assert [_status(uri, r) for r in (lost, pending, running, other, no_job)] == \
        ["KILLED", "RUNNING", "RUNNING", "RUNNING", "RUNNING"]
    reason = MlflowClient(uri).get_run(lost).data.tags[REASON_TAG]
    assert reason.startswith("its SLURM job (20_1 on node node7 of cluster lab) was no longer pending or running")
    assert fake_slurm.read_text().split()[-1] == "20_1,20_2,21"  # array ids asked as they are, in one call


def test_a_single_job_slurm_does_not_know_is_gone(uri, fake_slurm):
    _clear(uri)
    lost = _run(uri, "lost alone", slurm_job_id="33_0", slurm_cluster="lab")
    assert slurm.gone_jobs(["33_0"]) == {"33_0"}
    doctor.end_orphans(uri, _experiment(uri), slurm_jobs=True)
    assert _status(uri, lost) == "KILLED"


def test_a_controller_that_does_not_answer_changes_nothing(uri, fake_slurm, monkeypatch, tmp_path):
    _clear(uri)
    monkeypatch.setenv("FAKE_SLURM_DOWN", "1")
    run = _run(uri, "unknown", slurm_job_id="40", slurm_cluster="lab")
    with pytest.raises(slurm.SlurmUnavailable, match="Unable to contact slurm controller"):
        doctor.end_orphans(uri, _experiment(uri), slurm_jobs=True)
    done = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor", "--uri", uri],
                          capture_output=True, text=True, cwd=tmp_path)
    last = done.stderr.strip().splitlines()[-1]  # (after runpy's warning about `-m` of a module the package imports)
    assert done.returncode == 1 and last.startswith("error: nothing changed: squeue failed"), done.stderr
    assert _status(uri, run) == "RUNNING"

    without = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor", "--uri", uri, "--no-slurm"],
                             capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert f"{run} (unknown): left RUNNING: its process is on another host" in without
    assert _status(uri, run) == "RUNNING"


def test_without_squeue_on_path_the_doctor_checks_processes_only(uri, tmp_path):
    _clear(uri)
    run = _run(uri, "no client", slurm_job_id="50", slurm_cluster="lab")
    done = subprocess.run([sys.executable, "-m", "mlpbench.tracking.doctor", "--uri", uri], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PATH": str(tmp_path)})  # no squeue there
    assert done.returncode == 0, done.stderr
    assert "left RUNNING: its process is on another host" in done.stdout
    assert _status(uri, run) == "RUNNING"
