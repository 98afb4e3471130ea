"""Layers with parameters or randomness: Linear, (inverted) Dropout and ReLU fused with Dropout."""
from __future__ import annotations

import numpy as np

from .activations import ReLU
from .module import Module, Parameter


class Linear(Module):
    """Affine map ``y = x @ weight + bias``, like ``torch.nn.Linear``.

    The weight is stored ``(in_features, out_features)``, the transpose of torch's layout, so the
    forward pass is a plain row-major GEMM. Weight and bias are two views into one
    ``(in_features + 1, out_features)`` array, ``weight_bias``: the weight's rows, then the bias as
    the last row. Given an input with an extra last column of ones, ``[x, 1] @ weight_bias`` is
    ``x @ weight + bias`` and ``[x, 1].T @ grad`` stacks the weight gradient on the bias gradient,
    so one GEMM each way does what would otherwise take a GEMM plus a pass over the output (the
    bias add) or a matrix-vector product (the bias gradient).

    Parameters
    ----------
    in_features, out_features : int
        Widths of the input and the output.
    dtype : str
        Array dtype when ``weight_bias`` is not given.
    input_grad : bool
        Whether ``backward`` computes the gradient of the input. The first layer of a network sets
        it False: nothing needs the gradient of the data, and skipping it saves one GEMM per step.
    weight_bias : Parameter, optional
        An existing ``(in_features + 1, out_features)`` Parameter holding the weight's rows then the
        bias (e.g. a view into a model's flat array); zeros if omitted.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dtype: str = "float32",
        input_grad: bool = True,
        weight_bias: Parameter | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.input_grad = input_grad
        if weight_bias is None:
            weight_bias = Parameter(np.zeros((in_features + 1, out_features), dtype))
        if weight_bias.shape != (in_features + 1, out_features):
            raise ValueError(
                f"Linear({in_features}, {out_features}) got weight_bias {weight_bias.shape}; expected "
                f"({in_features + 1}, {out_features}): the weight's rows, then the bias"
            )
        self.weight_bias = weight_bias
        self.weight = Parameter(weight_bias.data[:in_features], weight_bias.grad[:in_features])
        self.bias = Parameter(weight_bias.data[in_features], weight_bias.grad[in_features])
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, in_features) -> (batch, out_features), both of the weight's dtype.

        x may instead be (batch, in_features + 1) with a last column of ones (not checked): the
        bias then rides in the GEMM.
        """
        self._x = x
        y = self.workspace.get("y", (len(x), self.out_features), self.weight.data.dtype)
        if self._with_ones(x):
            return np.matmul(x, self.weight_bias.data, out=y)
        np.matmul(x, self.weight.data, out=y)
        y += self.bias.data
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        """grad: (batch, out_features) -> (batch, in_features), or None if ``input_grad`` is False.

        Writes ``weight.grad = x.T @ grad`` and ``bias.grad = grad.sum(0)``.
        """
        x = self._x
        if self._with_ones(x):
            np.matmul(x.T, grad, out=self.weight_bias.grad)  # the ones column's row: grad.sum(0)
        else:
            np.matmul(x.T, grad, out=self.weight.grad)
            # The column sums as ones @ grad: BLAS's matrix-vector product beats NumPy's
            # sum(axis=0), which costs ~13 us per call at any size.
            ones = self.workspace.get("ones", (len(grad),), grad.dtype)
            ones.fill(1)
            np.matmul(ones, grad, out=self.bias.grad)
        if not self.input_grad:
            return None
        grad_x = self.workspace.get("grad_x", (len(grad), self.in_features), grad.dtype)
        np.matmul(grad, self.weight.data.T, out=grad_x)
        return grad_x

    def _with_ones(self, x: np.ndarray) -> bool:
        """Whether x carries the extra column of ones, i.e. is (batch, in_features + 1)."""
        return x.shape[1] == self.in_features + 1

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]


