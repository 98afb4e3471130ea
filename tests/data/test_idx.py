"""Strict IDX parsing: valid files round-trip; every kind of damage is an IDXFormatError that names
the file and the expected and found values (never an assert, never a numpy error)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data.idx import IDXFormatError, parse_images, parse_labels, parse_pair

from data_helpers import mnist, raw_name

IMAGES, LABELS = 2051, 2049
# The image shape and class count the data config declares (the fake files below are MNIST-shaped).
ROWS, COLS = mnist().image_shape
CLASSES = mnist().num_classes


def images(n: int, rows: int = ROWS, cols: int = COLS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def assert_names(err: pytest.ExceptionInfo, path: Path, *values: object) -> None:
    """The message names the file and every expected/found value."""
    message = str(err.value)
    assert str(path) in message, message
    for value in values:
        assert str(value) in message, f"{value!r} missing from: {message}"


# --- valid files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["images.gz", "images"])  # gzip and plain
def test_images_round_trip(tmp_path, write_idx_images, name) -> None:
    pixels = images(7)
    parsed = parse_images(write_idx_images(tmp_path / name, pixels), ROWS, COLS)
    assert parsed.shape == (7, ROWS * COLS) and parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, pixels.reshape(7, ROWS * COLS))


def test_images_other_size(tmp_path, write_idx_images) -> None:
    pixels = images(3, rows=5, cols=4)
    parsed = parse_images(write_idx_images(tmp_path / "i.gz", pixels), rows=5, cols=4)
    np.testing.assert_array_equal(parsed, pixels.reshape(3, 20))


@pytest.mark.parametrize("name", ["labels.gz", "labels"])
def test_labels_round_trip(tmp_path, write_idx_labels, name) -> None:
    labels = np.array([0, 9, 3, 3, 1, 8], dtype=np.uint8)
    parsed = parse_labels(write_idx_labels(tmp_path / name, labels), CLASSES)
    assert parsed.shape == (6,) and parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, labels)


def test_empty_files_parse(tmp_path, write_idx_images, write_idx_labels) -> None:
    x, y = parse_pair(write_idx_images(tmp_path / "i.gz", images(0)), write_idx_labels(tmp_path / "l.gz", []),
                      (ROWS, COLS), CLASSES)
    assert x.shape == (0, ROWS * COLS) and y.shape == (0,)


def test_pair_round_trip(tiny_mnist) -> None:
    """The fake MNIST under the file names of the data config, parsed with its shape and classes."""
    raw = tiny_mnist.raw_dir
    x, y = parse_pair(raw / raw_name("train_images"), raw / raw_name("train_labels"), mnist().image_shape,
                      mnist().num_classes)
    np.testing.assert_array_equal(x, tiny_mnist.train_images.reshape(600, ROWS * COLS))
    np.testing.assert_array_equal(y, tiny_mnist.train_labels)


# --- damaged files ---------------------------------------------------------------------------

def parse_images_mnist(path: Path) -> np.ndarray:
    return parse_images(path, ROWS, COLS)


def parse_labels_mnist(path: Path) -> np.ndarray:
    return parse_labels(path, CLASSES)


# Hand-made headers and payloads of MNIST's 28x28 layout (2 images = 1568 bytes); the structural
# checks below fail before the image shape is compared.
@pytest.mark.parametrize("parse, found, expected, dims", [
    (parse_images_mnist, LABELS, IMAGES, (2, 28, 28)),
    (parse_labels_mnist, IMAGES, LABELS, (1568,)),
])
def test_wrong_magic(tmp_path, write_idx, parse, found, expected, dims) -> None:
    path = write_idx(tmp_path / "f.gz", found, dims, bytes(1568))
    with pytest.raises(IDXFormatError, match="magic") as err:
        parse(path)
    assert_names(err, path, found, expected)


@pytest.mark.parametrize("parse, magic, dims, payload_len, found, expected, word", [
    (parse_images_mnist, IMAGES, (2, 28, 28), 1567, 1583, 1584, "truncated"),
    (parse_images_mnist, IMAGES, (2, 28, 28), 1569, 1585, 1584, "trailing"),
    (parse_labels_mnist, LABELS, (5,), 4, 12, 13, "truncated"),
    (parse_labels_mnist, LABELS, (5,), 6, 14, 13, "trailing"),
])
def test_data_length_must_match_header(tmp_path, write_idx, parse, magic, dims, payload_len,
                                       found, expected, word) -> None:
    path = write_idx(tmp_path / "f.gz", magic, dims, bytes(payload_len))
    with pytest.raises(IDXFormatError, match=word) as err:
        parse(path)
    assert_names(err, path, f"{found} bytes", f"expected {expected}")


@pytest.mark.parametrize("parse, magic, dims, header_len", [
    (parse_images_mnist, IMAGES, (2, 28), 16),  # 12 bytes: the third dimension is missing
    (parse_labels_mnist, LABELS, (), 8),  # 4 bytes: magic only
])
def test_header_shorter_than_expected(tmp_path, write_idx, parse, magic, dims, header_len) -> None:
    path = write_idx(tmp_path / "f.gz", magic, dims, b"")
    with pytest.raises(IDXFormatError, match="header") as err:
        parse(path)
    assert_names(err, path, f"{4 + 4 * len(dims)} bytes", f"{header_len}-byte")


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    with pytest.raises(IDXFormatError) as err:
        parse_labels(path, CLASSES)
    assert_names(err, path, "0 bytes")


def test_wrong_image_dims(tmp_path, write_idx_images) -> None:
    path = write_idx_images(tmp_path / "i.gz", images(2, rows=ROWS + 1, cols=COLS))
    with pytest.raises(IDXFormatError) as err:
        parse_images(path, ROWS, COLS)
    assert_names(err, path, f"{ROWS + 1}x{COLS}", f"{ROWS}x{COLS}")


@pytest.mark.parametrize("num_classes", [CLASSES, 3])
def test_label_out_of_range(tmp_path, write_idx_labels, num_classes) -> None:
    """The first label >= num_classes is named; every smaller one passes."""
    labels = [0, 1, num_classes - 1, num_classes, 2, num_classes + 1]
    path = write_idx_labels(tmp_path / "l.gz", labels)
    with pytest.raises(IDXFormatError) as err:
        parse_labels(path, num_classes)
    assert_names(err, path, f"label {num_classes}", "index 3", f"0..{num_classes - 1}")
    just_over = write_idx_labels(tmp_path / "just_over.gz", [0, num_classes, 1])  # the largest label is num_classes
    with pytest.raises(IDXFormatError, match=f"label {num_classes} at index 1"):
        parse_labels(just_over, num_classes)
    np.testing.assert_array_equal(parse_labels(write_idx_labels(tmp_path / "ok.gz", labels[:3]), num_classes),
                                  labels[:3])


def test_count_mismatch(tmp_path, write_idx_images, write_idx_labels) -> None:
    x = write_idx_images(tmp_path / "i.gz", images(5))
    y = write_idx_labels(tmp_path / "l.gz", np.zeros(6))
    with pytest.raises(IDXFormatError) as err:
        parse_pair(x, y, (ROWS, COLS), CLASSES)
    assert_names(err, x, y, "5 images", "6 labels")


def _not_gzip(good: bytes) -> bytes:
    return b"this is not gzip data at all"


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _bad_crc(good: bytes) -> bytes:
    return good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]


def _bad_deflate(good: bytes) -> bytes:
    # a valid gzip header followed by a deflate stream that zlib rejects ("invalid block type")
    return good[:10] + b"\xff" * (len(good) - 10)


@pytest.mark.parametrize("damage", [
    _not_gzip,
    _truncated,
    _bad_crc,
    _bad_deflate,
])
def test_invalid_gzip(tmp_path, damage) -> None:
    good = gzip.compress((LABELS.to_bytes(4, "big") + (100).to_bytes(4, "big") + bytes(range(10)) * 10))
    path = tmp_path / "l.gz"
    path.write_bytes(damage(good))
    with pytest.raises(IDXFormatError, match="gzip") as err:
        parse_labels(path, CLASSES)
    assert_names(err, path, "download it again")


def test_missing_file_hints_at_download(tmp_path) -> None:
    path = tmp_path / "absent.gz"
    with pytest.raises(FileNotFoundError) as err:
        parse_images(path, ROWS, COLS)
    assert_names(err, path, "dvc repro download")
