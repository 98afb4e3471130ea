"""Building blocks shared by every NumPy layer: Parameter, Module, Sequential, Workspace.

The API copies PyTorch's names so the NumPy MLP reads side by side with the torch one. Two
differences, both for speed, are worth knowing:

* ``backward`` *writes* ``Parameter.grad`` (torch accumulates into it), so a training step needs
  no ``zero_grad()``; the method exists for parity and for tests.
* ``forward``/``backward`` return views into buffers the module reuses on its next call (see
  ``Workspace``); copy a result if you need it after the next call.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np


class Parameter:
    """A trainable array and its gradient, both of the same shape and dtype.

    Parameters
    ----------
    data : np.ndarray
        The values; in an ``MLP`` a view into the model's single flat parameter array.
    grad : np.ndarray, optional
        The gradient buffer; zeros of ``data``'s shape if omitted.
    """

    def __init__(self, data: np.ndarray, grad: np.ndarray | None = None) -> None:
        self.data = data
        self.grad = np.zeros_like(data) if grad is None else grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape


class Workspace:
    """Named scratch arrays reused across calls, so steady-state training allocates nothing.

    ``get(name, shape, dtype)`` returns the first ``shape[0]`` rows of an array kept under
    ``name``, allocating a larger one only when the row count grows or the trailing shape or
    dtype changes (e.g. the smaller last batch reuses the full-batch buffer).
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape[0] < shape[0] or array.shape[1:] != shape[1:] or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array[: shape[0]]


class Module:
    """Base class: ``y = module(x)`` runs ``forward``; ``backward(grad_y)`` returns ``grad_x``."""

    training: bool = True

    def __init__(self) -> None:
        self.training = True
        self.workspace = Workspace()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad.fill(0)


class Sequential(Module):
    """Runs modules in order; ``backward`` runs their backward passes in reverse order."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.modules = list(modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, i: int) -> Module:
        return self.modules[i]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self.modules:
            x = module(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        for module in reversed(self.modules):
            grad = module.backward(grad)
        return grad

    def parameters(self) -> list[Parameter]:
        return [p for module in self.modules for p in module.parameters()]

    def train(self, mode: bool = True) -> Sequential:
        super().train(mode)
        for module in self.modules:
            module.train(mode)
        return self
