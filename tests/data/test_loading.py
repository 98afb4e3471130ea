"""load_dataset: the rows the split's index files name, in the requested dtype; a stale or
missing split is a clear error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlpbench.data.loading import load_dataset
from mlpbench.data.normalise import normalise
from mlpbench.data.split import split

N_TRAIN, N_TEST = 50, 20


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    """Processed arrays whose every row is distinct, and a hand-made 40/10 split."""
    rng = np.random.default_rng(0)
    processed, split_dir = tmp_path / "processed", tmp_path / "split"
    processed.mkdir()
    split_dir.mkdir()
    arrays = {
        "train_images": rng.random((N_TRAIN, 784), dtype=np.float32),
        "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.int64),
        "test_images": rng.random((N_TEST, 784), dtype=np.float32),
        "test_labels": rng.integers(0, 10, N_TEST).astype(np.int64),
    }
    for name, array in arrays.items():
        np.save(processed / f"{name}.npy", array)
    order = rng.permutation(N_TRAIN)
    np.save(split_dir / "train_idx.npy", np.sort(order[:40]).astype(np.int64))
    np.save(split_dir / "val_idx.npy", np.sort(order[40:]).astype(np.int64))
    return processed, split_dir


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gathers_the_indexed_rows(dirs, dtype) -> None:
    processed, split_dir = dirs
    ds = load_dataset(processed, split_dir, dtype=dtype)
    x, y = np.load(processed / "train_images.npy"), np.load(processed / "train_labels.npy")
    for part in ("train", "val"):
        idx = np.load(split_dir / f"{part}_idx.npy")
        x_part, y_part = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        assert x_part.shape == (len(idx), 784) and x_part.dtype == np.dtype(dtype)
        assert y_part.shape == (len(idx),) and y_part.dtype == np.int64
        np.testing.assert_array_equal(x_part, x[idx].astype(dtype))
        np.testing.assert_array_equal(y_part, y[idx])
    np.testing.assert_array_equal(ds.x_test, np.load(processed / "test_images.npy").astype(dtype))
    np.testing.assert_array_equal(ds.y_test, np.load(processed / "test_labels.npy"))
    assert ds.x_test.dtype == np.dtype(dtype) and ds.y_test.dtype == np.int64
    for array in (ds.x_train, ds.y_train, ds.x_val, ds.y_val, ds.x_test, ds.y_test):
        assert array.flags.c_contiguous


def test_end_to_end_with_normalise_and_split(tiny_raw_dir, tmp_path) -> None:
    normalise(tiny_raw_dir, tmp_path / "processed")
    split(tmp_path / "processed" / "train_labels.npy", tmp_path / "split", 0.2, seed=0)
    ds = load_dataset(tmp_path / "processed", tmp_path / "split")
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (480, 120, 100)
    assert np.bincount(ds.y_val).tolist() == [12] * 10


@pytest.mark.parametrize("which", ["train_idx.npy", "val_idx.npy"])
def test_stale_split_is_a_clear_error(dirs, which) -> None:
    processed, split_dir = dirs
    idx = np.load(split_dir / which)
    idx[-1] = N_TRAIN  # one row past the end, as after re-normalising fewer images
    np.save(split_dir / which, idx)
    with pytest.raises(ValueError, match="stale") as err:
        load_dataset(processed, split_dir)
    message = str(err.value)
    assert str(split_dir) in message and f"{N_TRAIN} rows" in message and "dvc repro split" in message


@pytest.mark.parametrize("train, val", [([0, 1, 2], [-1]), ([], [N_TRAIN])])
def test_any_out_of_range_index_is_a_clear_error(dirs, train, val) -> None:
    processed, split_dir = dirs
    np.save(split_dir / "train_idx.npy", np.array(train, dtype=np.int64))
    np.save(split_dir / "val_idx.npy", np.array(val, dtype=np.int64))
    with pytest.raises(ValueError, match="stale"):
        load_dataset(processed, split_dir)


@pytest.mark.parametrize("missing", ["processed/train_images.npy", "split/val_idx.npy"])
def test_missing_file_says_which_stage_to_run(dirs, tmp_path, missing) -> None:
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match="dvc repro split") as err:
        load_dataset(*dirs)
    assert str(tmp_path / missing) in str(err.value)
