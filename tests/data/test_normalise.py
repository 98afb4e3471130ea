"""The normalise stage on a tiny fake MNIST: exact x/255 float32 pixels, int64 labels, plain .npy
files, a manifest whose checksums match the data, and atomic writes (no .part files, no partial
output)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data import normalise as normalise_module
from mlpbench.data.idx import IDXFormatError
from mlpbench.data.normalise import normalise

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
    normalise(tiny_raw_dir, out)
    return out


def test_writes_exactly_the_outputs(out_dir) -> None:
    assert sorted(p.name for p in out_dir.iterdir()) == OUTPUTS  # no stray .part files


def test_images_are_float32_x_over_255(out_dir, tiny_mnist) -> None:
    for part in ("train", "test"):
        raw = getattr(tiny_mnist, f"{part}_images")
        images = load(out_dir / f"{part}_images.npy")
        assert isinstance(images, np.memmap)
        assert images.dtype == np.float32 and images.shape == (len(raw), 784)
        assert images.min() >= 0.0 and images.max() <= 1.0
        expected = (raw.reshape(len(raw), 784).astype(np.float64) / 255.0).astype(np.float32)
        np.testing.assert_array_equal(images, expected)


def test_every_pixel_value_scales_exactly(tmp_path, tiny_mnist, write_idx_images) -> None:
    # one image holding every value 0..255 (plus zeros): checks 0 -> 0.0, 255 -> 1.0 and the rest
    pixels = np.zeros((len(tiny_mnist.train_labels), 28, 28), dtype=np.uint8)
    pixels[0].flat[:256] = np.arange(256)
    write_idx_images(tiny_mnist.raw_dir / "train-images-idx3-ubyte.gz", pixels)
    normalise(tiny_mnist.raw_dir, tmp_path / "out")
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
    returned = normalise(tiny_raw_dir, out)
    written = json.loads((out / "manifest.json").read_text())
    assert written == returned
    assert sorted(written) == sorted(ARRAYS)
    for name in ARRAYS:
        array = load(out / f"{name}.npy")
        assert written[name]["shape"] == list(array.shape), name
        assert written[name]["sha256"] == sha256(array), name


def test_rerun_gives_identical_files(out_dir, tiny_raw_dir, tmp_path) -> None:
    again = tmp_path / "again"
    normalise(tiny_raw_dir, again)
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (out_dir / name).read_bytes(), name


def corrupt_labels(raw_dir: Path, part: str, write_idx_labels) -> None:
    prefix = "train" if part == "train" else "t10k"
    n = 600 if part == "train" else 100
    write_idx_labels(raw_dir / f"{prefix}-labels-idx1-ubyte.gz", np.full(n, 10))


@pytest.mark.parametrize("part", ["train", "test"])
def test_corrupt_input_writes_nothing_for_its_part(tiny_raw_dir, tmp_path, write_idx_labels, part) -> None:
    corrupt_labels(tiny_raw_dir, part, write_idx_labels)
    out = tmp_path / "processed"
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out)
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert f"{part}_images.npy" not in left and f"{part}_labels.npy" not in left
    assert "manifest.json" not in left
    assert not [name for name in left if name.endswith(".part")], left


def test_corrupt_test_file_leaves_no_output_at_all(tiny_raw_dir, tmp_path, write_idx_labels) -> None:
    corrupt_labels(tiny_raw_dir, "test", write_idx_labels)
    out = tmp_path / "processed"
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out)
    assert not out.exists() or not list(out.iterdir())


def test_failure_keeps_previous_output_intact(out_dir, tiny_raw_dir, write_idx_labels) -> None:
    before = {name: (out_dir / name).read_bytes() for name in OUTPUTS}
    corrupt_labels(tiny_raw_dir, "train", write_idx_labels)
    with pytest.raises(IDXFormatError):
        normalise(tiny_raw_dir, out_dir)
    assert {name: (out_dir / name).read_bytes() for name in OUTPUTS} == before


def test_interrupt_while_writing_leaves_no_temp_file(tiny_raw_dir, tmp_path, monkeypatch) -> None:
    def interrupted(images, out=None):
        out[:1] = 0.5  # part of the array is written when Ctrl-C arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(normalise_module, "scale_pixels", interrupted)
    out = tmp_path / "processed"
    with pytest.raises(KeyboardInterrupt):
        normalise(tiny_raw_dir, out)
    assert list(out.iterdir()) == []
