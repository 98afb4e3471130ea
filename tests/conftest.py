"""Fixtures shared by the whole suite.

Tests make their own tiny data (STYLE.md: "tiny data made in the tests"); only tests marked
``real_data`` use the real MNIST copy beside the project, via ``real_mnist_dir``.

- ``write_idx``, ``write_idx_images``, ``write_idx_labels``: functions that write IDX files
  (gzip-compressed when the name ends in ``.gz``), valid or deliberately broken.
- ``tiny_mnist`` / ``tiny_raw_dir``: a fake MNIST (600 train + 100 test images) under the four
  real file names in ``tmp_path / "raw"``; ``make_tiny_mnist(raw_dir)`` writes one anywhere.
- ``real_mnist_dir``: the real MNIST copy: ``$MLPBENCH_DATA_MIRROR`` when set, else
  ``../shared/data/mnist`` from the project root; a skip naming both when absent.

Tiers: ``make test`` runs ``-m "not slow"`` and its summary counts the slow tests left out;
``make test-all`` runs them all (README, "Tests and benchmarks").
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest

from support import write_learnable_data

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST_DIR = PROJECT_ROOT.parent / "shared" / "data" / "mnist"
MIRROR_ENV = "MLPBENCH_DATA_MIRROR"
NO_CUDA_KEY = pytest.StashKey[int]()  # how many cuda tests were deselected
SLOW_LEFT_OUT_KEY = pytest.StashKey[int]()  # how many slow tests -m "not slow" deselected

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
ROLES = ("train_images", "train_labels", "test_images", "test_labels")


def _raw_names() -> dict[str, str]:
    """File name of each role as conf/data/mnist.yaml gives it (composed once, at import, whichever data
    set conf/config.yaml makes the default)."""
    from mlpbench.compose import compose
    from mlpbench.config.data import load_data

    files = load_data(compose(PROJECT_ROOT, ["data=mnist"])).files
    return {role: getattr(files, role).name for role in ROLES}


RAW_NAMES = _raw_names()


def idx_bytes(magic: int, dims: Sequence[int], payload: bytes) -> bytes:
    """An IDX file's bytes: big-endian magic, one big-endian uint32 per dimension, payload.

    Written here from the format's definition, not with mlpbench code, so the parser is checked
    against an independent encoder. ``dims`` and ``payload`` need not agree (broken files).
    """
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + payload


def write_idx(path: Path, magic: int, dims: Sequence[int], payload: bytes) -> Path:
    """Write an IDX file (gzip when ``path`` ends in .gz); return ``path``."""
    raw = idx_bytes(magic, dims, payload)
    Path(path).write_bytes(gzip.compress(raw) if Path(path).suffix == ".gz" else raw)
    return Path(path)


def write_idx_images(path: Path, images: np.ndarray) -> Path:
    """Write ``images``: (n, rows, cols) uint8 as an IDX image file."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise TypeError(f"images must be (n, rows, cols) uint8, got {images.dtype} {images.shape}")
    return write_idx(path, IMAGES_MAGIC, images.shape, images.tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> Path:
    """Write ``labels``: (n,) integers in 0..255 as an IDX label file (values not checked)."""
    labels = np.asarray(labels, dtype=np.uint8)
    return write_idx(path, LABELS_MAGIC, labels.shape, labels.tobytes())


@dataclass(frozen=True)
class TinyMnist:
    """A fake MNIST written in ``raw_dir``; images (n, 28, 28) uint8, labels (n,) uint8."""

    raw_dir: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def make_tiny_mnist(raw_dir: Path, n_train: int = 600, n_test: int = 100, seed: int = 0) -> TinyMnist:
    """Random pixels and labels 0..9 in equal numbers, shuffled, under the real file names."""
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        arrays[f"{part}_images"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{part}_labels"] = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        write_idx_images(raw_dir / RAW_NAMES[f"{part}_images"], arrays[f"{part}_images"])
        write_idx_labels(raw_dir / RAW_NAMES[f"{part}_labels"], arrays[f"{part}_labels"])
    return TinyMnist(raw_dir, **arrays)


# The slow tier's longest files, longest first, with their time in CI (2 workers, quiet, 2026-12-07): they start
# first, so no worker is left alone with one of them at the end (make test-all's --no-loadscope-reorder hands out
# tests and xdist groups in collection order).
LONGEST_FIRST = (
    "integration/test_committed_state.py",  # ~490 s
    "integration/test_full_pipeline.py",  # ~315 s, one xdist group: its module fixture is built once
    "integration/test_run_lifecycle.py",  # ~170 s
    "cluster/",  # the SLURM and team-server tests, one xdist group
    "integration/test_store_fails_mid_run.py",  # ~160 s
)


def _longest_first(item: pytest.Item) -> int:
    path = item.path.as_posix()
    return next((i for i, name in enumerate(LONGEST_FIRST) if f"/tests/{name}" in path), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest tests first (``LONGEST_FIRST``); deselect the tests marked ``cuda`` where torch
    sees no CUDA device (say so in the summary)."""
    items.sort(key=_longest_first)  # stable: every other test keeps its place
    cuda_items = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    config.hook.pytest_deselected(items=cuda_items)
    items[:] = [item for item in items if not item.get_closest_marker("cuda")]
    config.stash[NO_CUDA_KEY] = len(cuda_items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Count the tests marked ``slow`` that ``-m "not slow"`` (make test, the fast tier) leaves out."""
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        stash = slow[0].config.stash
        stash[SLOW_LEFT_OUT_KEY] = stash.get(SLOW_LEFT_OUT_KEY, 0) + len(slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, each worker collects (and deselects) every test: it hands its counts to the
    controller, whose summary prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        for key, name in ((NO_CUDA_KEY, "no_cuda"), (SLOW_LEFT_OUT_KEY, "slow_left_out")):
            if key in session.config.stash:
                workeroutput[name] = session.config.stash[key]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller keeps a worker's counts (every worker's are the same)."""
    output = getattr(node, "workeroutput", {})
    for key, name in ((NO_CUDA_KEY, "no_cuda"), (SLOW_LEFT_OUT_KEY, "slow_left_out")):
        if name in output:
            node.config.stash[key] = output[name]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if NO_CUDA_KEY in config.stash:
        terminalreporter.write_line(
            f"{config.stash[NO_CUDA_KEY]} tests marked cuda deselected: torch sees no CUDA device here"
        )
    if SLOW_LEFT_OUT_KEY in config.stash:
        terminalreporter.write_line(
            f"fast tier: {config.stash[SLOW_LEFT_OUT_KEY]} tests marked slow left out (whole pipelines and stages, "
            "sweeps, stopped processes, torch.compile, concurrent writers, cluster and browser tests); "
            "`make test-all` runs every tier"
        )


@pytest.fixture(autouse=True)
def _restore_tracking_uri():
    """Leave MLflow's tracking URI as the test found it: ``mlflow.set_tracking_uri`` also sets
    MLFLOW_TRACKING_URI, which every later test's subprocesses would inherit."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") != before:
        import mlflow

        mlflow.set_tracking_uri(before)  # None unsets the variable too


@pytest.fixture(name="write_idx")
def _write_idx() -> Callable[..., Path]:
    """``write_idx(path, magic, dims, payload)``: any IDX file, including broken ones."""
    return write_idx


@pytest.fixture(name="write_idx_images")
def _write_idx_images() -> Callable[[Path, np.ndarray], Path]:
    """``write_idx_images(path, images)`` with images (n, rows, cols) uint8."""
    return write_idx_images


@pytest.fixture(name="write_idx_labels")
def _write_idx_labels() -> Callable[[Path, np.ndarray], Path]:
    """``write_idx_labels(path, labels)`` with labels (n,) integers."""
    return write_idx_labels


@pytest.fixture(scope="session", name="make_tiny_mnist")
def _make_tiny_mnist() -> Callable[..., TinyMnist]:
    """``make_tiny_mnist(raw_dir)``: the fake MNIST of ``tiny_mnist``, for fixtures wider than one test."""
    return make_tiny_mnist


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> TinyMnist:
    """A fake MNIST (600 train + 100 test) in ``tmp_path / "raw"``, with its arrays."""
    return make_tiny_mnist(tmp_path / "raw")


@pytest.fixture
def tiny_raw_dir(tiny_mnist: TinyMnist) -> Path:
    """The folder holding the fake MNIST's four .gz files."""
    return tiny_mnist.raw_dir


@pytest.fixture
def real_mnist_dir() -> Path:
    """The real MNIST copy (four .gz files): $MLPBENCH_DATA_MIRROR, else ../shared/data/mnist."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    folder = Path(mirror) if mirror else SHARED_MNIST_DIR
    missing = [n for n in RAW_NAMES.values() if not (folder / n).is_file()]
    if missing:
        origin = f"{MIRROR_ENV}={mirror}" if mirror else f"{SHARED_MNIST_DIR} ({MIRROR_ENV} is not set)"
        pytest.skip(
            f"real MNIST copy not found at {origin}: missing {', '.join(missing)}; set {MIRROR_ENV} to a "
            f"folder holding the four MNIST .gz files, or put them in {SHARED_MNIST_DIR}, to run tests marked real_data"
        )
    return folder


@pytest.fixture
def tiny_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with learnable tiny data; MLflow's env override removed, cwd moved there."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return write_learnable_data(tmp_path)
