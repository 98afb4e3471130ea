"""The data stages of a second data set, run by DVC in a copy of the project: a small IDX data set that is not
MNIST (8x8 images, its own file names) is added as one YAML file and downloaded from a local mirror.

A rejected data config loses no built file, and a wrong ``size`` in the YAML is checked (and named), not
restored from DVC's run cache, which leaves every key named ``size`` out of its key.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from support import commit_all, data_dir, make_pipeline_repo, run_checked, write_idx_data_set

pytestmark = pytest.mark.slow


def dvc(repo: Path, env: dict[str, str], *args: str, check: bool = True):
    import subprocess

    if check:
        return run_checked([sys.executable, "-m", "dvc", *args], repo, env, timeout=300)
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    """A pipeline copy whose params.yaml selects the new data set, built with `dvc repro split`."""
    repo, env = make_pipeline_repo(tmp_path, MLPBENCH_DATA_MIRROR=str(tmp_path / "mirror"))
    data = write_idx_data_set(tmp_path / "mirror", "digits8")
    (repo / "conf" / "data" / "digits8.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    run_checked([sys.executable, "-m", "mlpbench.compose", "data=digits8", "--root", str(repo)], repo, env)
    out = dvc(repo, env, "repro", "split")
    for stage in ("download", "normalise", "split"):
        assert f"Running stage '{stage}'" in out, out
    commit_all(repo, env, "digits8 built")
    return repo, env


def edit_params(repo: Path, change) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    change(params["data"])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_the_new_data_set_lives_apart_and_a_rejected_config_loses_nothing(repo):
    repo, env = repo
    folder = repo / "data" / "digits8"
    assert data_dir(repo, "raw") == folder / "raw" and not (repo / "data" / "mnist").exists()
    assert sorted(p.name for p in (folder / "raw").iterdir()) == sorted(
        ["train-images.idx3.gz", "train-labels.idx1.gz", "test-images.idx3.gz", "test-labels.idx1.gz"])
    built = files_under(folder)

    for change, refusal in ((lambda d: d.update(num_classes=1), "data.num_classes=1 is invalid"),
                            (lambda d: d["split"].update(val_fraction=1.5), "data.split.val_fraction=1.5 is invalid")):
        edit_params(repo, change)
        done = dvc(repo, env, "repro", "split", check=False)
        assert done.returncode != 0 and refusal in done.stderr, done.stderr
        assert files_under(folder) == built  # DVC deleted nothing before the script refused
        run_checked(["git", "checkout", "params.yaml"], repo, env)
    assert "up to date" in dvc(repo, env, "repro", "split")


def test_a_wrong_size_is_checked_and_named_not_restored_from_the_run_cache(repo):
    repo, env = repo
    raw = files_under(data_dir(repo, "raw"))
    size = yaml.safe_load((repo / "params.yaml").read_text())["data"]["files"]["train_labels"]["size"]
    edit_params(repo, lambda d: d["files"]["train_labels"].update(size=size + 1))
    done = dvc(repo, env, "repro", "split", check=False)
    assert done.returncode != 0, done.stdout
    assert "restored" not in done.stdout.lower() and "Running stage 'download'" in done.stdout, done.stdout
    assert (f"train-labels.idx1.gz from {data_dir(repo, 'raw') / 'train-labels.idx1.gz'} has the sha256 the data "
            f"set's config gives it but {size} bytes, not the {size + 1} its `size` says: the size in "
            f"conf/data/<name>.yaml is wrong; set it to {size}") in done.stderr, done.stderr
    assert files_under(data_dir(repo, "raw")) == raw
