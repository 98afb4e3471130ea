"""Loading the normalised arrays and the split into the ``Dataset`` a training run uses."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpbench.config.checks import ConfigError
from mlpbench.config.schema import SplitConfig

SPLIT_FILES = ("train_idx.npy", "val_idx.npy")


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


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the data stages first: dvc repro split")
    return np.load(path, mmap_mode="r", allow_pickle=False)


def check_split(split_dir: Path, cfg: SplitConfig) -> None:
    """Raise ``ConfigError`` when ``split.json`` on disk was made with other settings than ``cfg``.

    A run must train on the split its params say; a run configured with another split would
    otherwise record settings it did not use.
    """
    path = Path(split_dir) / "split.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the data stages first: dvc repro split")
    made = json.loads(path.read_text())
    for key in ("val_fraction", "seed"):
        if made.get(key) != getattr(cfg, key):
            raise ConfigError(
                f"data.split.{key}={getattr(cfg, key)!r} but the split in {split_dir} was made with "
                f"{key}={made.get(key)!r}; remake it with `dvc repro split` (after setting data.split in conf/ "
                "and `make params`), or use the split on disk")


def load_dataset(processed_dir: Path, split_dir: Path, num_classes: int, dtype: str = "float32") -> Dataset:
    """Train/validation rows gathered by the split's index files; the test set as stored.

    Pixels are converted to ``dtype`` (float32 as stored, or float64); labels are int64.
    """
    processed_dir, split_dir = Path(processed_dir), Path(split_dir)
    x, y = _load(processed_dir / "train_images.npy"), _load(processed_dir / "train_labels.npy")
    train_idx, val_idx = _load(split_dir / "train_idx.npy"), _load(split_dir / "val_idx.npy")
    for name, idx in zip(SPLIT_FILES, (train_idx, val_idx)):
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(y):
            raise ValueError(
                f"{split_dir / name} is empty or holds indices outside the {len(y)} rows of "
                f"{processed_dir}; the split is stale or broken: run dvc repro split"
            )
    x_test, y_test = _load(processed_dir / "test_images.npy"), _load(processed_dir / "test_labels.npy")
    as_x = lambda a: np.array(a, dtype=dtype)  # noqa: E731  (a copy in memory, never the memmap)
    as_y = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
    return Dataset(as_x(x[train_idx]), as_y(y[train_idx]), as_x(x[val_idx]), as_y(y[val_idx]),
                   as_x(x_test), as_y(y_test), num_classes)
