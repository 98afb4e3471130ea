"""Input dropout and the max-norm constraint: NumPy against torch with the same masks, and off changes nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mlpbench.backends import numpy_backend
from mlpbench.backends.build import make_backend
from mlpbench.backends.numpy_nn import MLP, Dropout, InputDropout, ReLUDropout
from mlpbench.config.load import load

from backend_helpers import build_config, composed, make_params, random_data

NESTEROV = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}


class FixedMask(torch.nn.Module):
    """Multiplies by ``mask``, set before each step: torch's nn.Dropout with the NumPy backend's draw."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


def twin_backends(dtype: str, **model):
    """Both backends (30 -> 24 -> 16 -> 10, Nesterov) from the same weights; torch's dropouts become
    ``FixedMask``s and NumPy's dropout modules are returned in the same order."""
    cfgs = {name: build_config(name, model={"hidden_sizes": (24, 16), **model}, optim=NESTEROV,
                               train={"dtype": dtype, "device": "cpu"}) for name in ("numpy", "torch")}
    params = make_params(cfgs["numpy"], in_features=30)
    ours, theirs = (make_backend(cfgs[name], params) for name in ("numpy", "torch"))
    masked = [m for m in ours.model if isinstance(m, Dropout)]
    fixed = []
    for i, module in enumerate(theirs.module):
        if isinstance(module, torch.nn.Dropout):
            theirs.module[i] = FixedMask()
            fixed.append(theirs.module[i])
    assert len(masked) == len(fixed)
    return ours, theirs, list(zip(masked, fixed))


def column_norms(state: dict[str, np.ndarray], layer: int) -> np.ndarray:
    return np.linalg.norm(state[f"layers.{layer}.weight"].astype(np.float64), axis=0)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_steps_with_input_dropout_dropout_and_max_norm_match_torch(dtype: str, tol: float) -> None:
    """Three Nesterov steps (the last batch short) with input dropout 0.2, hidden dropout 0.5 and max_norm
    1.3 (He init gives columns of norm about 1.4: the bound bites from the first step), torch's dropouts
    multiplying by the masks NumPy drew: the same losses and weights after every step."""
    max_norm = 1.3
    ours, theirs, masks = twin_backends(dtype, input_dropout=0.2, dropout=0.5, max_norm=max_norm)
    assert isinstance(masks[0][0], InputDropout) and all(isinstance(m, ReLUDropout) for m, _ in masks[1:])
    x, y = random_data(48, 30, seed=2)
    data, torch_data = ours.load(x, y), theirs.load(x, y)
    for step, idx in enumerate((np.arange(0, 20), np.arange(20, 40), np.arange(40, 48))):
        loss, correct = ours.train_step(data, idx)
        for numpy_dropout, torch_mask in masks:
            torch_mask.mask = torch.from_numpy(numpy_dropout._mask.copy())
        torch_loss, torch_correct = theirs.train_step(torch_data, idx)
        assert loss == pytest.approx(torch_loss, rel=tol) and correct == torch_correct
        state, torch_state = ours.state_dict(), theirs.state_dict()
        for key in state:
            np.testing.assert_allclose(state[key], torch_state[key], rtol=0, atol=tol, err_msg=f"step {step} {key}")
        for layer in (0, 1):  # every hidden unit within the bound, some of them held at it
            norms = column_norms(state, layer)
            assert norms.max() <= max_norm * (1 + tol)
            held = np.isclose(norms, max_norm, rtol=max(tol, 1e-6), atol=0)  # renorm ends 1e-7 / norm short
            assert held.any(), f"step {step} layer {layer}: {norms}"
        assert column_norms(state, 2).max() > max_norm  # the output layer is left free
    dropped = masks[0][0]._mask == 0
    assert 0.05 < dropped.mean() < 0.4  # about input_dropout of the 8 x 30 pixels


