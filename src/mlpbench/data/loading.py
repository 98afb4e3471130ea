"""Loading the normalised arrays and the split into the ``Dataset`` a training run uses.

Every file read is checked before a run trains on it: that it parses as a .npy array, its shape
and dtype, the labels' range, the split's invariants (in range, sorted, unique, disjoint) and the
index files' sha256 against ``split.json``. A failure is one ``DataFileError`` naming the file and
the stage that remakes it. The 188 MB image array is never hashed, only its header is checked.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpbench.config.checks import ConfigError
from mlpbench.config.schema import SplitConfig
from mlpbench.io import array_sha256

SPLIT_FILES = ("train_idx.npy", "val_idx.npy")
NORMALISE, SPLIT = "dvc repro normalise", "dvc repro split"


class DataFileError(ValueError):
    """A data file on disk is unreadable, malformed or inconsistent with the others."""


def _fail(path: Path, problem: str, fix: str) -> DataFileError:
    return DataFileError(f"{path} {problem}; remake it with `{fix}`")


@dataclass(frozen=True)
class Dataset:
    """Arrays for one run: x (n, features) float pixels in [0, 1], y (n,) int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def _load(path: Path, fix: str) -> np.ndarray:
    """The array in ``path`` (memory-mapped); ``DataFileError`` when it does not parse."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the data stages first: dvc repro split")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # noqa: BLE001  (numpy raises ValueError, EOFError, OSError... on a bad file)
        raise _fail(path, f"is not a readable .npy array ({type(err).__name__}: {err}); it is truncated or "
                          "corrupt", fix) from err


def _check_part(images: np.ndarray, labels: np.ndarray, paths: tuple[Path, Path], num_classes: int) -> None:
    """Images (n, features) float32, labels (n,) int64 in 0..num_classes-1."""
    x_path, y_path = paths
    if images.ndim != 2 or images.dtype != np.float32:
        raise _fail(x_path, f"holds a {images.dtype} array of shape {images.shape}, expected 2-D float32 "
                            "(images, features)", NORMALISE)
    if labels.ndim != 1 or labels.dtype != np.int64:
        raise _fail(y_path, f"holds a {labels.dtype} array of shape {labels.shape}, expected 1-D int64", NORMALISE)
    if len(labels) != len(images):
        raise _fail(y_path, f"holds {len(labels)} labels but {x_path} holds {len(images)} images", NORMALISE)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise _fail(y_path, f"holds labels in {labels.min()}..{labels.max()}, outside 0..{num_classes - 1} "
                            f"(data.num_classes={num_classes}: if that is wrong, fix conf/data/<name>.yaml)", NORMALISE)


def _check_index(idx: np.ndarray, path: Path, n_rows: int, labels_path: Path) -> None:
    """A split's index file: 1-D integers, non-empty, strictly increasing, within the ``n_rows`` rows."""
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise _fail(path, f"holds a {idx.dtype} array of shape {idx.shape}, expected 1-D integer row indices", SPLIT)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n_rows:
        raise _fail(path, f"is empty or holds indices outside the {n_rows} rows of {labels_path}; the split is "
                          "stale or broken", SPLIT)
    if np.any(np.diff(idx) <= 0):
        raise _fail(path, "is not strictly increasing (repeated or unsorted rows); the split stage writes sorted, "
                          "unique indices", SPLIT)