class Dropout(Module):
    """Inverted dropout, like ``torch.nn.Dropout``.

    In training mode each element is zeroed with probability ``p`` and the survivors are scaled by
    ``1 / (1 - p)``, so the expected output equals the input and eval mode is the identity.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1).
    rng : np.random.Generator
        Source of the masks.
    inplace : bool
        As in torch: ``forward`` overwrites its input with the output, and here ``backward``
        overwrites the incoming gradient too. Saves two buffers and their cache traffic where
        nothing else reads those arrays again (``MLP``: the preceding Linear's output).
    """

    def __init__(self, p: float, rng: np.random.Generator, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p={p!r} is invalid; it must be in [0, 1)")
        self.p, self.rng, self.inplace = float(p), rng, inplace
        # Drawing the random bits is most of dropout's cost, so masks use as few as they can. In
        # general each element gets a 16-bit random integer, four per raw 64-bit draw of the
        # generator (a quarter of the cost of random floats), and drops when it is below
        # `threshold`, i.e. with probability threshold / 2**16, within 2**-17 of p. When p is 1/4,
        # 1/2 or 3/4, two random bits per element decide exactly, for an eighth of the draws.
        # Survivors are scaled to keep the expectation exact.
        self.threshold = round(self.p * 2**16)
        self.two_bits = (4 * self.p).is_integer()
        self.scale = 1.0 / (1.0 - self.threshold / 2**16)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, features) -> same shape; returns ``x`` itself in eval mode or when p == 0."""
        if not self.training or self.threshold == 0:
            self._mask = None
            return self._unmasked(x)
        mask = self.workspace.get("mask", x.shape, x.dtype)
        self._mask = np.multiply(self._keep(x), x.dtype.type(self.scale), out=mask)  # scale or 0
        return np.multiply(x, mask, out=x if self.inplace else self.workspace.get("y", x.shape, x.dtype))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """grad: (batch, features) -> same shape: the upstream gradient through the same mask."""
        if self._mask is None:
            return self._unmasked_backward(grad)
        grad_x = grad if self.inplace else self.workspace.get("grad_x", grad.shape, grad.dtype)
        return np.multiply(grad, self._mask, out=grad_x)

    def _keep(self, x: np.ndarray) -> np.ndarray:
        """This step's draws as a boolean array of x's shape: True = kept."""
        if self.two_bits:
            # Bit i of the first half of the draws and bit i of the second half decide element i:
            # kept when either is set (p = 1/4), when both are (p = 3/4), or by the first (p = 1/2).
            # Combining whole 64-bit words before unpacking writes one byte per element, not three.
            words = -(-x.size // 64)
            raw = self.rng.bit_generator.random_raw(2 * words)
            first, second = raw[:words], raw[words:]
            if self.p != 0.5:
                (np.bitwise_or if self.p == 0.25 else np.bitwise_and)(first, second, out=first)
            return np.unpackbits(first.view(np.uint8), count=x.size).reshape(x.shape).view(bool)
        keep = self.workspace.get("keep", x.shape, np.dtype(bool))
        raw = self.rng.bit_generator.random_raw(-(-x.size // 4))  # 16 bits each, 4 per draw
        return np.greater_equal(raw.view(np.uint16)[: x.size].reshape(x.shape), self.threshold, out=keep)

    def _unmasked(self, x: np.ndarray) -> np.ndarray:
        """Forward without a mask (eval mode or p == 0): the identity."""
        return x

    def _unmasked_backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class ReLUDropout(Dropout):
    """``ReLU`` followed by ``Dropout(p)`` as one module, with one mask for both.

    An element survives when it is positive *and* its dropout draw keeps it: y = x * scale there,
    0 elsewhere. The output and the input gradient equal ``Dropout(p, rng)(ReLU()(x))`` and its
    backward bit for bit (same draws from ``rng``), but the ReLU's own forward pass and its two
    backward passes over the activations are gone. ``MLP`` uses it for relu with dropout > 0.
    """

    def __init__(self, p: float, rng: np.random.Generator, inplace: bool = False) -> None:
        super().__init__(p, rng, inplace)
        self.relu = ReLU()

    def _keep(self, x: np.ndarray) -> np.ndarray:
        """Kept by the draw and positive, so the mask is ReLU's too."""
        keep = super()._keep(x)
        positive = self.workspace.get("positive", x.shape, np.dtype(bool))
        return np.logical_and(keep, np.greater(x, 0, out=positive), out=keep)

    def _unmasked(self, x: np.ndarray) -> np.ndarray:
        return self.relu.forward(x)

    def _unmasked_backward(self, grad: np.ndarray) -> np.ndarray:
        return self.relu.backward(grad)


class InputDropout(Dropout):
    """``Dropout(p)`` on a network's input: the data's own columns only, and no input gradient.

    ``NumpyBackend.load`` gives the data a last column of ones (the first Linear's bias rides in its
    GEMMs, see ``Linear``): that column passes through unmasked. The output is a new array (the
    caller's input is left alone); ``backward`` returns None, as the first Linear does: nothing
    needs the gradient of the data. Same draws from ``rng`` as ``Dropout`` on the data's columns.

    Parameters
    ----------
    p, rng : as ``Dropout``.
    features : int
        The data's own columns (784 for MNIST); an input with more has them first.
    """

    def __init__(self, p: float, rng: np.random.Generator, features: int) -> None:
        super().__init__(p, rng)
        self.features = features

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, features) or (batch, features + 1) with ones last -> a masked copy, or x in eval mode."""
        if not self.training or self.threshold == 0:
            self._mask = None
            return x
        data = x[:, : self.features]
        mask = self.workspace.get("mask", data.shape, x.dtype)
        self._mask = np.multiply(self._keep(data), x.dtype.type(self.scale), out=mask)
        y = self.workspace.get("y", x.shape, x.dtype)
        np.multiply(data, mask, out=y[:, : self.features])
        y[:, self.features :] = x[:, self.features :]
        return y

    def backward(self, grad: np.ndarray | None) -> None:
        return None
