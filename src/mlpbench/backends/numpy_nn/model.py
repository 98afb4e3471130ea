"""The NumPy MLP: Linear -> activation [-> Dropout] -> ... -> Linear (logits, no softmax).

All weights and biases are views into ONE contiguous array (``flat_parameters()``), and all their
gradients into one gradient array, so an optimizer step is a few whole-array operations. Each
layer's weight is followed by its bias there, so the pair is also one ``(fan_in + 1, fan_out)``
matrix, which lets a Linear fold its bias into its GEMMs when its input carries a column of ones.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .activations import make_activation
from .layers import Dropout, Linear, ReLUDropout
from .module import Parameter, Sequential, Workspace


def _layer_sizes(in_features: int, hidden_sizes: Sequence[int], out_features: int) -> list[tuple[int, int]]:
    sizes = [in_features, *hidden_sizes, out_features]
    return list(zip(sizes[:-1], sizes[1:]))


class MLP(Sequential):
    """Multi-layer perceptron mirroring the torch backend's ``MLP``.

    Parameters
    ----------
    in_features, out_features : int
        Input width (784 for MNIST) and number of logits (10).
    hidden_sizes : sequence of int
        Width of each hidden layer.
    activation : str
        relu, leaky_relu, sigmoid, tanh or gelu (tanh approximation).
    dropout : float
        Drop probability after each hidden activation; 0 adds no Dropout layers.
    leaky_slope : float
        Negative slope of leaky_relu.
    dtype : str
        float32 or float64, for parameters and every buffer.
    rng : np.random.Generator, optional
        Source of the dropout masks; required when dropout > 0.
    fold_bias : bool
        With relu and dropout > 0, add the hidden layers' biases inside their GEMMs (see
        ``forward``). Equal up to rounding; False keeps the separate bias add, for comparisons.

    The weights start at zero; set them with ``load_params``. With relu and dropout > 0 each
    ReLU + Dropout pair is one ``ReLUDropout`` module working in place (same numbers, fewer passes),
    and the model folds the biases into the GEMMs (see ``forward``).
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        leaky_slope: float = 0.01,
        dtype: str = "float32",
        rng: np.random.Generator | None = None,
        fold_bias: bool = True,
    ) -> None:
        if dropout > 0 and rng is None:
            raise ValueError("MLP with dropout > 0 needs rng=np.random.default_rng(seed) for the masks")
        shapes = _layer_sizes(in_features, hidden_sizes, out_features)
        total = sum(fan_in * fan_out + fan_out for fan_in, fan_out in shapes)
        self.flat = Parameter(np.zeros(total, dtype))
        modules = []
        offset = 0
        for i, (fan_in, fan_out) in enumerate(shapes):
            weight_bias = self._view(offset, (fan_in + 1, fan_out))
            offset += (fan_in + 1) * fan_out
            modules.append(Linear(fan_in, fan_out, input_grad=i > 0, weight_bias=weight_bias))
            if i == len(shapes) - 1:
                break  # the output layer: logits, no activation
            if activation == "relu" and dropout > 0:
                # = ReLU then Dropout in fewer passes, in place over the Linear's output buffer
                modules.append(ReLUDropout(dropout, rng, inplace=True))
            else:
                modules.append(make_activation(activation, leaky_slope))
                if dropout > 0:
                    modules.append(Dropout(dropout, rng))  # not in place: sigmoid/tanh keep their output
        super().__init__(*modules)
        # Only an in-place activation leaves its output where a column of ones can follow it.
        self.fold_bias = fold_bias and activation == "relu" and dropout > 0
        self._with_ones = Workspace()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, in_features), or (batch, in_features + 1) whose last column is ones -> logits.

        Given the column of ones (``NumpyBackend.load`` appends it to the data), the first layer
        adds its bias inside its GEMM. With ``fold_bias`` every hidden Linear writes into all but
        the last column of a buffer whose last column is ones, the in-place ReLUDropout keeps its
        output there, and the next Linear takes the whole buffer: its bias too rides in its GEMMs.
        (In eval mode ReLUDropout is a ReLU with its own output buffer, which the next Linear
        then takes without the ones.)
        """
        if not self.fold_bias:
            return super().forward(x)
        *hidden, last = self.linears()
        for i, (linear, activation) in enumerate(zip(hidden, self.modules[1::2])):
            with_ones = self._with_ones.get(f"layer{i}", (len(x), linear.out_features + 1), self.flat.data.dtype)
            with_ones[:, -1] = 1
            y = activation(linear.forward(x, out=with_ones[:, :-1]))
            x = with_ones if np.may_share_memory(y, with_ones) else y
        return last(x)

    def _view(self, offset: int, shape: tuple[int, ...]) -> Parameter:
        """A Parameter whose data and grad are views into the flat arrays, starting at offset."""
        size = int(np.prod(shape))
        data = self.flat.data[offset : offset + size].reshape(shape)
        grad = self.flat.grad[offset : offset + size].reshape(shape)
        return Parameter(data, grad)

    def linears(self) -> list[Linear]:
        return [m for m in self.modules if isinstance(m, Linear)]

    def flat_parameters(self) -> list[Parameter]:
        """One Parameter covering every weight and bias: what the optimizer should step."""
        return [self.flat]

    def load_params(self, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy (weight (fan_in, fan_out), bias (fan_out,)) pairs into the layers, casting dtype."""
        linears = self.linears()
        if len(params) != len(linears):
            raise ValueError(
                f"got {len(params)} (weight, bias) pairs for an MLP with {len(linears)} Linear layers"
            )
        for i, (linear, (w, b)) in enumerate(zip(linears, params)):
            if w.shape != linear.weight.shape or b.shape != linear.bias.shape:
                raise ValueError(
                    f"layer {i}: got weight {w.shape} and bias {b.shape}; expected "
                    f"{linear.weight.shape} and {linear.bias.shape}"
                )
            linear.weight.data[...] = w
            linear.bias.data[...] = b
