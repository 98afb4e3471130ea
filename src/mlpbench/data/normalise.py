"""The normalise stage: IDX files -> float32 pixel arrays in [0, 1] and int64 labels as .npy.

Pixels are divided by 255, as in the reference tutorial. Arrays are stored as plain ``.npy``
(loadable with ``mmap_mode="r"``, never pickled), written atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlpbench.config.schema import DataConfig
from mlpbench.data.idx import parse_pair
from mlpbench.data.identity import KEY, MANIFEST, identity
from mlpbench.io import array_sha256, atomic_path, save_npy, write_json

PARTS = ("train", "test")
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")  # the .npy files written


def scale_pixels(images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels (n, features) -> float32 in [0, 1], i.e. x / 255."""
    out = np.empty(images.shape, dtype=np.float32) if out is None else out
    return np.divide(images, np.float32(255.0), out=out, dtype=np.float32)


def _write_images(path: Path, images: np.ndarray) -> str:
    """Scale straight into a memory-mapped .npy (no second 220 MB buffer); return its sha256."""
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=images.shape)
        scale_pixels(images, out=out)
        out.flush()
        digest = array_sha256(out)
        del out
    return digest


def raw_names(data: DataConfig) -> dict[str, tuple[str, str]]:
    """part -> (images file, labels file) as named in ``data.files``."""
    return {part: (getattr(data.files, f"{part}_images").name, getattr(data.files, f"{part}_labels").name)
            for part in PARTS}


def normalise(raw_dir: Path, out_dir: Path, data: DataConfig) -> dict:
    """Parse the four IDX files of ``data`` in ``raw_dir``; write ``{train,test}_{images,labels}.npy``.

    Returns a manifest (also written to ``out_dir/manifest.json``): shape and sha256 per array, and under
    ``dataset`` the identity of ``data`` (name, image shape, classes, source files' sha256) that every
    run checks against its config (``identity.check_identity``).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    # Parse all four files before writing any, so a bad file leaves no mixed set of outputs.
    parsed = {part: parse_pair(raw_dir / images, raw_dir / labels, data.image_shape, data.num_classes)
              for part, (images, labels) in raw_names(data).items()}
    manifest = {KEY: identity(data)}
    # Written last: until then no manifest says the folder holds a complete, identified set of arrays.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for split, (images, labels) in parsed.items():
        manifest[f"{split}_images"] = {
            "shape": list(images.shape),
            "sha256": _write_images(out_dir / f"{split}_images.npy", images),
        }
        labels64 = labels.astype(np.int64)
        save_npy(out_dir / f"{split}_labels.npy", labels64)
        manifest[f"{split}_labels"] = {"shape": list(labels64.shape), "sha256": array_sha256(labels64)}
    write_json(out_dir / MANIFEST, manifest)
    return manifest
