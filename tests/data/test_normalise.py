"""The normalise stage on a tiny fake MNIST: exact x/255 float32 pixels, int64 labels, plain .npy
files, a manifest whose checksums match the data, and atomic writes (no .part files, no partial
output)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data import normalise as normalise_module
from mlpbench.data.idx import IDXFormatError
from mlpbench.data.normalise import normalise

from data_helpers import mnist, raw_name

ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")
OUTPUTS = sorted([f"{name}.npy" for name in ARRAYS] + ["manifest.json"])


def load(path: Path) -> np.ndarray:
    """Fails if the file is not a plain .npy that memory-maps without pickle."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture
def out_dir(tiny_raw_dir, tmp_path) -> Path:
    out = tmp_path / "processed"
    normalise(tiny_raw_dir, out, mnist())
    return out


def test_writes_exactly_the_outputs(out_dir) -> None:
    assert sorted(p.name for p in out_dir.iterdir()) == OUTPUTS  # no stray .part files


def test_images_are_float32_x_over_255(out_dir, tiny_mnist) -> None:
    for part in ("train", "test"):
        raw = getattr(tiny_mnist, f"{part}_images")
        images = load(out_dir / f"{part}_images.npy")
        assert isinstance(images, np.memmap)
        assert images.dtype == np.float32 and images.shape == (len(raw), raw[0].size)
        assert images.min() >= 0.0 and images.max() <= 1.0
        expected = (raw.reshape(len(raw), -1).astype(np.float64) / 255.0).astype(np.float32)
        np.testing.assert_array_equal(images, expected)


def test_every_pixel_value_scales_exactly(tmp_path, tiny_mnist, write_idx_images) -> None:
    # one image holding every value 0..255 (plus zeros): checks 0 -> 0.0, 255 -> 1.0 and the rest
    pixels = np.zeros((len(tiny_mnist.train_labels), 28, 28), dtype=np.uint8)
    pixels[0].flat[:256] = np.arange(256)
    write_idx_images(tiny_mnist.raw_dir / raw_name("train_images"), pixels)
    normalise(tiny_mnist.raw_dir, tmp_path / "out", mnist())
    row = load(tmp_path / "out" / "train_images.npy")[0, :256]
    assert row[0] == 0.0 and row[255] == 1.0
    np.testing.assert_array_equal(row, np.float32(np.arange(256) / 255.0))


def test_labels_are_int64(out_dir, tiny_mnist) -> None:
    for part in ("train", "test"):
        labels = load(out_dir / f"{part}_labels.npy")
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, getattr(tiny_mnist, f"{part}_labels"))


def test_manifest_matches_files(tiny_raw_dir, tmp_path) -> None:
    out = tmp_path / "processed"
    returned = normalise(tiny_raw_dir, out, mnist())
    written = json.loads((out / "manifest.json").read_text())
    assert written == returned
    assert sorted(written) == sorted([*ARRAYS, "dataset"])
    data = mnist()
    assert written["dataset"] == {"name": "mnist", "image_shape": [28, 28], "num_classes": 10,
                                  "files": {role: getattr(data.files, role).sha256 for role in ARRAYS}}
    for name in ARRAYS:
        array = load(out / f"{name}.npy")
        assert written[name]["shape"] == list(array.shape), name
        assert written[name]["sha256"] == sha256(array), name


def test_rerun_gives_identical_files(out_dir, tiny_raw_dir, tmp_path) -> None:
    again = tmp_path / "again"
    normalise(tiny_raw_dir, again, mnist())
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (out_dir / name).read_bytes(), name


def corrupt_labels(raw_dir: Path, part: str, write_idx_labels) -> None:
    """Replace ``part``'s label file (as named in the data config) with labels one past the last class."""
    n = 600 if part == "train" else 100
    write_idx_labels(raw_dir / raw_name(f"{part}_labels"), np.full(n, mnist().num_classes))


@pytest.mark.parametrize("part", ["train", "test"])
def test_corrupt_input_writes_nothing_for_its_part(tiny_raw_dir, tmp_path, write_idx_labels, part) -> None:
    corrupt_labels(tiny_raw_dir, part, write_idx_labels)
    out = tmp_path / "processed"
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out, mnist())
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert f"{part}_images.npy" not in left and f"{part}_labels.npy" not in left
    assert "manifest.json" not in left
    assert not [name for name in left if name.endswith(".part")], left


def test_corrupt_test_file_leaves_no_output_at_all(tiny_raw_dir, tmp_path, write_idx_labels) -> None:
    corrupt_labels(tiny_raw_dir, "test", write_idx_labels)
    out = tmp_path / "processed"
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out, mnist())
    assert not out.exists() or not list(out.iterdir())


def test_failure_keeps_previous_output_intact(out_dir, tiny_raw_dir, write_idx_labels) -> None:
    before = {name: (out_dir / name).read_bytes() for name in OUTPUTS}
    corrupt_labels(tiny_raw_dir, "train", write_idx_labels)
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out_dir, mnist())
    assert {name: (out_dir / name).read_bytes() for name in OUTPUTS} == before


def test_interrupt_while_writing_leaves_no_temp_file(tiny_raw_dir, tmp_path, monkeypatch) -> None:
    def interrupted(images, out=None):
        out[:1] = 0.5  # part of the array is written when Ctrl-C arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(normalise_module, "scale_pixels", interrupted)
    out = tmp_path / "processed"
    with pytest.raises(KeyboardInterrupt):
        normalise(tiny_raw_dir, out, mnist())
    assert list(out.iterdir()) == []


def test_file_names_shape_and_classes_come_from_the_data_config(tmp_path, write_idx_images,
                                                                write_idx_labels) -> None:
    """Another IDX data set (5x4 images, 3 classes, its own file names) is one more data config."""
    rng = np.random.default_rng(3)
    files = {role: dataclasses.replace(getattr(mnist().files, role), name=f"tiny-{role}.gz")
             for role in ARRAYS}
    other = dataclasses.replace(mnist(), files=dataclasses.replace(mnist().files, **files), image_shape=(5, 4),
                                num_classes=3)
    raw = tmp_path / "raw"
    raw.mkdir()
    labels = {}
    for part, n in (("train", 12), ("test", 6)):
        write_idx_images(raw / f"tiny-{part}_images.gz", rng.integers(0, 256, (n, 5, 4), dtype=np.uint8))
        labels[part] = np.arange(n) % 3
        write_idx_labels(raw / f"tiny-{part}_labels.gz", labels[part])
    manifest = normalise(raw, tmp_path / "processed", other)
    assert manifest["train_images"]["shape"] == [12, 20] and manifest["test_images"]["shape"] == [6, 20]
    np.testing.assert_array_equal(load(tmp_path / "processed" / "test_labels.npy"), labels["test"])
    # the same files under MNIST's config: other names, and a 28x28 shape they do not have
    with pytest.raises(FileNotFoundError, match=raw_name("train_images")):
        normalise(raw, tmp_path / "mnist", mnist())
    for role in ARRAYS:
        (raw / f"tiny-{role}.gz").rename(raw / raw_name(role))
    with pytest.raises(IDXFormatError, match="5x4"):
        normalise(raw, tmp_path / "mnist", mnist())
