"""Helpers shared by tests (importable: pyproject puts tests/ on pytest's pythonpath)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def write_learnable_data(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Normalised arrays and a split under ``root/data`` (as the data stages leave them).

    Pixels are in [0, 1]; each label brightens its own band of 78 pixels, so a model can learn.
    Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    processed, split = root / "data" / "processed", root / "data" / "split"
    processed.mkdir(parents=True)
    split.mkdir(parents=True)
    for part, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        images = 0.4 * rng.random((n, 784), dtype=np.float32)
        for i, label in enumerate(labels):
            images[i, label * 78 : (label + 1) * 78] += 0.6
        np.save(processed / f"{part}_images.npy", images.astype(np.float32))
        np.save(processed / f"{part}_labels.npy", labels)
    (processed / "manifest.json").write_text("{}")
    n_val = n_train // 5
    np.save(split / "train_idx.npy", np.arange(n_val, n_train))
    np.save(split / "val_idx.npy", np.arange(n_val))
    (split / "split.json").write_text("{}")
    return root


def tiny_config(root: Path, overrides: Sequence[str] = ()) -> dict:
    """The real conf/ composed with ``overrides``, shrunk, pointed at ``root``'s data and store."""
    from mlpbench.compose import compose

    values = compose(PROJECT_ROOT, ["train.epochs=2", "model.hidden_sizes=[16]", "train.batch_size=32",
                                    "train.threads=1", *overrides])
    values["data"]["paths"] = {name: str(root / "data" / name) for name in ("raw", "processed", "split")}
    values["tracking"]["uri"] = f"sqlite:///{root / 'mlflow.db'}"
    return values
