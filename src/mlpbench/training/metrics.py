"""Classification metrics on label arrays."""
from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Share of ``pred`` (n,) equal to ``y`` (n,)."""
    return float(np.mean(np.asarray(pred) == np.asarray(y))) if len(y) else 0.0


def confusion_matrix(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rows: true label, columns: predicted label."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    return np.bincount(y * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)
