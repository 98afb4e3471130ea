"""Strict parsing of the IDX format (MNIST's), optionally gzip-compressed.

Layout (big-endian): a 4-byte magic number, one 4-byte size per dimension, then the raw uint8
values. Images have magic 2051 and dimensions (count, rows, cols); labels have magic 2049 and
dimension (count,). Every violation raises IDXFormatError naming the file, what was expected and
what was found.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class IDXFormatError(ValueError):
    """An IDX file does not have the structure it must have."""


def read_bytes(path: Path) -> bytes:
    """The decompressed content of ``path`` (gzip when the name ends in .gz)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the download stage first (dvc repro download)")
    if path.suffix == ".gz":
        try:
            return gzip.decompress(path.read_bytes())
        except (OSError, EOFError, zlib.error) as err:
            raise IDXFormatError(f"{path}: not a valid gzip file ({err}); delete it and download it again") from err
    return path.read_bytes()


def _header(raw: bytes, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXFormatError(f"{path}: file is {len(raw)} bytes, shorter than the {header_len}-byte IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise IDXFormatError(f"{path}: magic number is {found}, expected {magic}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_len = header_len + math.prod(dims)
    if len(raw) != expected_len:
        raise IDXFormatError(
            f"{path}: {len(raw)} bytes, expected {expected_len} for dimensions {dims} "
            f"({'truncated' if len(raw) < expected_len else 'trailing bytes'})"
        )
    return dims


def parse_images(path: Path, rows: int, cols: int) -> np.ndarray:
    """Read an IDX image file.

    Returns
    -------
    images: (count, rows * cols) uint8
    """
    raw = read_bytes(path)
    count, r, c = _header(raw, Path(path), IMAGES_MAGIC, 3)
    if (r, c) != (rows, cols):
        raise IDXFormatError(f"{path}: images are {r}x{c}, expected {rows}x{cols}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, r * c)


def parse_labels(path: Path, num_classes: int) -> np.ndarray:
    """Read an IDX label file; every label must be in 0 .. num_classes - 1.

    Returns
    -------
    labels: (count,) uint8
    """
    raw = read_bytes(path)
    _header(raw, Path(path), LABELS_MAGIC, 1)
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise IDXFormatError(f"{path}: label {labels[bad]} at index {bad}, expected a value in 0..{num_classes - 1}")
    return labels


def parse_pair(images_path: Path, labels_path: Path, image_shape: tuple[int, int],
               num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (count, rows * cols) uint8 and labels (count,) uint8 whose counts agree."""
    images, labels = parse_images(images_path, *image_shape), parse_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise IDXFormatError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            "they must agree (were the files mixed up?)"
        )
    return images, labels
