"""load_dataset checks every file it reads: a truncated, empty, corrupt, mistyped, misshapen or
mismatched file is one ``DataFileError`` that names the file and the stage that remakes it.

The files are made by the real normalise and split stages from the fake MNIST, so ``split.json``
holds the sha256 of the index files and labels as it does for real.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data import DataFileError, check_split, load_dataset
from mlpbench.data.normalise import normalise
from mlpbench.data.split import split

from data_helpers import mnist

PROCESSED = ["processed/train_images.npy", "processed/train_labels.npy", "processed/test_images.npy",
             "processed/test_labels.npy"]
SPLIT = ["split/train_idx.npy", "split/val_idx.npy"]


@pytest.fixture
def root(tiny_raw_dir, tmp_path) -> Path:
    data = mnist()
    normalise(tiny_raw_dir, tmp_path / "processed", data)
    split(tmp_path / "processed" / "train_labels.npy", tmp_path / "split", data.split.val_fraction,
          data.split.seed, data.num_classes, data.name)
    return tmp_path


def load(root: Path):
    return load_dataset(root / "processed", root / "split", mnist().num_classes)


def stage_of(name: str) -> str:
    return "dvc repro normalise" if name.startswith("processed/") else "dvc repro split"


def expect_error(root: Path, name: str, *fragments: str, stage: str | None = None) -> str:
    """Loading fails with one DataFileError naming ``root/name`` and its stage; return the message."""
    with pytest.raises(DataFileError) as err:
        load(root)
    message = str(err.value)
    assert str(root / name) in message and (stage or stage_of(name)) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def resave(root: Path, name: str, array: np.ndarray) -> None:
    np.save(root / name, array)


def test_the_stages_output_loads(root) -> None:
    ds = load(root)
    assert len(ds.y_train) + len(ds.y_val) == 600 and len(ds.y_test) == 100
    assert set(json.loads((root / "split" / "split.json").read_text())["sha256"]) >= {"train_idx", "val_idx"}


@pytest.mark.parametrize("name", PROCESSED + SPLIT)
@pytest.mark.parametrize("damage", ["truncated", "empty", "corrupt header"])
def test_unreadable_file_is_named(root, name, damage) -> None:
    path = root / name
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) - 16])  # as after an interrupted copy
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(raw[:12] + b"\xff\x00garbage{{{" + raw[25:])
    expect_error(root, name, "not a readable .npy array")


@pytest.mark.parametrize("name, array, fragment", [
    ("processed/train_images.npy", lambda a: a.astype(np.float64), "float64"),
    ("processed/test_images.npy", lambda a: a.reshape(-1), "expected 2-D float32"),
    ("processed/train_labels.npy", lambda a: a.astype(np.int32), "int32"),
    ("processed/test_labels.npy", lambda a: a[:, None], "expected 1-D int64"),
    ("processed/train_labels.npy", lambda a: a[:-1], "holds 599 labels"),
    ("processed/test_images.npy", lambda a: a[:, :-1], "783 features"),
    ("split/val_idx.npy", lambda a: a.astype(np.float64), "integer row indices"),
    ("split/train_idx.npy", lambda a: a[:, None], "integer row indices"),
], ids=["images-float64", "images-1d", "labels-int32", "labels-2d", "labels-count", "test-width",
        "index-float", "index-2d"])
def test_wrong_dtype_or_shape_is_named(root, name, array, fragment) -> None:
    resave(root, name, array(np.load(root / name)))
    expect_error(root, name, fragment)


@pytest.mark.parametrize("name, value", [("processed/train_labels.npy", 10), ("processed/test_labels.npy", -1)])
def test_labels_out_of_range_are_named(root, name, value) -> None:
    labels = np.load(root / name)
    labels[3] = value
    resave(root, name, labels)
    expect_error(root, name, "outside 0..9", "data.num_classes=10")


def test_val_replaced_by_train_is_caught(root) -> None:
    shutil.copyfile(root / "split/train_idx.npy", root / "split/val_idx.npy")
    n_train = len(np.load(root / "split/train_idx.npy"))
    message = expect_error(root, "split/val_idx.npy", f"shares {n_train} rows", str(root / "split/train_idx.npy"))
    assert "must not be trained on" in message


@pytest.mark.parametrize("name", SPLIT)
@pytest.mark.parametrize("damage", ["duplicate", "unsorted", "out of range"])
def test_index_invariants(root, name, damage) -> None:
    idx = np.load(root / name)
    if damage == "duplicate":
        idx[1] = idx[0]
    elif damage == "unsorted":
        idx[[0, 1]] = idx[[1, 0]]
    else:
        idx[-1] = 600
    resave(root, name, idx)
    expect_error(root, name, "stale" if damage == "out of range" else "strictly increasing")


def test_valid_but_different_split_fails_its_hash(root) -> None:
    """Disjoint, sorted and in range, but not the split that split.json describes: one row swapped."""
    train, val = np.load(root / "split/train_idx.npy"), np.load(root / "split/val_idx.npy")
    train[0], val[0] = val[0], train[0]
    resave(root, "split/train_idx.npy", np.sort(train))
    resave(root, "split/val_idx.npy", np.sort(val))
    expect_error(root, "split/train_idx.npy", "sha256", str(root / "split/split.json"), "train_idx")


def test_relabelled_data_fails_the_labels_hash(root) -> None:
    labels = np.load(root / "processed/train_labels.npy")
    resave(root, "processed/train_labels.npy", np.roll(labels, 1))  # still 0..9: only the hash can tell
    # the labels may be right (normalise rerun on new raw data): it is the split that is stale
    expect_error(root, "processed/train_labels.npy", "sha256", "other labels", stage="dvc repro split")


def test_missing_hashes_are_not_checked(root) -> None:
    path = root / "split/split.json"
    made = json.loads(path.read_text())
    del made["sha256"]
    path.write_text(json.dumps(made))
    resave(root, "split/val_idx.npy", np.load(root / "split/val_idx.npy")[1:])  # no longer the stage's
    assert len(load(root).y_val) == 600 * mnist().split.val_fraction - 1


def test_corrupt_split_json_is_named_by_load_and_check_split(root) -> None:
    (root / "split/split.json").write_text('{"seed": 42, ')
    expect_error(root, "split/split.json", "not valid JSON")
    with pytest.raises(DataFileError, match="dvc repro split") as err:
        check_split(root / "split", mnist().split)
    assert str(root / "split/split.json") in str(err.value)
