"""A run's outputs (model folder, history, run file, metrics) appear together or not at all."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlpbench.run.outputs import MANIFEST, Staged, foreign_entries


def _stage(root: Path) -> Staged:
    staged = Staged(*_finals(root))
    staged.model_dir.mkdir(parents=True)
    (staged.model_dir / "weights.npz").write_bytes(b"new")
    staged.write_history("epoch\n1\n")
    staged.write_run({"run_id": "r"})
    staged.write_metrics({"numpy": {"val_acc": 0.9}})
    return staged


def _finals(root: Path) -> tuple[Path, ...]:
    m = root / "metrics"
    return root / "models" / "numpy", m / "numpy_history.csv", m / "numpy_run.json", m / "numpy.json"


def _visible(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_nothing_is_visible_before_commit_and_everything_after(tmp_path):
    staged = _stage(tmp_path)
    assert not (tmp_path / "metrics" / "numpy.json").exists() and not (tmp_path / "models" / "numpy").exists()
    staged.commit()
    assert _visible(tmp_path) == {"models/numpy/weights.npz", "metrics/numpy_history.csv", "metrics/numpy_run.json",
                                  "metrics/numpy.json"}


def test_commit_replaces_an_earlier_run_s_model_folder_whole(tmp_path):
    old = tmp_path / "models" / "numpy"
    (old / "sub").mkdir(parents=True)
    (old / "sub" / "stale.pt").write_bytes(b"old")
    (old / MANIFEST).write_text(json.dumps({"run_id": "earlier", "files": ["sub/stale.pt"]}))
    assert foreign_entries(old) == []
    staged = _stage(tmp_path)
    staged.write_manifest({"run_id": "r"})
    staged.commit()
    assert sorted(p.name for p in old.iterdir()) == [MANIFEST, "weights.npz"]
    assert (old / "weights.npz").read_bytes() == b"new"
    assert json.loads((old / MANIFEST).read_text()) == {"run_id": "r", "files": ["weights.npz"]}


def test_a_model_folder_with_files_no_run_wrote_is_never_replaced(tmp_path):
    folder = tmp_path / "models" / "numpy"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / MANIFEST).write_text(json.dumps({"run_id": "earlier", "files": ["weights.npz"]}))
    assert foreign_entries(folder) == ["notes.txt", "sub"]
    staged = _stage(tmp_path)
    with pytest.raises(FileExistsError, match="holds files no run wrote"):
        staged.commit()
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "sub").is_dir()
    assert not (tmp_path / "metrics" / "numpy.json").exists()


def test_discard_leaves_no_output(tmp_path):
    _stage(tmp_path).discard()
    assert _visible(tmp_path) == set()


# A run that stages its outputs, then dies before moving them (SIGKILL: no clean-up of its own).
_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_outputs import _stage
_stage(Path(sys.argv[1]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_only_what_a_dead_process_staged_is_cleaned_up(tmp_path):
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(tmp_path), str(Path(__file__).parent)])
    assert killed.returncode == -signal.SIGKILL
    dead = _visible(tmp_path)
    assert len(dead) == 4 and all(Path(p).name.startswith(".") or "/." in p for p in dead)
    live = _stage(tmp_path)  # this process is alive: a run writing beside the next one
    ours = _visible(tmp_path) - dead
    Staged(*_finals(tmp_path))  # the next run removes the dead process's files, not the live one's
    assert _visible(tmp_path) == ours
    live.commit()
    assert _visible(tmp_path) == {"models/numpy/weights.npz", "metrics/numpy_history.csv", "metrics/numpy_run.json",
                                  "metrics/numpy.json"}
