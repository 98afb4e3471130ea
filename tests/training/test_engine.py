"""The shared training loop, driven with the real NumPy and torch backends on tiny data."""
from pathlib import Path

import numpy as np
import pytest

from mlpbench.backends.build import build_backend
from mlpbench.config import Config
from mlpbench.config.load import load
from mlpbench.data import Dataset, load_dataset
from mlpbench.training import fit
from mlpbench.training.metrics import accuracy, confusion_matrix

from support import tiny_config


def _setup(root: Path, overrides=(), backend="numpy") -> tuple[Config, object, Dataset]:
    """The real conf/ shrunk to the tiny data in ``root``: typed config, backend and data."""
    cfg = load(tiny_config(root, [f"backend={backend}", *overrides]))
    data = load_dataset(root / "data" / "processed", root / "data" / "split", cfg.data.num_classes, cfg.train.dtype)
    return cfg, build_backend(cfg, data.x_train.shape[1], cfg.data.num_classes), data


def test_history_and_result_shapes(tiny_root):
    cfg, backend, data = _setup(tiny_root, ["train.epochs=3"])
    seen = []
    result = fit(backend, data, cfg.train, on_epoch=seen.append)
    assert [m.epoch for m in result.history] == [1, 2, 3] == [m.epoch for m in seen]
    assert result.confusion.shape == (data.num_classes,) * 2 and result.confusion.sum() == len(data.y_test)
    assert 1 <= result.best_epoch <= 3
    assert all(m.epoch_time > 0 and m.samples_per_s > 0 for m in result.history)
    assert result.history[-1].val_acc > 0.5  # the tiny data is learnable


def test_both_backends_see_the_same_batches_and_match(tiny_root):
    """Same seed: same initial weights and batch order, so float64 curves agree to rounding."""
    overrides = ["train.dtype=float64", "model.dropout=0", "train.epochs=3"]
    results = {}
    for backend in ("numpy", "torch"):
        cfg, b, data = _setup(tiny_root, overrides, backend)
        results[backend] = fit(b, data, cfg.train)
    for a, b in zip(results["numpy"].history, results["torch"].history):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-9)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-9)
    assert results["numpy"].test_acc == results["torch"].test_acc


def test_early_stopping_stops_after_patience(tiny_root):
    cfg, b, data = _setup(tiny_root, ["train.epochs=30", "train.early_stopping_patience=2",
                                      "model.hidden_sizes=[64]", "model.dropout=0"])
    # validation labels unrelated to the images: the better the fit, the worse the val loss
    data.y_val[:] = np.random.default_rng(1).permutation(data.y_val)
    result = fit(b, data, cfg.train)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2


def test_metrics_helpers():
    y = np.array([0, 1, 2, 2])
    pred = np.array([0, 2, 2, 2])
    assert accuracy(pred, y) == 0.75
    # rows: true label, columns: prediction; a class never seen (3) still has its row and column
    np.testing.assert_array_equal(confusion_matrix(y, pred, 4),
                                  [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]])
    assert confusion_matrix(y, pred, 4).dtype == np.int64


class Recording:
    """Wraps a backend and keeps every array ``load`` is given and the rows of every step."""

    def __init__(self, backend) -> None:
        self.backend, self.loaded, self.steps = backend, [], []

    def load(self, x, y):
        self.loaded.append((x, y))
        return self.backend.load(x, y)

    def train_step(self, data, idx):
        self.steps.append(idx.copy())
        return self.backend.train_step(data, idx)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def test_shifted_images_are_drawn_anew_each_epoch_and_match_between_backends(tiny_root):
    """augment: every epoch loads newly shifted training images (labels as they were); both backends
    get the same ones, so float64 curves still agree to rounding; without it the images load once."""
    from mlpbench.data.augment import shift_for

    overrides = ["train.dtype=float64", "model.dropout=0", "train.epochs=3", "train.augment_shift=2"]
    results, loads, steps = {}, {}, {}
    for name in ("numpy", "torch"):
        cfg, backend, data = _setup(tiny_root, overrides, name)
        recording = Recording(backend)
        results[name] = fit(recording, data, cfg.train, augment=shift_for(cfg))
        loads[name], steps[name] = [x for x, y in recording.loaded if y is data.y_train], recording.steps
    assert len(loads["numpy"]) == 3 and all(x.shape == data.x_train.shape for x in loads["numpy"])
    assert not any(np.array_equal(x, data.x_train) for x in loads["numpy"])
    assert not np.array_equal(loads["numpy"][0], loads["numpy"][1])
    for a, b in zip(loads["numpy"], loads["torch"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(results["numpy"].history, results["torch"].history):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-9)

    cfg, backend, data = _setup(tiny_root, overrides[:-1])
    recording = Recording(backend)
    plain = fit(recording, data, cfg.train)
    assert [x for x, y in recording.loaded if y is data.y_train] == [data.x_train]
    assert plain.history[0].train_loss != results["numpy"].history[0].train_loss
    # the shifts come from a stream of their own: the batch order is the seed's, shifted or not
    assert len(recording.steps) == len(steps["numpy"]) == 3 * -(-len(data.y_train) // cfg.train.batch_size)
    for plain_rows, shifted_rows in zip(recording.steps, steps["numpy"]):
        np.testing.assert_array_equal(plain_rows, shifted_rows)


def test_a_tracked_run_trains_on_the_shifts_its_config_asks_for_and_logs_them(tiny_root):
    """train.augment_shift reaches the training loop through the run (run.record), and the run logs it."""
    from mlflow.tracking import MlflowClient

    from mlpbench.run.seeds import train_and_track

    losses, params = {}, {}
    for shift in ("0", "1"):
        out = tiny_root / f"out{shift}"
        summary = train_and_track(tiny_config(tiny_root, ["train.epochs=1", f"train.augment_shift={shift}"]), tiny_root,
                                  out, progress=False)
        run = MlflowClient(f"sqlite:///{tiny_root / 'mlflow.db'}").get_run(summary["run_id"])
        losses[shift], params[shift] = run.data.metrics["train/loss"], run.data.params
    assert params["1"]["train.augment_shift"] == "1" and "train.augment_shift" not in params["0"]
    assert losses["1"] != losses["0"]  # the same seed, batches and masks: only the images differ
