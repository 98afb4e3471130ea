"""Element-wise activations, matching torch.nn's ReLU, LeakyReLU, Sigmoid, Tanh and GELU(tanh).

Each writes its output and its input gradient into its own reused buffers and keeps only the
last input (plus, where the derivative is cheaper from it, the last output).
"""
from __future__ import annotations

import math

import numpy as np

from .module import Module


class ReLU(Module):
    """max(x, 0); the derivative at exactly 0 is taken as 0, as in torch."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, features) -> same shape and dtype."""
        self._x = x
        # A row of zeros rather than the scalar 0: NumPy's maximum has a SIMD loop for array
        # operands but not for a scalar one, and this is 3-4x faster at (128, 512).
        zeros = self.workspace.get("zeros", (1, x.shape[1]), x.dtype)
        zeros.fill(0)
        return np.maximum(x, zeros, out=self.workspace.get("y", x.shape, x.dtype))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad_x = self.workspace.get("grad_x", grad.shape, grad.dtype)
        np.greater(self._x, 0, out=grad_x)  # 1.0 where x > 0, else 0.0
        return np.multiply(grad_x, grad, out=grad_x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x; derivative negative_slope at 0, as in torch."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        y = self.workspace.get("y", x.shape, x.dtype)
        np.multiply(x, self.negative_slope, out=y)
        # For slope <= 1 the larger of (x, slope*x) is the right branch; for slope > 1 the smaller.
        pick = np.maximum if self.negative_slope <= 1.0 else np.minimum
        return pick(x, y, out=y)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a = self.negative_slope
        grad_x = self.workspace.get("grad_x", grad.shape, grad.dtype)
        np.greater(self._x, 0, out=grad_x)  # 1.0 / 0.0
        grad_x *= 1.0 - a
        grad_x += a  # 1.0 where x > 0, a elsewhere
        return np.multiply(grad_x, grad, out=grad_x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which cannot overflow."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.workspace.get("y", x.shape, x.dtype)
        np.multiply(x, 0.5, out=y)
        np.tanh(y, out=y)
        y += 1.0
        y *= 0.5
        self._x, self._y = x, y
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """d sigmoid / dx = y (1 - y), from the cached output y = sigmoid(x)."""
        grad_x = self.workspace.get("grad_x", grad.shape, grad.dtype)
        np.subtract(1.0, self._y, out=grad_x)
        grad_x *= self._y
        return np.multiply(grad_x, grad, out=grad_x)


class Tanh(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._y = np.tanh(x, out=self.workspace.get("y", x.shape, x.dtype))
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """d tanh / dx = 1 - y**2, from the cached output y = tanh(x)."""
        grad_x = self.workspace.get("grad_x", grad.shape, grad.dtype)
        np.multiply(self._y, self._y, out=grad_x)
        np.subtract(1.0, grad_x, out=grad_x)
        return np.multiply(grad_x, grad, out=grad_x)


class GELU(Module):
    """GELU, tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x**3).

    Equals ``torch.nn.GELU(approximate="tanh")``. (NumPy has no erf, hence not the exact form.)
    """

    C = math.sqrt(2.0 / math.pi)
    K = 0.044715

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = self.workspace.get("tanh_u", x.shape, x.dtype)
        np.multiply(x, x, out=t)
        t *= self.K
        t += 1.0
        t *= x
        t *= self.C  # u = C (x + K x**3)
        np.tanh(t, out=t)
        y = self.workspace.get("y", x.shape, x.dtype)
        np.add(t, 1.0, out=y)
        y *= x
        y *= 0.5
        self._x, self._tanh_u = x, t
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """d/dx = 0.5 (1 + t) + 0.5 x (1 - t**2) C (1 + 3 K x**2), t = tanh(u) cached."""
        x, t = self._x, self._tanh_u
        grad_x = self.workspace.get("grad_x", grad.shape, grad.dtype)
        sech2 = self.workspace.get("sech2", grad.shape, grad.dtype)
        np.multiply(t, t, out=sech2)
        np.subtract(1.0, sech2, out=sech2)  # 1 - t**2
        np.multiply(x, x, out=grad_x)
        grad_x *= 3.0 * self.K
        grad_x += 1.0
        grad_x *= self.C
        grad_x *= x
        grad_x *= sech2  # x (1 - t**2) du/dx
        grad_x += t
        grad_x += 1.0
        grad_x *= 0.5
        return np.multiply(grad_x, grad, out=grad_x)


# name -> factory(leaky_slope); the names are those of mlpbench.model_options.ACTIVATIONS.
ACTIVATIONS = {
    "relu": lambda slope: ReLU(),
    "leaky_relu": LeakyReLU,
    "sigmoid": lambda slope: Sigmoid(),
    "tanh": lambda slope: Tanh(),
    "gelu": lambda slope: GELU(),
}


def make_activation(name: str, leaky_slope: float = 0.01) -> Module:
    """The activation module for a name in ``ACTIVATIONS`` (``leaky_slope`` is leaky_relu's)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is unknown; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name](leaky_slope)
