"""The NumPy implementation against torch as the oracle, from identical weights and data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mlpbench import config
from mlpbench.backends import numpy_backend, torch_backend
from mlpbench.backends.build import make_backend
from mlpbench.backends.numpy_nn import MLP, CrossEntropyLoss
from mlpbench.model_options import ACTIVATIONS

from backend_helpers import build_config, make_params, random_data, run_training

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def twin_models(activation: str, dtype: str = "float64", seed: int = 0):
    """A numpy_nn MLP and a torch MLP (20 -> 16 -> 12 -> 10) holding the same random weights."""
    rng = np.random.default_rng(seed)
    sizes = [20, 16, 12, 10]
    params = [(rng.normal(0, 0.5, (a, b)), rng.normal(0, 0.5, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    ours = MLP(20, (16, 12), 10, activation=activation, leaky_slope=0.05, dtype=dtype)
    ours.load_params(params)
    theirs = torch_backend.MLP(20, (16, 12), 10, activation=activation, leaky_slope=0.05)
    theirs = theirs.to(TORCH_DTYPES[dtype])
    theirs.load_params(params)
    return ours, theirs


def torch_grads(module: torch_backend.MLP) -> list[np.ndarray]:
    """Gradients in numpy_nn's layout: weight.grad transposed to (fan_in, fan_out)."""
    grads = []
    for linear in module.linears():
        grads += [linear.weight.grad.numpy().T, linear.bias.grad.numpy()]
    return grads


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_logits_loss_and_gradients_match_torch_autograd(activation: str) -> None:
    ours, theirs = twin_models(activation)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 20)), rng.integers(0, 10, 32)
    criterion = CrossEntropyLoss()
    logits = ours(x)
    loss = criterion(logits, y)
    ours.backward(criterion.backward())

    torch_logits = theirs(torch.from_numpy(x))
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(y))
    torch_loss.backward()

    np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=0, atol=1e-12)
    assert loss == pytest.approx(torch_loss.item(), abs=1e-12)
    for i, (g, tg) in enumerate(zip((p.grad for p in ours.parameters()), torch_grads(theirs))):
        np.testing.assert_allclose(g, tg, rtol=0, atol=1e-10, err_msg=f"{activation} parameter {i}")


def test_extreme_logits_give_torchs_loss_and_gradient() -> None:
    logits = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 2.0, 1e4, 1e4]])
    target = np.array([1, 3])
    criterion = CrossEntropyLoss()
    loss, grad = criterion(logits, target), criterion.backward()
    t = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(t, torch.from_numpy(target))
    torch_loss.backward()
    assert np.isfinite(loss) and loss == pytest.approx(torch_loss.item(), rel=1e-14)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=0, atol=1e-15)


