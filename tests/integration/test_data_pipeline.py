"""The data stages run by DVC, end to end, on the real MNIST copy (offline mirror, no network).

A copy of the project's pipeline files is made in ``tmp_path`` (never writing into the
repository), made a git + DVC repository, and reproduced with ``dvc repro split``. The copy's own
``src/`` is put first on PYTHONPATH so the stages run the code DVC hashes as their dependencies.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from support import data_dir, make_pipeline_repo, run_checked

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def dvc_repro_split(repo: Path, env: dict[str, str]) -> str:
    return run_checked([sys.executable, "-m", "dvc", "repro", "split"], repo, env, timeout=300)


@pytest.fixture
def repo(tmp_path, real_mnist_dir) -> tuple[Path, dict[str, str]]:
    """A git + DVC repository holding what `dvc repro` needs, and the environment to run it in."""
    return make_pipeline_repo(tmp_path, MLPBENCH_DATA_MIRROR=str(real_mnist_dir))


def test_repro_split_then_nothing_then_only_split(repo) -> None:
    repo, env = repo
    first = dvc_repro_split(repo, env)
    for stage in ("download", "normalise", "split"):
        assert f"Running stage '{stage}'" in first, first

    processed, split_dir = data_dir(repo, "processed"), data_dir(repo, "split")
    shapes = {name: np.load(processed / f"{name}.npy", mmap_mode="r").shape
              for name in ("train_images", "train_labels", "test_images", "test_labels")}
    assert shapes == {"train_images": (60000, 784), "train_labels": (60000,),
                      "test_images": (10000, 784), "test_labels": (10000,)}
    summary = json.loads((split_dir / "split.json").read_text())
    assert summary["sizes"] == {"train": 48000, "val": 12000}
    val_before = np.load(split_dir / "val_idx.npy")
    assert len(val_before) == 12000

    second = dvc_repro_split(repo, env)
    assert "Running stage" not in second, second
    assert "up to date" in second, second

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["split"]["seed"] += 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = dvc_repro_split(repo, env)
    assert "Running stage 'split'" in third, third
    assert "Running stage 'download'" not in third, third
    assert "Running stage 'normalise'" not in third, third
    assert json.loads((split_dir / "split.json").read_text())["seed"] == params["data"]["split"]["seed"]
    val_after = np.load(split_dir / "val_idx.npy")
    assert len(val_after) == 12000 and not np.array_equal(val_after, val_before)
