"""Fused softmax + cross-entropy on logits, like ``torch.nn.CrossEntropyLoss`` (mean reduction).

The loss is computed from log-sum-exp with the row maximum subtracted first, so no ``exp`` can
overflow and no ``log`` sees 0: logits of +-1e4 give a finite loss and gradient. The model never
applies a softmax itself (softmax followed by this loss would apply it twice).
"""
from __future__ import annotations

import numpy as np

from .module import Workspace


class CrossEntropyLoss:
    """``loss = criterion(logits, target)`` then ``grad_logits = criterion.backward()``."""

    def __init__(self) -> None:
        self.workspace = Workspace()
        self._probs: np.ndarray | None = None
        self._target: np.ndarray | None = None
        self._arange = np.arange(0)

    def __call__(self, logits: np.ndarray, target: np.ndarray) -> float:
        return self.forward(logits, target)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        """Mean cross-entropy.

        Parameters
        ----------
        logits : (batch, classes) float array
        target : (batch,) int array of class indices

        Returns
        -------
        float
            ``mean(logsumexp(logits) - logits[i, target[i]])``.
        """
        n = len(logits)
        ws = self.workspace
        shifted = ws.get("shifted", logits.shape, logits.dtype)
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=shifted)
        probs = np.exp(shifted, out=ws.get("probs", logits.shape, logits.dtype))
        sums = probs.sum(axis=1, keepdims=True)  # in [1, classes]: the max term is exp(0)
        probs /= sums  # softmax, kept for backward
        rows = self._rows(n)
        loss = np.log(sums).sum() - shifted[rows, target].sum()  # sum of logsumexp - logit[target]
        self._probs, self._target = probs, target
        return float(loss) / n

    def _rows(self, n: int) -> np.ndarray:
        """0..n-1, cached: row indices that pair each row with its target column."""
        if len(self._arange) < n:
            self._arange = np.arange(n)
        return self._arange[:n]

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss w.r.t. the logits: (softmax - onehot) / batch, (batch, classes)."""
        probs, target = self._probs, self._target
        n = probs.shape[0]
        grad = self.workspace.get("grad", probs.shape, probs.dtype)
        np.copyto(grad, probs)
        grad[self._rows(n), target] -= 1.0
        grad *= 1.0 / n
        return grad