def _check_split_files(train_idx: np.ndarray, val_idx: np.ndarray, split_dir: Path, labels: np.ndarray,
                       labels_path: Path) -> None:
    """Both index files valid, disjoint, and (where ``split.json`` records them) matching their sha256."""
    train_path, val_path = (split_dir / name for name in SPLIT_FILES)
    for idx, path in ((train_idx, train_path), (val_idx, val_path)):
        _check_index(idx, path, len(labels), labels_path)
    shared = np.intersect1d(train_idx, val_idx, assume_unique=True)
    if shared.size:
        raise _fail(val_path, f"shares {shared.size} rows with {train_path} (e.g. row {shared[0]}); validation rows "
                              "must not be trained on", SPLIT)
    hashes = _read_split_json(split_dir / "split.json").get("sha256") or {}
    expected = {"train_idx": (train_idx, train_path), "val_idx": (val_idx, val_path), "labels": (labels, labels_path)}
    for key, (array, path) in expected.items():
        if key in hashes and array_sha256(np.asarray(array)) != hashes[key]:
            made = (f"the split in {split_dir} was made from other labels" if key == "labels"
                    else "it is not the file the split stage wrote")
            raise _fail(path, f"has sha256 {array_sha256(np.asarray(array))[:12]}... but {split_dir / 'split.json'} "
                              f"records {str(hashes[key])[:12]}... for {key}; {made}", SPLIT)


def read_json_object(path: Path, fix: str, error: type[DataFileError] = DataFileError) -> dict:
    """The JSON object a data stage wrote to ``path`` (a manifest, ``split.json``); ``error`` naming the
    command ``fix`` that remakes it when it cannot be read or holds no object."""
    try:
        made = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise error(f"{path} is not valid JSON ({err}); remake it with `{fix}`") from None
    if not isinstance(made, dict):
        raise error(f"{path} holds a JSON {type(made).__name__}, expected an object; remake it with `{fix}`")
    return made


def _read_split_json(path: Path) -> dict:
    """``split.json``'s summary; {} when absent (its hashes are then not checkable)."""
    return read_json_object(path, SPLIT) if path.is_file() else {}


def check_split(split_dir: Path, cfg: SplitConfig) -> None:
    """Raise ``ConfigError`` when ``split.json`` on disk was made with other settings than ``cfg``.

    A run must train on the split its params say; a run configured with another split would
    otherwise record settings it did not use. An unreadable ``split.json`` is a ``DataFileError``.
    """
    path = Path(split_dir) / "split.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the data stages first: dvc repro split")
    made = _read_split_json(path)
    for key in ("val_fraction", "seed"):
        if made.get(key) != getattr(cfg, key):
            raise ConfigError(
                f"data.split.{key}={getattr(cfg, key)!r} but the split in {split_dir} was made with "
                f"{key}={made.get(key)!r}; remake it with `dvc repro split` (after setting data.split in conf/ "
                "and `make params`), or use the split on disk")


def load_dataset(processed_dir: Path, split_dir: Path, num_classes: int, dtype: str = "float32") -> Dataset:
    """Train/validation rows gathered by the split's index files; the test set as stored.

    Pixels are converted to ``dtype`` (float32 as stored, or float64); labels are int64. Raises
    ``FileNotFoundError`` for a missing file and ``DataFileError`` for a malformed one (see the module).
    """
    processed_dir, split_dir = Path(processed_dir), Path(split_dir)
    paths = {name: processed_dir / f"{name}.npy" for name in ("train_images", "train_labels", "test_images",
                                                               "test_labels")}
    arrays = {name: _load(path, NORMALISE) for name, path in paths.items()}
    train_idx, val_idx = (_load(split_dir / name, SPLIT) for name in SPLIT_FILES)
    for part in ("train", "test"):
        _check_part(arrays[f"{part}_images"], arrays[f"{part}_labels"],
                    (paths[f"{part}_images"], paths[f"{part}_labels"]), num_classes)
    x, y, x_test, y_test = arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]
    if x_test.shape[1] != x.shape[1]:
        raise _fail(paths["test_images"], f"holds images of {x_test.shape[1]} features but {paths['train_images']} "
                                          f"holds {x.shape[1]}", NORMALISE)
    _check_split_files(train_idx, val_idx, split_dir, y, paths["train_labels"])
    as_x = lambda a: np.array(a, dtype=dtype)  # noqa: E731  (a copy in memory, never the memmap)
    as_y = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
    return Dataset(as_x(x[train_idx]), as_y(y[train_idx]), as_x(x[val_idx]), as_y(y[val_idx]),
                   as_x(x_test), as_y(y_test), num_classes)
