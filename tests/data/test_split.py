"""The stratified, seeded train/validation split and the files the split stage writes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data.split import SplitError, split, stratified_split

CLASSES = 10  # uneven_labels() draws from 10 classes


def uneven_labels(n: int = 1003, seed: int = 1) -> np.ndarray:
    """(n,) int64 labels whose classes have different, odd-sized counts (class 9 is rare)."""
    rng = np.random.default_rng(seed)
    p = np.array([12, 9, 11, 10, 8, 13, 7, 10, 19, 1], dtype=float)
    return rng.choice(10, size=n, p=p / p.sum()).astype(np.int64)


@pytest.mark.parametrize("val_fraction", [0.2, 0.1, 0.5, 0.33, 0.9])
@pytest.mark.parametrize("seed", [0, 42])
def test_split_invariants(val_fraction, seed) -> None:
    labels = uneven_labels()
    train_idx, val_idx = stratified_split(labels, val_fraction, seed, CLASSES)
    assert train_idx.dtype == val_idx.dtype == np.int64
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(labels)))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)  # sorted, no repeats
    for cls in range(10):
        share = val_fraction * np.sum(labels == cls)
        in_val = np.sum(labels[val_idx] == cls)
        assert abs(in_val - share) <= 1, f"class {cls}: {in_val} in val, exact share {share:.2f}"


def test_default_fraction_on_balanced_classes_is_exact() -> None:
    labels = np.repeat(np.arange(10), 60)
    train_idx, val_idx = stratified_split(labels, 0.2, seed=42, num_classes=CLASSES)
    assert np.bincount(labels[val_idx]).tolist() == [12] * 10
    assert np.bincount(labels[train_idx]).tolist() == [48] * 10


def test_same_seed_same_split() -> None:
    labels = uneven_labels()
    a, b = stratified_split(labels, 0.2, 7, CLASSES), stratified_split(labels, 0.2, 7, CLASSES)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_different_seed_different_split() -> None:
    labels = uneven_labels()
    _, val_a = stratified_split(labels, 0.2, 7, CLASSES)
    _, val_b = stratified_split(labels, 0.2, 8, CLASSES)
    assert len(val_a) == len(val_b)
    assert not np.array_equal(val_a, val_b)


def test_validation_rows_are_shuffled_not_the_first_of_each_class() -> None:
    labels = np.repeat(np.arange(10), 100)
    _, val_idx = stratified_split(labels, 0.2, 0, CLASSES)
    first_of_each_class = np.concatenate([np.arange(c * 100, c * 100 + 20) for c in range(10)])
    assert not np.array_equal(val_idx, first_of_each_class)


@pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_invalid_val_fraction(val_fraction) -> None:
    with pytest.raises(SplitError, match=r"data\.split\.val_fraction") as err:
        stratified_split(uneven_labels(), val_fraction, 0, CLASSES)
    assert repr(val_fraction) in str(err.value)


# --- the files split() writes ----------------------------------------------------------------

def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture
def labels_file(tmp_path) -> Path:
    path = tmp_path / "train_labels.npy"
    np.save(path, uneven_labels())
    return path


def test_split_files(labels_file, tmp_path) -> None:
    out = tmp_path / "split"
    summary = split(labels_file, out, val_fraction=0.2, seed=3, num_classes=CLASSES, dataset="tiny")
    assert sorted(p.name for p in out.iterdir()) == ["split.json", "train_idx.npy", "val_idx.npy"]
    train_idx = np.load(out / "train_idx.npy", allow_pickle=False)
    val_idx = np.load(out / "val_idx.npy", allow_pickle=False)
    expected_train, expected_val = stratified_split(np.load(labels_file), 0.2, 3, CLASSES)
    np.testing.assert_array_equal(train_idx, expected_train)
    np.testing.assert_array_equal(val_idx, expected_val)

    written = json.loads((out / "split.json").read_text())
    assert written == summary
    labels = np.load(labels_file)
    assert written["seed"] == 3 and written["val_fraction"] == 0.2
    assert written["sizes"] == {"train": len(train_idx), "val": len(val_idx)}
    assert written["sizes"]["train"] + written["sizes"]["val"] == len(labels)
    assert written["class_counts"] == {
        "train": np.bincount(labels[train_idx], minlength=CLASSES).tolist(),
        "val": np.bincount(labels[val_idx], minlength=CLASSES).tolist(),
    }
    assert written["sha256"] == {
        "labels": sha256(labels),
        "train_idx": sha256(train_idx),
        "val_idx": sha256(val_idx),
    }


def test_other_class_counts(tmp_path) -> None:
    """Three classes, split as configured by num_classes=4: every class stratified, the absent fourth
    counted as 0 in split.json."""
    labels = np.repeat(np.arange(3), [10, 20, 30])
    np.save(tmp_path / "labels.npy", labels)
    summary = split(tmp_path / "labels.npy", tmp_path / "split", 0.5, seed=0, num_classes=4, dataset="tiny")
    assert summary["class_counts"] == {"train": [5, 10, 15, 0], "val": [5, 10, 15, 0]}


def test_split_file_reruns_are_identical(labels_file, tmp_path) -> None:
    split(labels_file, tmp_path / "a", 0.2, 3, CLASSES, "tiny")
    split(labels_file, tmp_path / "b", 0.2, 3, CLASSES, "tiny")
    for name in ("split.json", "train_idx.npy", "val_idx.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_invalid_fraction_writes_nothing(labels_file, tmp_path) -> None:
    with pytest.raises(SplitError):
        split(labels_file, tmp_path / "split", val_fraction=1.0, seed=0, num_classes=CLASSES, dataset="tiny")
    assert not (tmp_path / "split").exists()
