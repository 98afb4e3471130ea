"""Centred finite differences (float64) against the NumPy MLP's backward pass, every parameter."""
from __future__ import annotations

import numpy as np
import pytest

from mlpbench.backends.numpy_nn import MLP, SGD, CrossEntropyLoss, LeakyReLU, ReLU, Tanh
from mlpbench.model_options import ACTIVATIONS

EPS = 1e-6
TOL = 1e-6


def make_problem(activation: str, seed: int = 0) -> tuple[MLP, np.ndarray, np.ndarray]:
    """A 6 -> 5 -> 4 -> 10 float64 MLP with unit-scale weights and a batch of 8."""
    rng = np.random.default_rng(seed)
    model = MLP(6, (5, 4), 10, activation=activation, leaky_slope=0.1, dtype="float64")
    model.flat.data[:] = rng.normal(0.0, 0.7, model.flat.data.size)
    return model, rng.normal(size=(8, 6)), rng.integers(0, 10, 8)


def regularised_loss(model: MLP, x: np.ndarray, y: np.ndarray, wd: float) -> float:
    """Data loss + 0.5 wd ||p||^2 over ALL parameters: the objective whose gradient torch's L2 uses."""
    return CrossEntropyLoss()(model(x), y) + 0.5 * wd * float(np.sum(model.flat.data**2))


def kink_pattern(model: MLP) -> list[np.ndarray]:
    """Which inputs of the ReLU-like layers are > 0 in the last forward pass."""
    return [m._x > 0 for m in model.modules if isinstance(m, (ReLU, LeakyReLU))]


def numerical_gradient(model: MLP, x: np.ndarray, y: np.ndarray, wd: float) -> tuple[np.ndarray, np.ndarray]:
    """Centred differences of the regularised loss for every parameter, and which were usable.

    ReLU and leaky ReLU are not differentiable at 0. If nudging a parameter by +-EPS moves any
    pre-activation across 0, the difference quotient mixes the two one-sided slopes and says
    nothing about the gradient there, so that coordinate is marked unusable and skipped. (A
    pre-activation exactly at 0 in the unperturbed net would need the same treatment; with
    continuous random data it has probability 0.)
    """
    flat = model.flat.data
    model(x)
    base = kink_pattern(model)
    grad, usable = np.zeros_like(flat), np.ones(flat.size, dtype=bool)
    for j in range(flat.size):
        original = flat[j]
        values = []
        for step in (EPS, -EPS):
            flat[j] = original + step
            values.append(regularised_loss(model, x, y, wd))
            usable[j] &= all(np.array_equal(a, b) for a, b in zip(kink_pattern(model), base))
        flat[j] = original
        grad[j] = (values[0] - values[1]) / (2 * EPS)
    return grad, usable


def analytic_gradient(model: MLP, x: np.ndarray, y: np.ndarray, wd: float) -> np.ndarray:
    """The gradient the library steps along: backward, then SGD's L2 term (grad + wd * p).

    Read back from one plain SGD step with lr=1: p_before - p_after = grad + wd * p.
    """
    criterion = CrossEntropyLoss()
    criterion(model(x), y)
    model.backward(criterion.backward())
    before = model.flat.data.copy()
    SGD(model.flat_parameters(), lr=1.0, weight_decay=wd).step()
    direction = before - model.flat.data
    model.flat.data[:] = before
    return direction


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def parameter_errors(activation: str, wd: float) -> list[float]:
    """Relative error of the analytic gradient of each parameter tensor, over its usable coordinates."""
    model, x, y = make_problem(activation)
    numeric, usable = numerical_gradient(model, x, y, wd)
    analytic = analytic_gradient(model, x, y, wd)
    assert usable.mean() > 0.9, f"too many coordinates straddle a kink: {usable.mean():.2f} usable"
    errors, offset = [], 0
    for p in model.parameters():
        part = slice(offset, offset + p.data.size)
        offset += p.data.size
        keep = usable[part]
        assert keep.sum() > 0
        errors.append(relative_error(analytic[part][keep], numeric[part][keep]))
    return errors


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_every_parameter_matches_finite_differences(activation: str, wd: float) -> None:
    for i, err in enumerate(parameter_errors(activation, wd)):
        assert err <= TOL, f"{activation} wd={wd} parameter {i}: relative error {err:.2e}"


def test_gradcheck_detects_a_slightly_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: with Tanh's backward 1 % off, every parameter before it fails.

    The error is put into the library (not into the analytic vector), so this exercises the whole
    comparison: forward, backward through the model, the SGD read-back and the kink filter.
    """
    correct = Tanh.backward
    monkeypatch.setattr(Tanh, "backward", lambda self, grad: correct(self, grad) * 1.01)
    errors = parameter_errors("tanh", 0.0)
    # Linear0 W, b and Linear1 W, b sit below a Tanh; the output layer's W, b do not.
    assert all(err > 100 * TOL for err in errors[:4]), errors
    assert all(err <= TOL for err in errors[4:]), errors


def test_coordinates_straddling_a_relu_kink_are_skipped() -> None:
    """Put one hidden pre-activation 1e-9 from 0: its bias's +-EPS nudge crosses the kink."""
    model, x, y = make_problem("relu")
    first = model.linears()[0]
    z = x @ first.weight.data + first.bias.data
    first.bias.data[2] -= z[0, 2] - 1e-9  # sample 0, unit 2 now sits just above the kink
    _, usable = numerical_gradient(model, x, y, 0.0)
    bias_index = first.weight.data.size + 2
    assert not usable[bias_index]
    assert usable.mean() > 0.9
