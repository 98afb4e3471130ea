"""Random translations of the training images (mlpbench.data.augment) and the loop that draws them."""
from __future__ import annotations

import numpy as np
import pytest

from mlpbench.compose import compose
from mlpbench.config.load import load
from mlpbench.data.augment import Shift, shift_for, shift_images

from support import PROJECT_ROOT


def moved(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` (h, w) moved down dy and right dx pixels, zeros where nothing moved in: an independent
    reference built from np.roll and a mask of the wrapped-around pixels."""
    h, w = image.shape
    rolled = np.roll(image, (dy, dx), axis=(0, 1))
    rows, cols = np.arange(h)[:, None] - dy, np.arange(w)[None, :] - dx
    return np.where((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w), rolled, 0)


def test_each_row_moves_by_its_own_shift_and_the_border_is_zero():
    rng = np.random.default_rng(0)
    x = rng.random((7, 5 * 6), dtype=np.float32) + 1  # no zero pixel: a zero in the output is border
    shifts = np.array([[0, 0], [1, 0], [0, -2], [-1, 1], [2, 2], [-2, -1], [1, 0]])
    out = shift_images(x, (5, 6), shifts)
    assert out.shape == x.shape and out.dtype == x.dtype
    for row, (dy, dx) in zip(range(7), shifts):
        np.testing.assert_array_equal(out[row].reshape(5, 6), moved(x[row].reshape(5, 6), dy, dx))
    np.testing.assert_array_equal(out[0], x[0])  # (0, 0) is a copy
    assert np.count_nonzero(out[4] == 0) == 5 * 6 - 3 * 4  # two rows and two columns uncovered


def test_the_draws_are_seeded_uniform_and_leave_the_input_alone():
    x = np.zeros((9000, 28 * 28), np.float32)
    x[:, 14 * 28 + 14] = 1  # one lit pixel in the middle of each image: where it lands is the shift
    before = x.copy()
    augment = Shift((28, 28), 1)
    first, again = augment(x, augment.rng(3)), augment(x, augment.rng(3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, augment(x, augment.rng(4)))
    np.testing.assert_array_equal(x, before)
    landed = first.argmax(axis=1)
    dy, dx = landed // 28 - 14, landed % 28 - 14
    counts = np.bincount((dy + 1) * 3 + (dx + 1), minlength=9)
    assert counts.sum() == 9000 and counts.min() > 850 and counts.max() < 1150  # 1000 each expected; sd ~30
    assert augment.rng(0).integers(1 << 30) != np.random.default_rng(0).integers(1 << 30)  # a stream of its own


def test_no_shift_means_no_augmentation_and_bad_shapes_are_refused():
    configs = {shift: load(compose(PROJECT_ROOT, [f"train.augment_shift={shift}"])) for shift in (0, 2)}
    assert shift_for(configs[0]) is None
    assert shift_for(configs[2]) == Shift((28, 28), 2)
    with pytest.raises(ValueError, match=r"\(n, 784\) rows of 28x28 images"):
        shift_images(np.zeros((3, 785), np.float32), (28, 28), np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="a shift of 28 pixels for 28x28 images, which would move them out of sight"):
        shift_images(np.zeros((2, 784), np.float32), (28, 28), np.array([[0, 1], [-28, 0]]))
