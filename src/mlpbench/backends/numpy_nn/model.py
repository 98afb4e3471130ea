"""The NumPy MLP: [InputDropout ->] Linear -> activation [-> Dropout] -> ... -> Linear (logits, no softmax).

All weights and biases are views into ONE contiguous array (``flat_parameters()``), and all their
gradients into one gradient array, so an optimizer step is a few whole-array operations. Each
layer's weight is followed by its bias there, so the pair is also one ``(fan_in + 1, fan_out)``
matrix, which lets a Linear fold its bias into its GEMMs when its input carries a column of ones.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .activations import make_activation
from .layers import Dropout, InputDropout, Linear, ReLUDropout
from .module import Parameter, Sequential


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
    input_dropout : float
        Drop probability of each input feature (``InputDropout``, first); 0 adds no module and draws nothing.
    dtype : str
        float32 or float64, for parameters and every buffer.
    rng : np.random.Generator, optional
        Source of the dropout masks; required when dropout or input_dropout > 0. The input's mask is
        drawn first, then the hidden layers' in order.

    The weights start at zero; set them with ``load_params``. With relu and dropout > 0 each
    ReLU + Dropout pair is one ``ReLUDropout`` module working in place (same numbers, fewer passes).

    The input may be (batch, in_features) or, as ``NumpyBackend.load`` prepares the data,
    (batch, in_features + 1) with a last column of ones: the first Linear then adds its bias inside
    its GEMMs. The hidden layers keep the separate bias add: their outputs would need the ones
    column too, and the element-wise passes over such a buffer's strided rows (ReLU test, dropout
    product) cost more here than the bias add and bias-gradient product they save.
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
        input_dropout: float = 0.0,
        dtype: str = "float32",
        rng: np.random.Generator | None = None,
    ) -> None:
        if (dropout > 0 or input_dropout > 0) and rng is None:
            raise ValueError("MLP with dropout or input_dropout > 0 needs rng=np.random.default_rng(seed) for the "
                             "masks")
        shapes = _layer_sizes(in_features, hidden_sizes, out_features)
        total = sum(fan_in * fan_out + fan_out for fan_in, fan_out in shapes)
        self.flat = Parameter(np.zeros(total, dtype))
        modules: list = [InputDropout(input_dropout, rng, in_features)] if input_dropout > 0 else []
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

    def _view(self, offset: int, shape: tuple[int, ...]) -> Parameter:
        """A Parameter whose data and grad are views into the flat arrays, starting at offset."""
        size = int(np.prod(shape))
        data = self.flat.data[offset : offset + size].reshape(shape)
        grad = self.flat.grad[offset : offset + size].reshape(shape)
        return Parameter(data, grad)

    def linears(self) -> list[Linear]:
        return [m for m in self.modules if isinstance(m, Linear)]

    def max_norm_(self, max_norm: float) -> None:
        """Rescale each hidden unit's incoming weight vector (its column of the layer's weight, bias aside)
        to L2 norm ``max_norm`` where it is longer, by max_norm / (norm + 1e-7): what
        ``torch.renorm(weight, 2, 0, max_norm)`` does to the rows of torch's (out, in) weight. The output
        layer is left free, as in Srivastava et al. 2014 (see conf/model/mlp.yaml). Call after each
        optimizer step.
        """
        for linear in self.linears()[:-1]:
            w = linear.weight.data  # (fan_in, fan_out): a unit's incoming weights are a column
            norms = linear.workspace.get("norms", (w.shape[1],), w.dtype)
            np.sqrt(np.einsum("ij,ij->j", w, w, out=norms), out=norms)
            over = norms > max_norm
            if over.any():
                w *= np.where(over, max_norm / (norms + 1e-7), w.dtype.type(1))

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
