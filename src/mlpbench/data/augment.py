"""Data augmentation: the training images translated at random, drawn anew every epoch.

Each image moves by a whole number of pixels ``(dy, dx)``, each drawn uniformly from
``[-max_shift, max_shift]``; the border it uncovers is 0, the background of pixels scaled to [0, 1].
Small translations are the augmentation the best MLP results on MNIST rely on (a fully connected
net, unlike a convolutional one, has to learn every position of a stroke separately).

The training loop draws the shifts (``mlpbench.training.engine.fit``) from a generator seeded by the
run's seed, independent of the batch order's and of dropout's, so two backends given the same seed
train on the same shifted images and their comparison stays paired.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.config.schema import Config

# The shifts come from default_rng([AUGMENT_STREAM, seed]): a stream of its own, so switching
# augmentation on changes neither the batch order nor the dropout masks of a seed.
AUGMENT_STREAM = 0xA06


@dataclass(frozen=True)
class Shift:
    """Random translations by up to ``max_shift`` pixels of images of ``image_shape`` (height, width)."""

    image_shape: tuple[int, int]
    max_shift: int

    def rng(self, seed: int) -> np.random.Generator:
        """The generator of the shifts of a run seeded with ``seed``."""
        return np.random.default_rng([AUGMENT_STREAM, seed])

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x: (n, height * width) -> a new array of the same shape and dtype, each row shifted by its own
        (dy, dx), uniform integers in [-max_shift, max_shift] drawn as one (n, 2) array from ``rng``."""
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, size=(len(x), 2))
        return shift_images(x, self.image_shape, shifts)


def shift_for(cfg: Config) -> Shift | None:
    """The augmentation a run's config asks for (``train.augment_shift`` of images of ``data.image_shape``,
    both checked by the config's validation), or None when it is 0."""
    if not cfg.train.augment_shift:
        return None
    height, width = cfg.data.image_shape
    return Shift((int(height), int(width)), int(cfg.train.augment_shift))


def shift_images(x: np.ndarray, image_shape: tuple[int, int], shifts: np.ndarray) -> np.ndarray:
    """Every row of x (n, height * width), as an image, translated by its row of shifts (n, 2) int.

    A row's (dy, dx): positive dy moves the image down, positive dx right; uncovered pixels are 0.
    Returns a new (n, height * width) array of x's dtype.
    """
    height, width = image_shape
    if x.ndim != 2 or x.shape[1] != height * width or shifts.shape != (len(x), 2):
        raise ValueError(f"shift_images expects (n, {height * width}) rows of {height}x{width} images and (n, 2) "
                         f"shifts; got {x.shape} and {shifts.shape}")
    n, max_shift = len(x), int(np.abs(shifts).max(initial=0))
    if max_shift >= min(height, width):
        raise ValueError(f"shift_images got a shift of {max_shift} pixels for {height}x{width} images, which would "
                         f"move them out of sight; give shifts below {min(height, width)}")
    side = 2 * max_shift + 1
    images, out = x.reshape(n, height, width), np.zeros((n, height, width), x.dtype)
    # One block copy per distinct shift, over the rows that drew it.
    codes = (shifts[:, 0] + max_shift) * side + (shifts[:, 1] + max_shift)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(side * side + 1))
    for code in range(side * side):
        rows = order[bounds[code]:bounds[code + 1]]
        if len(rows):
            dy, dx = code // side - max_shift, code % side - max_shift
            (dst_y, src_y), (dst_x, src_x) = _spans(dy, height), _spans(dx, width)
            out[rows, dst_y, dst_x] = images[rows, src_y, src_x]
    return out.reshape(n, height * width)


def _spans(shift: int, size: int) -> tuple[slice, slice]:
    """(destination, source) slices along an axis of ``size`` pixels for a move by ``shift``."""
    if shift >= 0:
        return slice(shift, size), slice(0, size - shift)
    return slice(0, size + shift), slice(-shift, size)
