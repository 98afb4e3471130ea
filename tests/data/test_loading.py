"""load_dataset: the rows the split's index files name, in the requested dtype; a stale or
missing split is a clear error. check_split: a split made with other settings than the config's."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mlpbench.config import ConfigError
from mlpbench.data import check_split, load_dataset
from mlpbench.data.normalise import normalise
from mlpbench.data.split import split

from data_helpers import mnist

N_TRAIN, N_TEST, CLASSES = 50, 20, 10


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
    ds = load_dataset(processed, split_dir, CLASSES, dtype=dtype)
    assert ds.num_classes == CLASSES
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
    data = mnist()
    normalise(tiny_raw_dir, tmp_path / "processed", data)
    split(tmp_path / "processed" / "train_labels.npy", tmp_path / "split", data.split.val_fraction,
          data.split.seed, data.num_classes, data.name)
    check_split(tmp_path / "split", data.split)
    ds = load_dataset(tmp_path / "processed", tmp_path / "split", data.num_classes)
    # the fake MNIST holds 60 train images of each of 10 digits
    val_per_class = round(60 * data.split.val_fraction)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (600 - 10 * val_per_class, 10 * val_per_class, 100)
    assert np.bincount(ds.y_val).tolist() == [val_per_class] * 10 and ds.num_classes == data.num_classes


@pytest.mark.parametrize("which", ["train_idx.npy", "val_idx.npy"])
def test_stale_split_is_a_clear_error(dirs, which) -> None:
    processed, split_dir = dirs
    idx = np.load(split_dir / which)
    idx[-1] = N_TRAIN  # one row past the end, as after re-normalising fewer images
    np.save(split_dir / which, idx)
    with pytest.raises(ValueError, match="stale") as err:
        load_dataset(processed, split_dir, CLASSES)
    message = str(err.value)
    assert str(split_dir) in message and f"{N_TRAIN} rows" in message and "dvc repro split" in message


@pytest.mark.parametrize("train, val", [([0, 1, 2], [-1]), ([], [N_TRAIN])])
def test_any_out_of_range_index_is_a_clear_error(dirs, train, val) -> None:
    processed, split_dir = dirs
    np.save(split_dir / "train_idx.npy", np.array(train, dtype=np.int64))
    np.save(split_dir / "val_idx.npy", np.array(val, dtype=np.int64))
    with pytest.raises(ValueError, match="stale"):
        load_dataset(processed, split_dir, CLASSES)


@pytest.mark.parametrize("missing", ["processed/train_images.npy", "split/val_idx.npy"])
def test_missing_file_says_which_stage_to_run(dirs, tmp_path, missing) -> None:
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match="dvc repro split") as err:
        load_dataset(*dirs, CLASSES)
    assert str(tmp_path / missing) in str(err.value)


# --- check_split: the split on disk must be the one the config asks for ------------------------

def write_split_json(split_dir: Path, **settings) -> None:
    split_dir.mkdir(exist_ok=True)
    (split_dir / "split.json").write_text(json.dumps(settings))


def test_check_split_accepts_the_configured_settings(tmp_path) -> None:
    cfg = mnist().split
    write_split_json(tmp_path, val_fraction=cfg.val_fraction, seed=cfg.seed, sizes={"train": 1, "val": 1})
    check_split(tmp_path, cfg)  # no error


@pytest.mark.parametrize("key, on_disk", [("val_fraction", 0.1), ("seed", 7)])
def test_check_split_rejects_a_split_made_with_other_settings(tmp_path, key, on_disk) -> None:
    cfg = mnist().split
    made = {"val_fraction": cfg.val_fraction, "seed": cfg.seed, key: on_disk}
    write_split_json(tmp_path, **made)
    with pytest.raises(ConfigError) as err:
        check_split(tmp_path, cfg)
    message = str(err.value)
    assert f"data.split.{key}={getattr(cfg, key)!r}" in message and f"{key}={on_disk!r}" in message
    assert str(tmp_path) in message and "dvc repro split" in message
    # and the other way round: a config changed to the split's settings accepts it
    check_split(tmp_path, dataclasses.replace(cfg, **{key: on_disk}))


def test_check_split_without_split_json_says_which_stage_to_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro split") as err:
        check_split(tmp_path, mnist().split)
    assert str(tmp_path / "split.json") in str(err.value)
