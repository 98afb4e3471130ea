"""Arrays bound to their data set: the identity the data stages write, and the check before every run.

A small IDX data set that is not MNIST (8x8 images, its own file names) is made in the test and taken
through the real download (from a local mirror), normalise and split; every mismatch between a config
and those files is refused in one line that names the command that fixes it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlpbench.config.data import load_data
from mlpbench.data import load_dataset
from mlpbench.data.download import fetch_all
from mlpbench.data.identity import DataMismatchError, build_command, check_identity
from mlpbench.data.normalise import normalise
from mlpbench.data.split import split

from support import write_idx_data_set


def config(data: dict, root: Path, **changes) -> object:
    """A validated DataConfig for the data set ``data`` (a conf/data YAML) with its files under ``root``."""
    values = {**data, "paths": {role: str(root / role) for role in ("raw", "processed", "split")},
              "split": {"val_fraction": 0.2, "seed": 42}, **changes}
    return load_data({"data": values})


@pytest.fixture
def built(tmp_path) -> tuple[dict, Path]:
    """The tiny data set downloaded from its mirror, normalised and split under tmp_path/data."""
    data = write_idx_data_set(tmp_path / "mirror", "digits8")
    cfg = config(data, tmp_path / "data")
    fetch_all(Path(cfg.paths.raw), [str(tmp_path / "mirror")], list(vars(cfg.files).values()), progress=False)
    normalise(Path(cfg.paths.raw), Path(cfg.paths.processed), cfg)
    split(Path(cfg.paths.processed) / "train_labels.npy", Path(cfg.paths.split), 0.2, 42, cfg.num_classes, cfg.name)
    return data, tmp_path / "data"


def test_the_data_stages_bind_the_arrays_to_their_data_set(built, tmp_path):
    data, root = built
    cfg = config(data, root)
    check_identity(Path(cfg.paths.processed), Path(cfg.paths.split), cfg, tmp_path)
    made = json.loads((root / "processed" / "manifest.json").read_text())["dataset"]
    assert made == {"name": "digits8", "image_shape": [8, 8], "num_classes": 10,
                    "files": {role: f["sha256"] for role, f in data["files"].items()}}
    assert json.loads((root / "split" / "split.json").read_text())["dataset"] == "digits8"
    loaded = load_dataset(root / "processed", root / "split", cfg.num_classes)
    assert loaded.x_train.shape == (320, 64) and loaded.x_test.shape == (80, 64)


@pytest.mark.parametrize("changes,message", [
    ({"name": "mnist"}, r"processed holds the arrays of data set 'digits8', but data.name='mnist'; give 'mnist' "
                        r"its own data.paths .* and build them with `dvc exp run -S data=mnist split`"),
    ({"image_shape": [4, 16]}, r"data.image_shape=\[4, 16\] but the arrays in .*processed were made with "
                               r"image_shape=\[8, 8\] .*; fix image_shape in conf/data/digits8.yaml, or remake"),
    ({"num_classes": 12}, r"data.num_classes=12 but the arrays in .* were made with num_classes=10"),
])
def test_a_config_that_is_not_the_arrays_data_set_is_refused(built, tmp_path, changes, message):
    data, root = built
    cfg = config(data, root, **changes)
    with pytest.raises(DataMismatchError, match=message):
        check_identity(Path(cfg.paths.processed), Path(cfg.paths.split), cfg, tmp_path)


def test_arrays_made_from_other_files_are_refused(built, tmp_path):
    data, root = built
    files = {**data["files"], "test_labels": {**data["files"]["test_labels"], "sha256": "0" * 64}}
    cfg = config(data, root, files=files)
    with pytest.raises(DataMismatchError, match=r"made from another test_labels file \(sha256 [0-9a-f]{12}\.\.\.\) "
                                                r"than conf/data/digits8.yaml names \(000000000000\.\.\.\); remake"):
        check_identity(Path(cfg.paths.processed), Path(cfg.paths.split), cfg, tmp_path)


def test_arrays_that_do_not_say_what_they_are_or_are_missing_are_refused(built, tmp_path):
    data, root = built
    cfg = config(data, root)
    processed, split_dir = Path(cfg.paths.processed), Path(cfg.paths.split)
    manifest = json.loads((processed / "manifest.json").read_text())
    (processed / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "dataset"}))
    with pytest.raises(DataMismatchError, match=r"does not say which data set .* made by an older mlpbench"):
        check_identity(processed, split_dir, cfg, tmp_path)
    (processed / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"data set 'digits8' has no normalised arrays in .*; build its "
                                                r"files with `dvc exp run -S data=digits8 split`"):
        check_identity(processed, split_dir, cfg, tmp_path)


def test_a_split_of_another_data_set_or_other_labels_is_refused(built, tmp_path):
    data, root = built
    cfg = config(data, root)
    processed, split_dir = Path(cfg.paths.processed), Path(cfg.paths.split)
    made = json.loads((split_dir / "split.json").read_text())
    (split_dir / "split.json").write_text(json.dumps({**made, "dataset": "mnist"}))
    with pytest.raises(DataMismatchError, match=r"split.json is the split of data set 'mnist', not of 'digits8'"):
        check_identity(processed, split_dir, cfg, tmp_path)
    (split_dir / "split.json").write_text(json.dumps({**made, "sha256": {**made["sha256"], "labels": "f" * 64}}))
    with pytest.raises(DataMismatchError, match=r"was made from other training labels than those in"):
        check_identity(processed, split_dir, cfg, tmp_path)
    shutil.rmtree(split_dir)
    with pytest.raises(FileNotFoundError, match=r"has no train/validation split .*; make it with `dvc exp run"):
        check_identity(processed, split_dir, cfg, tmp_path)


def test_an_array_whose_header_disagrees_with_the_manifest_is_refused(built, tmp_path):
    import numpy as np

    data, root = built
    cfg = config(data, root)
    np.save(root / "processed" / "test_images.npy", np.zeros((80, 784), dtype=np.float32))
    with pytest.raises(DataMismatchError, match=r"test_images.npy holds an array of shape \(80, 784\), but .* records "
                                                r"\(80, 64\) and data.image_shape=\[8, 8\] means 64 features"):
        check_identity(Path(cfg.paths.processed), Path(cfg.paths.split), cfg, tmp_path)


def test_the_build_command_follows_the_data_set_params_yaml_selects(tmp_path):
    assert build_command("digits8", tmp_path) == "dvc exp run -S data=digits8 split"  # no params.yaml
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"name": "digits8"}}))
    assert build_command("digits8", tmp_path, "normalise") == "dvc repro normalise"
    assert build_command("mnist", tmp_path) == "dvc exp run -S data=mnist split"
