"""The split stage: a seeded, stratified train/validation split stored as index files.

The 60,000 training images are split 80/20 (by default); only the row indices are written, so the
220 MB float array is never copied. The official 10,000-image test set stays apart, untouched.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlpbench.data.identity import KEY, SPLIT_JSON
from mlpbench.io import array_sha256, save_npy, write_json


class SplitError(ValueError):
    """The split cannot be made with the given inputs."""


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int,
                     num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices so each class keeps its share in both parts.

    Parameters
    ----------
    labels: (n,) int class labels in 0 .. num_classes - 1
    val_fraction: share of every class that goes to validation, in (0, 1)
    seed: seed of the permutation; same seed -> same split
    num_classes: how many classes the labels hold

    Returns
    -------
    train_idx, val_idx: sorted int64 index arrays, disjoint, together covering 0..n-1
    """
    if not 0.0 < val_fraction < 1.0:
        raise SplitError(f"data.split.val_fraction={val_fraction!r} is invalid; it must be in (0, 1), e.g. 0.2")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise SplitError(f"labels hold values outside 0..{num_classes - 1}; they do not match data.num_classes="
                         f"{num_classes}: fix conf/data/<name>.yaml or rerun `dvc repro normalise`")
    rng = np.random.default_rng(seed)
    val_parts = []
    for cls in range(num_classes):
        members = np.flatnonzero(labels == cls)
        n_val = int(round(len(members) * val_fraction))
        val_parts.append(rng.permutation(members)[:n_val])
    val_idx = np.sort(np.concatenate(val_parts)).astype(np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[val_idx] = False
    train_idx = np.flatnonzero(mask).astype(np.int64)
    return train_idx, val_idx


def split(labels_path: Path, out_dir: Path, val_fraction: float, seed: int, num_classes: int, dataset: str) -> dict:
    """Write ``train_idx.npy`` / ``val_idx.npy`` and return the summary written to ``split.json``.

    ``dataset``: the name of the data set whose labels these are, recorded for the runs' check.
    """
    labels = np.load(labels_path, mmap_mode="r")
    train_idx, val_idx = stratified_split(np.asarray(labels), val_fraction, seed, num_classes)
    out_dir = Path(out_dir)
    for name, idx in (("train_idx", train_idx), ("val_idx", val_idx)):
        save_npy(out_dir / f"{name}.npy", idx)
    summary = {
        KEY: dataset,
        "seed": seed,
        "val_fraction": val_fraction,
        "sizes": {"train": len(train_idx), "val": len(val_idx)},
        "class_counts": {
            "train": np.bincount(labels[train_idx], minlength=num_classes).tolist(),
            "val": np.bincount(labels[val_idx], minlength=num_classes).tolist(),
        },
        "sha256": {
            "labels": array_sha256(np.asarray(labels)),
            "train_idx": array_sha256(train_idx),
            "val_idx": array_sha256(val_idx),
        },
    }
    write_json(out_dir / SPLIT_JSON, summary)
    return summary