def test_max_norm_is_torch_renorm_on_the_hidden_weights_only() -> None:
    """Columns longer than the bound end at max_norm / (norm + 1e-7) * norm as torch.renorm_ leaves them;
    shorter ones, every bias and the output layer are untouched, bit for bit."""
    rng = np.random.default_rng(0)
    model = MLP(12, (9, 7), 5, dtype="float64")
    model.flat.data[:] = rng.normal(0, 1.0, model.flat.data.size)
    before = [(lin.weight.data.copy(), lin.bias.data.copy()) for lin in model.linears()]
    max_norm = float(np.median(np.linalg.norm(before[0][0], axis=0)))
    model.max_norm_(max_norm)
    for i, (linear, (w, b)) in enumerate(zip(model.linears(), before)):
        np.testing.assert_array_equal(linear.bias.data, b)
        if i == 2:
            np.testing.assert_array_equal(linear.weight.data, w)
            continue
        expected = torch.from_numpy(w.T.copy()).renorm_(2, 0, max_norm).numpy().T
        np.testing.assert_allclose(linear.weight.data, expected, rtol=1e-15, atol=0)
        longer = np.linalg.norm(w, axis=0) > max_norm
        assert longer.any() and not longer.all()
        np.testing.assert_array_equal(linear.weight.data[:, ~longer], w[:, ~longer])


@pytest.mark.parametrize("p", [0.2, 0.25])  # 16-bit draws; two bits per element
def test_input_dropout_masks_the_data_columns_only_with_dropouts_draws(p: float) -> None:
    """With the ones column last (as NumpyBackend.load makes it): that column stays 1, the caller's array is
    untouched, the data columns get Dropout(p)'s mask from an identically seeded generator, eval mode and
    backward do nothing."""
    x = np.random.default_rng(1).random((300, 101))
    x[:, -1] = 1
    layer = InputDropout(p, np.random.default_rng(7), features=100)
    original = x.copy()
    y = layer.train()(x)
    np.testing.assert_array_equal(x, original)
    np.testing.assert_array_equal(y[:, -1], 1.0)
    expected = Dropout(p, np.random.default_rng(7))(x[:, :100].copy())
    np.testing.assert_array_equal(y[:, :100], expected)
    assert abs(np.mean(y[:, :100] == 0) - p) < 0.01  # 30,000 draws: sd of the fraction below 0.0025
    assert layer.backward(np.ones((300, 10))) is None
    assert layer.eval()(x) is x


def default_backend(backend: str, *overrides: str):
    """The real default config (one thread), 784 -> 512 -> 256 -> 10 with dropout 0.25, from seed 0's weights."""
    cfg = load(composed("train.threads=1", "train.device=cpu", f"backend={backend}", *overrides))
    return make_backend(cfg, make_params(cfg)), cfg


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_options_off_train_bit_identically_to_the_default(backend: str) -> None:
    """input_dropout=0 and max_norm null or 0 are the default: no module, no renorm, the same weights to the
    last bit after three steps (the dropout masks too: torch's and NumPy's generators see the same draws)."""
    x, y = random_data(96, 784, seed=3)
    states = []
    for overrides in ((), ("model.input_dropout=0.0", "model.max_norm=0"), ("model.max_norm=null",)):
        model, cfg = default_backend(backend, *overrides)
        assert cfg.model.dropout == 0.25 and cfg.model.max_norm_bound() is None
        data = model.load(x, y)
        for idx in np.split(np.arange(96), 3):
            model.train_step(data, idx)
        states.append(model.state_dict())
    for state in states[1:]:
        for key in state:
            np.testing.assert_array_equal(state[key], states[0][key], err_msg=key)


def test_the_default_numpy_run_draws_only_the_hidden_layers_masks() -> None:
    """The dropout stream is untouched by the new options: after two steps of 32 rows the generator stands
    exactly where the two hidden ReLUDropout(0.25) layers' draws leave a fresh one (two 64-bit words per 64
    elements), and the net is what it was: no module before the first Linear."""
    model, cfg = default_backend("numpy")
    assert [type(m).__name__ for m in model.model] == ["Linear", "ReLUDropout", "Linear", "ReLUDropout", "Linear"]
    x, y = random_data(64, 784, seed=4)
    data = model.load(x, y)
    for idx in np.split(np.arange(64), 2):
        model.train_step(data, idx)
    fresh = numpy_backend.dropout_rng(cfg.train.seed)
    fresh.bit_generator.random_raw(2 * sum(2 * -(-32 * width // 64) for width in cfg.model.hidden_sizes))
    np.testing.assert_array_equal(model.model[1].rng.bit_generator.random_raw(8), fresh.bit_generator.random_raw(8))


def test_the_default_torch_net_has_no_input_dropout() -> None:
    model, _ = default_backend("torch")
    kinds = [type(m).__name__ for m in model.module]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