# Each case: the optim section's changes to that optimizer's own conf/optim/<name>.yaml. Every
# registered optimizer needs at least one (test_every_registered_option_has_a_parity_case).
# RMSprop: plain, each of momentum, centered and weight_decay alone, then all with other alpha/eps.
OPTIMIZER_CASES = {
    "sgd": {"name": "sgd", "lr": 0.1, "weight_decay": 0.01},
    "sgd_momentum": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    "sgd_nesterov": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "adam": {"name": "adam", "lr": 0.01, "weight_decay": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
    "adamw": {"name": "adamw", "lr": 0.01, "weight_decay": 0.1},
    "rmsprop": {"name": "rmsprop", "lr": 0.01},
    "rmsprop_momentum": {"name": "rmsprop", "lr": 0.01, "momentum": 0.9},
    "rmsprop_centered": {"name": "rmsprop", "lr": 0.01, "centered": True},
    "rmsprop_weight_decay": {"name": "rmsprop", "lr": 0.01, "weight_decay": 0.01},
    "rmsprop_all": {"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "eps": 1e-6, "momentum": 0.9, "centered": True,
                    "weight_decay": 0.01},
}


def test_every_registered_option_has_a_parity_case() -> None:
    """Registering an optimizer or schedule means adding its case here (activations: all parametrized)."""
    assert {c["name"] for c in OPTIMIZER_CASES.values()} == set(config.OPTIMIZERS)
    assert {c["name"] for c in SCHEDULE_CASES.values()} == set(config.SCHEDULES)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_optimizer_steps_match_torch_optim(case: str, dtype: str, tol: float) -> None:
    """Feed both backends' optimizers (their factories for the config) the same gradients for 3 steps
    (momentum and the running averages only show from step 2)."""
    cfg = build_config(optim=OPTIMIZER_CASES[case]).optim
    ours, theirs = twin_models("relu", dtype)
    ours_opt = numpy_backend.OPTIMIZERS[cfg.name](cfg, ours.flat_parameters())
    torch_opt = torch_backend.OPTIMIZERS[cfg.name](cfg, theirs.parameters())
    rng = np.random.default_rng(3)
    for _ in range(3):
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            g = rng.normal(size=p.data.shape).astype(dtype)
            p.grad[...] = g
            tp.grad = torch.from_numpy(np.ascontiguousarray(g.T if g.ndim == 2 else g))
        ours_opt.step()
        torch_opt.step()
    for i, (linear, torch_linear) in enumerate(zip(ours.linears(), theirs.linears())):
        torch_weight = torch_linear.weight.detach().numpy().T
        message = f"{case} layer {i}"
        np.testing.assert_allclose(linear.weight.data, torch_weight, rtol=0, atol=tol, err_msg=message)
        np.testing.assert_allclose(linear.bias.data, torch_linear.bias.detach().numpy(), rtol=0, atol=tol)


def _lr_sequence(scheduler, optimizer_lr, epochs: int) -> list[float]:
    """The lr before training and after each epoch's scheduler step (None: a constant schedule)."""
    values = [optimizer_lr()]
    for _ in range(epochs):
        if scheduler is not None:
            scheduler.step()
        values.append(optimizer_lr())
    return values


# Every registered schedule, as changes to its own conf/schedule/<name>.yaml (checked as above).
SCHEDULE_CASES = {
    "constant": {"name": "constant"},
    "step": {"name": "step", "step_size": 3, "gamma": 0.5},
    "cosine": {"name": "cosine", "min_lr": 1e-3},
}


@pytest.mark.parametrize("case", SCHEDULE_CASES)
def test_lr_schedules_equal_torch_lr_scheduler(case: str) -> None:
    """Both backends' schedule factories, train.epochs = 10 (cosine's T_max), run for 15 epochs so
    cosine's restart branch runs too: identical floats."""
    cfg = build_config(optim={"name": "sgd", "lr": 0.1}, schedule=SCHEDULE_CASES[case], train={"epochs": 10})
    torch_opt = torch_backend.OPTIMIZERS["sgd"](cfg.optim, [torch.nn.Parameter(torch.zeros(1))])
    ours_opt = numpy_backend.OPTIMIZERS["sgd"](cfg.optim, MLP(2, (2,), 2).parameters())
    ours = numpy_backend.SCHEDULES[cfg.schedule.name](cfg.schedule, ours_opt, cfg.train.epochs)
    theirs = torch_backend.SCHEDULES[cfg.schedule.name](cfg.schedule, torch_opt, cfg.train.epochs)
    torch_opt.step()  # a no-op (no gradient), so torch does not warn that the schedule runs alone
    ours_lrs = _lr_sequence(ours, lambda: ours_opt.lr, 15)
    torch_lrs = _lr_sequence(theirs, lambda: torch_opt.param_groups[0]["lr"], 15)
    assert ours_lrs == torch_lrs
    assert ours_lrs[0] == 0.1
    if case == "constant":
        assert set(ours_lrs) == {0.1}
    else:
        assert len(set(ours_lrs)) > 3


NESTEROV = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}


@pytest.mark.parametrize(
    "optim, schedule, activation",
    [
        (NESTEROV, {"name": "step", "step_size": 2}, "tanh"),
        ({"name": "adam", "lr": 0.01, "weight_decay": 1e-3}, {"name": "cosine", "min_lr": 1e-4}, "relu"),
        ({"name": "adamw", "lr": 0.01, "weight_decay": 0.05}, {"name": "constant"}, "gelu"),
        ({"name": "rmsprop", "lr": 0.003, "momentum": 0.5, "centered": True, "weight_decay": 1e-3},
         {"name": "step", "step_size": 2}, "leaky_relu"),
    ],
    ids=["nesterov-step-tanh", "adam-cosine-relu", "adamw-constant-gelu", "rmsprop-step-leaky_relu"],
)
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_training_curves_match_between_backends(optim, schedule, activation, dtype, tol) -> None:
    """4 epochs of 60 random rows in batches of 16 (the last one short), no dropout."""
    x, y = random_data(60, 30, seed=4)
    runs = {}
    for name in ("numpy", "torch"):
        cfg = build_config(name, model={"hidden_sizes": (24, 16), "activation": activation}, optim=optim,
                          schedule=schedule, train={"epochs": 4, "dtype": dtype, "device": "cpu"})
        backend = make_backend(cfg, make_params(cfg, in_features=30))
        data = backend.load(x, y)
        curves = run_training(backend, data, len(y), epochs=4, batch_size=16)
        runs[name] = (*curves, backend.evaluate(data, 25), backend.state_dict())
    np_losses, np_correct, np_lrs, np_eval, np_state = runs["numpy"]
    t_losses, t_correct, t_lrs, t_eval, t_state = runs["torch"]
    assert np_losses[-1] < np_losses[0]  # it learns something
    np.testing.assert_allclose(np_losses, t_losses, rtol=tol, atol=0)
    assert np_lrs == pytest.approx(t_lrs, rel=1e-15)
    assert np_eval[0] == pytest.approx(t_eval[0], rel=tol)
    if dtype == "float64":
        assert np_correct == t_correct
        np.testing.assert_array_equal(np_eval[1], t_eval[1])
    for key in np_state:
        np.testing.assert_allclose(np_state[key], t_state[key], rtol=0, atol=tol * 10, err_msg=key)
