"""The tuned torch step (mlpbench.torch_options.tuned) computes what the eager step computes.

Given the same weights, batch and dropout masks, its loss, correct count, gradients and updated weights equal
those of autograd through the eager ``MLP`` with the same masks (float64, so only rounding differs). Its masks
come from other random draws than nn.Dropout's; they are tested for the same distribution instead: each element
kept with probability 1 - p, independently of its neighbours.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mlpbench.config import ConfigError
from mlpbench.torch_options.tuned import TunedTorchBackend, keep_mask

from backend_helpers import build_config, make_params, random_data

SIZES = (20, (16, 12), 10)


def config(dropout: float = 0.25, **optim):
    return build_config("torch", model={"hidden_sizes": SIZES[1], "dropout": dropout},
                        optim={"name": "nesterov", **optim}, train={"dtype": "float64"},
                        torch={"optimizer_impl": "fused"})


def eager_reference(params, x, y, masks, p):
    """Loss, correct count and gradients (per layer: weight (fan_in, fan_out), bias) by autograd, the eager
    step's operators with the given keep masks standing in for nn.Dropout's draws."""
    ws = [torch.tensor(w, requires_grad=True) for w, _ in params]
    bs = [torch.tensor(b, requires_grad=True) for _, b in params]
    h = torch.tensor(x)
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = torch.nn.functional.linear(h, w.t(), b)
        if i < len(ws) - 1:
            h = torch.relu(h) * (masks[i].to(h.dtype) / (1 - p))
    target = torch.tensor(y)
    loss = torch.nn.functional.cross_entropy(h, target)
    loss.backward()
    correct = int((h.argmax(1) == target).sum())
    return loss.item(), correct, [(w.grad.numpy(), b.grad.numpy()) for w, b in zip(ws, bs)]


def test_the_tuned_step_has_the_eager_steps_loss_gradients_and_update():
    cfg = config(momentum=0.0, nesterov=False, name="sgd", lr=0.1)
    params = make_params(cfg, in_features=SIZES[0], out_features=SIZES[2])
    x, y = random_data(32, SIZES[0])
    x = x.astype(np.float64)
    gen = torch.Generator().manual_seed(3)
    masks = [keep_mask((32, n), 0.25, gen) for n in SIZES[1]]
    backend = TunedTorchBackend(cfg, params)
    loss, correct = backend.train_step(backend.load(x, y), np.arange(32), keep=masks)
    ref_loss, ref_correct, grads = eager_reference(params, x, y, masks, 0.25)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert correct == ref_correct
    for block, (gw, gb) in zip(backend.grads, grads):
        np.testing.assert_allclose(block[:-1].numpy(), gw, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(block[-1].numpy(), gb, rtol=1e-10, atol=1e-14)
    state = backend.state_dict()  # the module's weights are views of the stepped flat parameter
    for i, ((w, b), (gw, gb)) in enumerate(zip(params, grads)):
        np.testing.assert_allclose(state[f"layers.{i}.weight"], w - 0.1 * gw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state[f"layers.{i}.bias"], b - 0.1 * gb, rtol=1e-12, atol=1e-14)


def test_without_dropout_the_tuned_and_eager_backends_train_alike():
    from mlpbench.backends.torch_backend import TorchBackend

    cfg = config(dropout=0.0)
    params = make_params(cfg, in_features=SIZES[0], out_features=SIZES[2])
    x, y = random_data(64, SIZES[0])
    eager, tuned = TorchBackend(cfg, params), TunedTorchBackend(cfg, params)
    e_data, t_data = eager.load(x, y), tuned.load(x, y)
    for start in range(0, 64, 16):  # four Nesterov steps
        idx = np.arange(start, start + 16)
        e_loss, e_correct = eager.train_step(e_data, idx)
        t_loss, t_correct = tuned.train_step(t_data, idx)
        assert t_loss == pytest.approx(e_loss, rel=1e-10) and t_correct == e_correct
    for key, value in eager.state_dict().items():
        np.testing.assert_allclose(tuned.state_dict()[key], value, rtol=1e-9, atol=1e-12)
    e_val, t_val = eager.evaluate(e_data, 50), tuned.evaluate(t_data, 50)
    assert t_val[0] == pytest.approx(e_val[0], rel=1e-10)
    np.testing.assert_array_equal(t_val[1], e_val[1])


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75, 0.3])
def test_masks_keep_each_element_with_probability_one_minus_p_independently(p):
    keep = keep_mask((512, 512), p, torch.Generator().manual_seed(0)).double()
    n = keep.numel()
    assert abs(keep.mean().item() - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5  # five standard errors
    # neighbours share a draw's bits but not their values: the kept pairs occur at the rate of independent ones
    pairs = (keep[:, :-1] * keep[:, 1:]).mean().item()
    assert abs(pairs - (1 - p) ** 2) < 0.01
    assert abs(keep.mean(0).std().item() - (p * (1 - p) / 512) ** 0.5) < 0.01  # columns vary as binomials


def test_the_byte_table_gives_the_masks_two_bit_keep_draws():
    backend = TunedTorchBackend(config(), make_params(config(), in_features=SIZES[0], out_features=SIZES[2]))
    out = torch.randn(64, 16, dtype=torch.float64)
    backend.gen.manual_seed(5)
    fast = backend._scaled_mask(out, None, torch.empty_like(out))  # the table's path: 16 % 4 == 0
    keep = keep_mask((64, 16), 0.25, torch.Generator().manual_seed(5))
    torch.testing.assert_close(fast, torch.where(keep & (out > 0), backend._scale, backend._zero), rtol=0, atol=0)


@pytest.mark.parametrize("model", [{"input_dropout": 0.2}, {"max_norm": 3.0}, {"activation": "tanh"}])
def test_what_the_tuned_step_does_not_implement_is_refused_with_what_to_use(model):
    cfg = build_config("torch", model={"hidden_sizes": SIZES[1], "dropout": 0.25, **model})
    with pytest.raises(ConfigError, match="use the eager variant"):
        TunedTorchBackend(cfg, make_params(cfg, in_features=SIZES[0], out_features=SIZES[2]))
