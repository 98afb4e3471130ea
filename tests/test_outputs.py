"""A run's outputs (model folder, history, run file, metrics) appear together or not at all."""
from __future__ import annotations

import json
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


def test_discard_and_a_killed_run_leave_no_output(tmp_path):
    _stage(tmp_path).discard()
    assert _visible(tmp_path) == set()
    _stage(tmp_path)  # as if the process died before commit: only hidden staging files
    assert all(Path(p).name.startswith(".") or "/." in p for p in _visible(tmp_path))
    Staged(*_finals(tmp_path))  # the next run removes them
    assert _visible(tmp_path) == set()
