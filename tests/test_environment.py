"""Lineage tags: the git commit is "-dirty" only when source or config differ from it; library versions
are NumPy's and the run's backend's."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mlpbench.environment import environment_tags, git_state

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name, text in {"src/m.py": "x = 1\n", "conf/a.yaml": "a: 1\n", "metrics/numpy.json": "{}\n",
                       "dvc.lock": "v\n", "params.yaml": "p: 1\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run(GIT + ["init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(GIT + ["add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(GIT + ["commit", "-q", "-m", "c"], cwd=tmp_path, check=True)
    return tmp_path


def test_outputs_dvc_deletes_or_rewrites_do_not_make_it_dirty(repo):
    (repo / "metrics" / "numpy.json").unlink()  # DVC removes a stage's outputs before running it
    (repo / "dvc.lock").write_text("changed\n")
    state = git_state(repo)
    assert not state["git_commit"].endswith("-dirty") and "git_diff_sha256" not in state
    assert len(state["git_commit"]) == 40


@pytest.mark.parametrize("change", ["src/m.py", "conf/a.yaml", "params.yaml", "src/new.py"])
def test_a_source_or_config_change_is_dirty_with_a_hash_of_the_diff(repo, change):
    (repo / change).write_text("changed = True\n")
    first = git_state(repo)
    assert first["git_commit"].endswith("-dirty")
    assert git_state(repo)["git_diff_sha256"] == first["git_diff_sha256"]  # the same change, the same hash
    (repo / change).write_text("changed = False\n")
    assert git_state(repo)["git_diff_sha256"] != first["git_diff_sha256"]


def test_outside_git_is_unknown(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown"}


def test_a_numpy_run_records_numpy_alone_and_never_imports_torch(tmp_path):
    # in a fresh interpreter: this test process may have imported torch already
    code = ("import json, sys; from pathlib import Path; from mlpbench.environment import environment_tags; "
            f"tags = environment_tags(Path({str(tmp_path)!r}), Path('p'), Path('s'), 'numpy'); "
            "print(json.dumps([sorted(k for k in tags if k.endswith('_version')), 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [["numpy_version", "python_version"], False]


def test_each_backend_adds_the_version_of_its_own_library(tmp_path):
    tags = environment_tags(tmp_path, tmp_path / "p", tmp_path / "s", "torch")
    assert tags["torch_version"] == metadata.version("torch") and tags["numpy_version"] == metadata.version("numpy")
