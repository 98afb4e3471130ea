"""The committed state reproduces: a `git clone` of this repository's HEAD, as a new user makes it.

`dvc repro` in the clone, against the real MNIST copy as offline mirror and without `-f`, must exit 0
and leave `dvc status` clean, whatever stages DVC finds current (today `torch_options` and `scaling`:
their outputs are in git; their runs are not in the clone's fresh mlflow.db). Then the team round trip:
the first clone commits and pushes to a DVC remote (a local folder), a second clone pulls, and its
`dvc repro` rebuilds nothing but the uncached normalised arrays; `make ui`'s restore and a rebuilt
report show the first clone's runs and numbers.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlpbench.report.runs import named_run_ids

from support import PROJECT_ROOT, commit_all, pipeline_env, run_checked

pytestmark = [pytest.mark.slow, pytest.mark.real_data]
UP_TO_DATE = "Data and pipelines are up to date."
COMPARED_TABLES = ("## Accuracy and loss", "## Time and memory")


def clone_env(clone: Path, mirror: Path, home: Path) -> dict[str, str]:
    """What a user's shell has in ``clone``: ``support.pipeline_env`` (its own code first on PYTHONPATH, no MLflow
    store override, one-thread pools: another test runs beside this one) with the mirror, and no DVC_ROOT."""
    env = pipeline_env(clone, home / "dvc-site-cache", MLPBENCH_DATA_MIRROR=str(mirror))
    env.pop("DVC_ROOT", None)
    return env


def dvc(repo: Path, env: dict[str, str], *args: str, timeout: float = 1800) -> str:  # the whole pipeline, loaded
    return run_checked([sys.executable, "-m", "dvc", *args], repo, env, timeout=timeout)


def tables(markdown: str) -> str:
    """The accuracy and time tables of a comparison report (run ids and links left out)."""
    sections = re.split(r"(?m)^(?=## )", markdown)
    return "\n".join(s for s in sections if s.startswith(COMPARED_TABLES))


def stores_runs(db: Path) -> set[str]:
    """The original ids of every run in the store at ``db`` (its own id, or the one it was imported from)."""
    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    return {r.data.tags.get("mlpbench.source_run_id", r.info.run_id) for r in runs}


def exported_ids(clone: Path) -> set[str]:
    return {p.stem for p in (clone / "runs").glob("*/*.json")}


def test_a_clone_reproduces_and_a_pulled_clone_shows_the_same_runs(tmp_path, real_mnist_dir):
    if subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip(f"{PROJECT_ROOT} is not a git repository with a commit to clone")
    first, second, remote = tmp_path / "first", tmp_path / "second", tmp_path / "remote"
    run_checked(["git", "clone", "-q", str(PROJECT_ROOT), str(first)], tmp_path, os.environ.copy())
    env = clone_env(first, real_mnist_dir, tmp_path)
    # the code a stage depends on hashes the same here as where dvc.lock was written (bytecode caches aside)
    status = dvc(first, env, "status")
    assert not re.findall(r"modified:\s+(?:src|pipelines|conf|hydra_plugins)\S*", status), status

    out = dvc(first, env, "repro")
    assert "ERROR" not in out
    assert UP_TO_DATE in dvc(first, env, "status")
    # the stages DVC skipped had their runs imported for the report (the scaling study's, which no report
    # reads, waits for `make ui`'s restore: below, in the second clone)
    assert named_run_ids(list((first / "metrics").glob("*_run.json"))) <= stores_runs(first / "mlflow.db")
    report = (first / "reports" / "comparison.md").read_text()
    assert str(tmp_path) not in report and str(PROJECT_ROOT) not in report  # no machine's path

    dvc(first, env, "remote", "add", "-d", "team", str(remote))
    commit_all(first, env, "a teammate's results")
    dvc(first, env, "push")
    run_checked(["git", "clone", "-q", str(first), str(second)], tmp_path, env)
    env2 = clone_env(second, real_mnist_dir, tmp_path)
    dvc(second, env2, "pull")
    out = dvc(second, env2, "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran <= {"normalise"}, f"dvc repro after dvc pull reran {sorted(ran)}\n{out}"
    assert UP_TO_DATE in dvc(second, env2, "status")

    # `make ui` first restores every export: the second clone's store holds the first one's runs
    restored = run_checked([sys.executable, "-m", "mlpbench.tracking.restore"], second, env2)
    assert f"{len(exported_ids(second))} of {len(exported_ids(second))} exported run(s) imported" in restored
    assert exported_ids(first) <= stores_runs(second / "mlflow.db")
    rebuilt = tmp_path / "rebuilt"
    run_checked([sys.executable, "pipelines/report.py", "--no-log", "--out", str(rebuilt)], second, env2)
    assert tables((rebuilt / "comparison.md").read_text()) == tables(report)
