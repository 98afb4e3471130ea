"""What the data tests need to know about the data set, read from the real conf/ (never restated).

Deliberately not a conftest.py: a second conftest module here would shadow tests/conftest.py for
``from conftest import ...`` (see tests/backends/backend_helpers.py).
"""
from __future__ import annotations

import functools
from pathlib import Path

from mlpbench.compose import compose
from mlpbench.config import DataConfig
from mlpbench.config.data import load_data

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def mnist() -> DataConfig:
    """``conf/data/mnist.yaml`` composed and validated: files, image_shape, num_classes, download, split.

    One shared instance: read it, never change it.
    """
    return load_data(compose(PROJECT_ROOT, ["data=mnist"]))


def raw_name(role: str) -> str:
    """The file name the config gives ``role`` (train_images, train_labels, test_images, test_labels)."""
    return getattr(mnist().files, role).name
