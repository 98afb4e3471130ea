"""Unit tests of the NumPy layers, loss, model buffers and init_params."""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from mlpbench.backends import init_params
from mlpbench.backends.numpy_nn import (
    MLP, SGD, Adam, AdamW, CrossEntropyLoss, Dropout, GELU, LeakyReLU, Linear, Parameter, ReLU, ReLUDropout,
    RMSprop, Sequential, Sigmoid, Tanh,
)

from backend_helpers import build_config


def test_linear_forward_and_backward_formulas() -> None:
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, dtype="float64")
    layer.weight.data[:] = rng.normal(size=(4, 3))
    layer.bias.data[:] = rng.normal(size=3)
    x, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(layer(x), x @ layer.weight.data + layer.bias.data, rtol=1e-14)
    grad_x = layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, x.T @ g, rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(grad_x, g @ layer.weight.data.T, rtol=1e-14)


def test_linear_bias_gradient_across_batch_sizes() -> None:
    """The bias gradient (a matrix-vector product with a kept vector of ones) for a full batch,
    a smaller last batch and a larger one."""
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, dtype="float32")
    for n in (6, 2, 9):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        g = rng.normal(size=(n, 3)).astype(np.float32)
        layer(x)
        layer.backward(g)
        assert layer.bias.grad.dtype == np.float32
        np.testing.assert_allclose(layer.bias.grad, g.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-6)


def test_first_layer_skips_the_input_gradient() -> None:
    layer = Linear(4, 3, input_grad=False)
    layer(np.ones((2, 4), np.float32))
    assert layer.backward(np.ones((2, 3), np.float32)) is None


def test_buffers_are_reused_across_steps_and_smaller_batches() -> None:
    model = MLP(6, (5,), 3, dtype="float32")
    first = model(np.ones((8, 6), np.float32))
    again = model(np.ones((8, 6), np.float32))
    smaller = model(np.ones((3, 6), np.float32))
    assert np.shares_memory(first, again) and np.shares_memory(first, smaller)


@pytest.mark.parametrize(
    "module, reference",
    [
        (ReLU(), lambda x: np.maximum(x, 0)),
        (LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
        (LeakyReLU(3.0), lambda x: np.where(x > 0, x, 3.0 * x)),
        (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (Tanh(), np.tanh),
        (GELU(), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ],
)
def test_activation_forward_matches_its_formula(module, reference) -> None:
    x = np.linspace(-6, 6, 49).reshape(7, 7)
    np.testing.assert_allclose(module(x), reference(x), rtol=1e-12, atol=1e-15)


def test_sigmoid_and_loss_do_not_overflow_in_float32() -> None:
    x = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = Sigmoid()(x)
        CrossEntropyLoss()(x, np.array([0]))
    np.testing.assert_array_equal(y, [[0.0, 0.0, 0.5, 1.0, 1.0]])


def test_stable_cross_entropy_at_extreme_logits() -> None:
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5e3, 5e3, -1e4]])
    target = np.array([1, 2, 0])
    criterion = CrossEntropyLoss()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = criterion(logits, target)
        grad = criterion.backward()
    # Row 0: the true class is 2e4 below the max, loss 2e4; row 1: correct and sure, loss 0;
    # row 2: a tie between the two top logits, loss ln 2.
    assert loss == pytest.approx((2e4 + 0.0 + math.log(2)) / 3, rel=1e-12)
    softmax = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    onehot = np.eye(3)[target]
    np.testing.assert_allclose(grad, (softmax - onehot) / 3, atol=1e-15)


def test_cross_entropy_matches_log_softmax_definition() -> None:
    rng = np.random.default_rng(1)
    logits, target = rng.normal(size=(6, 10)), rng.integers(0, 10, 6)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(6), target].mean()
    assert CrossEntropyLoss()(logits, target) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("p", [0.3, 0.25, 0.5, 0.75])  # 16-bit draws; two bits per element
def test_dropout_eval_is_identity_and_train_drops_about_p(p: float) -> None:
    x = np.ones((200, 501), np.float32)  # an odd size: the last raw draw is only partly used
    layer = Dropout(p, np.random.default_rng(0))
    assert layer.eval()(x) is x and layer.backward(x) is x
    y = layer.train()(x)
    dropped = float(np.mean(y == 0))
    # 100,200 Bernoulli(p) draws: the standard deviation of the fraction is at most 0.0016.
    assert abs(dropped - p) < 0.01
    # In general p is quantised to 16 bits (threshold / 2**16), and the survivors' scale follows
    # it; multiples of 1/4 are exact.
    assert layer.two_bits == (p != 0.3)
    assert layer.scale == (1 / (1 - p) if layer.two_bits else pytest.approx(1 / (1 - p), rel=1e-4))
    np.testing.assert_allclose(y[y != 0], layer.scale, rtol=1e-6)
    grad = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_array_equal(grad == 0, y == 0)  # the same mask, applied to the gradient
    np.testing.assert_allclose(grad[y != 0], 2 * layer.scale, rtol=1e-6)


@pytest.mark.parametrize("p", [0.2, 0.25, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_dropout_equals_relu_then_dropout_bit_for_bit(dtype: str, p: float) -> None:
    """Same draws from the same seed: identical outputs and input gradients, in place or not."""
    rng = np.random.default_rng(5)
    x, grad = rng.normal(size=(64, 40)).astype(dtype), rng.normal(size=(64, 40)).astype(dtype)
    relu, dropout = ReLU(), Dropout(p, np.random.default_rng(9))
    expected_y = dropout(relu(x)).copy()
    expected_grad = relu.backward(dropout.backward(grad)).copy()
    for inplace in (False, True):
        fused = ReLUDropout(p, np.random.default_rng(9), inplace=inplace)
        x_in, grad_in = x.copy(), grad.copy()
        y = fused(x_in)
        np.testing.assert_array_equal(y, expected_y)
        np.testing.assert_array_equal(fused.backward(grad_in), expected_grad)
        # in place: the arrays handed in now hold the results; otherwise they are untouched
        assert np.shares_memory(y, x_in) == inplace
        np.testing.assert_array_equal(x_in, expected_y if inplace else x)
        np.testing.assert_array_equal(grad_in, expected_grad if inplace else grad)


def test_relu_dropout_in_eval_mode_is_relu() -> None:
    x = np.random.default_rng(6).normal(size=(8, 5))
    fused = ReLUDropout(0.5, np.random.default_rng(0)).eval()
    np.testing.assert_array_equal(fused(x), np.maximum(x, 0))
    np.testing.assert_array_equal(fused.backward(np.ones_like(x)), (x > 0).astype(x.dtype))


@pytest.mark.parametrize("activation, dropout, kinds", [
    ("relu", 0.2, ["Linear", "ReLUDropout", "Linear", "ReLUDropout", "Linear"]),
    ("relu", 0.0, ["Linear", "ReLU", "Linear", "ReLU", "Linear"]),
    ("tanh", 0.2, ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]),
])
def test_mlp_fuses_relu_with_dropout_only(activation: str, dropout: float, kinds: list[str]) -> None:
    model = MLP(6, (5, 4), 3, activation=activation, dropout=dropout, rng=np.random.default_rng(0))
    assert [type(m).__name__ for m in model] == kinds


def unfused_chain(params, p: float, rng: np.random.Generator, dtype: str) -> Sequential:
    """Linear -> ReLU -> Dropout(p, rng) -> ... -> Linear, each layer separate with its own arrays."""
    modules = []
    for i, (w, b) in enumerate(params):
        linear = Linear(*w.shape, dtype=dtype)
        linear.weight.data[...] = w
        linear.bias.data[...] = b
        modules.append(linear)
        if i < len(params) - 1:
            modules += [ReLU(), Dropout(p, rng)]
    return Sequential(*modules)


@pytest.mark.parametrize("p", [0.2, 0.25, 0.5])  # 16-bit draws; two bits per element (two cases)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_with_fused_relu_dropout_equals_the_unfused_chain_bit_for_bit(dtype: str, p: float) -> None:
    """MLP(relu, dropout=p) runs each ReLU + Dropout as one in-place ReLUDropout over views into one
    flat array. Against the plain chain of separate layers whose dropouts draw from an identically
    seeded generator: the same logits, loss and every parameter gradient to the last bit, in train
    mode, over three SGD steps (the last batch smaller, as at the end of an epoch), then in eval mode."""
    rng = np.random.default_rng(4)
    sizes = [30, 24, 16, 10]
    params = [(rng.normal(0, 0.5, (a, b)).astype(dtype), rng.normal(0, 0.5, b).astype(dtype))
              for a, b in zip(sizes[:-1], sizes[1:])]
    fused = MLP(30, (24, 16), 10, activation="relu", dropout=p, dtype=dtype, rng=np.random.default_rng(11))
    fused.load_params(params)
    assert [type(m).__name__ for m in fused].count("ReLUDropout") == 2  # the fused path is the one tested
    chain = unfused_chain(params, p, np.random.default_rng(11), dtype)
    nets = {"fused": fused, "chain": chain}
    optimizers = {"fused": SGD(fused.flat_parameters(), 0.1, momentum=0.9),
                  "chain": SGD(chain.parameters(), 0.1, momentum=0.9)}
    criteria = {name: CrossEntropyLoss() for name in nets}
    for step, batch in enumerate((32, 32, 19)):
        x, y = rng.normal(size=(batch, 30)).astype(dtype), rng.integers(0, 10, batch)
        without_dropout = fused.eval()(x).copy()  # eval mode draws nothing
        results = {}
        for name, net in nets.items():
            logits = net.train()(x).copy()
            loss = criteria[name](logits, y)
            net.backward(criteria[name].backward())
            results[name] = (logits, loss, [q.grad.copy() for q in net.parameters()])
            optimizers[name].step()
        (logits, loss, grads), (chain_logits, chain_loss, chain_grads) = results["fused"], results["chain"]
        assert not np.allclose(logits, without_dropout)  # the masks did drop units
        np.testing.assert_array_equal(logits, chain_logits, err_msg=f"step {step}")
        assert loss == chain_loss
        for i, (g, chain_g) in enumerate(zip(grads, chain_grads)):
            assert g.any(), f"step {step} parameter {i} has no gradient"
            np.testing.assert_array_equal(g, chain_g, err_msg=f"step {step} parameter {i}")
    for q, chain_q in zip(fused.parameters(), chain.parameters()):
        np.testing.assert_array_equal(q.data, chain_q.data)
    x = rng.normal(size=(8, 30)).astype(dtype)
    np.testing.assert_array_equal(fused.eval()(x), chain.eval()(x))


def with_ones(x: np.ndarray) -> np.ndarray:
    """x with an extra last column of ones, as NumpyBackend.load hands it to the model."""
    return np.concatenate([x, np.ones((len(x), 1), x.dtype)], axis=1)


@pytest.mark.parametrize("dtype, rtol", [("float32", 2e-5), ("float64", 1e-12)])
def test_first_layer_bias_folded_into_the_gemms_equals_the_separate_bias_add(dtype: str, rtol: float) -> None:
    """Given inputs with a column of ones, the first Linear adds its bias inside its forward GEMM
    and gets the bias gradient from its weight-gradient GEMM. Against a twin model fed the plain
    inputs, drawing identical dropout masks: the same logits, loss, gradients and parameters up
    to rounding, over three Nesterov steps (the last batch smaller), then in eval mode."""
    rng = np.random.default_rng(8)
    sizes = [30, 24, 16, 10]
    params = [(rng.normal(0, 0.5, (a, b)).astype(dtype), rng.normal(0, 0.5, b).astype(dtype))
              for a, b in zip(sizes[:-1], sizes[1:])]
    nets = {ones: MLP(30, (24, 16), 10, activation="relu", dropout=0.25, dtype=dtype, rng=np.random.default_rng(3))
            for ones in (True, False)}
    for net in nets.values():
        net.load_params(params)
    optimizers = {ones: SGD(net.flat_parameters(), 0.1, momentum=0.9, nesterov=True) for ones, net in nets.items()}
    for step, batch in enumerate((32, 32, 19)):
        x, y = rng.normal(size=(batch, 30)).astype(dtype), rng.integers(0, 10, batch)
        results = {}
        for ones, net in nets.items():
            criterion = CrossEntropyLoss()
            logits = net.train()(with_ones(x) if ones else x).copy()
            loss = criterion(logits, y)
            net.backward(criterion.backward())
            results[ones] = (logits, loss, net.flat.grad.copy())
            optimizers[ones].step()
        (logits, loss, grad), (plain_logits, plain_loss, plain_grad) = results[True], results[False]
        np.testing.assert_allclose(logits, plain_logits, rtol=rtol, atol=rtol, err_msg=f"step {step}")
        assert loss == pytest.approx(plain_loss, rel=rtol)
        np.testing.assert_allclose(grad, plain_grad, rtol=rtol, atol=rtol * np.abs(plain_grad).max())
    np.testing.assert_allclose(nets[True].flat.data, nets[False].flat.data, rtol=rtol, atol=rtol)
    x = rng.normal(size=(8, 30)).astype(dtype)
    np.testing.assert_allclose(nets[True].eval()(with_ones(x)), nets[False].eval()(x), rtol=rtol, atol=rtol)


def test_all_parameters_are_views_into_one_flat_array() -> None:
    model = MLP(7, (6, 5), 3)
    params = model.parameters()
    assert sum(p.data.size for p in params) == model.flat.data.size
    for p in params:
        assert np.shares_memory(p.data, model.flat.data) and np.shares_memory(p.grad, model.flat.grad)
        assert p.data.flags.c_contiguous and p.grad.flags.c_contiguous


# Each optimizer with the options that add code paths (momentum, Nesterov, decay, centered).
MAKE_OPTIMIZER = {
    "sgd": lambda ps: SGD(ps, 0.1),
    "sgd_nesterov": lambda ps: SGD(ps, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: Adam(ps, 0.01, weight_decay=0.01),
    "adamw": lambda ps: AdamW(ps, 0.01, weight_decay=0.01),
    "rmsprop": lambda ps: RMSprop(ps, 0.01),
    "rmsprop_momentum": lambda ps: RMSprop(ps, 0.01, momentum=0.9),
    "rmsprop_centered_momentum_decay": lambda ps: RMSprop(ps, 0.01, momentum=0.9, centered=True, weight_decay=0.01),
}


@pytest.mark.parametrize("make_optimizer", MAKE_OPTIMIZER.values(), ids=MAKE_OPTIMIZER.keys())
def test_flat_optimizer_step_equals_per_tensor_steps(make_optimizer) -> None:
    rng = np.random.default_rng(2)
    models = [MLP(7, (6,), 3, dtype="float64") for _ in range(2)]
    start = rng.normal(size=models[0].flat.data.size)
    optimizers = []
    for model, params in zip(models, (models[0].flat_parameters(), models[1].parameters())):
        model.flat.data[:] = start
        optimizers.append(make_optimizer(params))
    for _ in range(3):
        grad = rng.normal(size=start.size)
        for model, optimizer in zip(models, optimizers):
            model.flat.grad[:] = grad
            optimizer.step()
    np.testing.assert_allclose(models[0].flat.data, models[1].flat.data, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make_optimizer", MAKE_OPTIMIZER.values(), ids=MAKE_OPTIMIZER.keys())
def test_optimizer_step_allocates_no_parameter_sized_array(make_optimizer, dtype: str) -> None:
    """State and scratch arrays are made once, at construction: a later step allocates (almost) nothing."""
    rng = np.random.default_rng(7)
    p = Parameter(rng.normal(size=50_000).astype(dtype))
    p.grad[:] = rng.normal(size=p.data.size)
    optimizer = make_optimizer([p])
    optimizer.step()
    tracemalloc.start()
    try:
        optimizer.step()
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 10, f"a step allocated {peak} bytes; the parameter has {p.data.nbytes}"


@pytest.mark.parametrize("momentum, nesterov, weight_decay", [
    (0.0, False, 0.0), (0.0, False, 0.01), (0.9, False, 0.0), (0.9, True, 0.0), (0.9, True, 0.01),
])
def test_sgd_equals_direct_transcription_bit_for_bit(momentum, nesterov, weight_decay) -> None:
    """SGD stores momentum * buf instead of torch's buf; the parameters must still match torch's
    formulas, evaluated one operation at a time, to the last bit (lr changing as under a schedule)."""
    rng = np.random.default_rng(5)
    p = Parameter(rng.normal(size=50).astype(np.float32))
    sgd = SGD([p], 0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    expected, buf = p.data.copy(), None
    for step in range(5):
        grad = rng.normal(size=50).astype(np.float32)
        p.grad[...] = grad
        sgd.lr = 0.1 / (step + 1)  # as a schedule would
        sgd.step()
        g = grad + np.float32(weight_decay) * expected if weight_decay else grad
        d = g
        if momentum:
            buf = g.copy() if buf is None else np.float32(momentum) * buf + g
            d = g + np.float32(momentum) * buf if nesterov else buf
        expected += d * np.float32(-sgd.lr)
        np.testing.assert_array_equal(p.data, expected, err_msg=f"step {step}")


def test_float32_stays_float32_through_a_training_step() -> None:
    model = MLP(6, (5,), 3, activation="gelu", dropout=0.2, dtype="float32", rng=np.random.default_rng(0))
    model.flat.data[:] = np.random.default_rng(1).normal(size=model.flat.data.size)
    optimizer = Adam(model.flat_parameters(), 1e-3, weight_decay=0.1)
    criterion = CrossEntropyLoss()
    logits = model(np.ones((4, 6), np.float32))
    criterion(logits, np.array([0, 1, 2, 0]))
    grad_logits = criterion.backward()
    model.backward(grad_logits)
    optimizer.step()
    arrays = [logits, grad_logits, model.flat.data, model.flat.grad, *optimizer.m_sums, *optimizer.v_sums]
    assert all(a.dtype == np.float32 for a in arrays)


def test_parameter_defaults_to_zero_gradient() -> None:
    p = Parameter(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_init_params_shapes_dtype_and_determinism(dtype: str) -> None:
    cfg = build_config(model={"hidden_sizes": (32, 16), "activation": "relu"}).model
    params = init_params(20, cfg.hidden_sizes, 10, cfg, np.random.default_rng(5), dtype)
    shapes = [(w.shape, b.shape) for w, b in params]
    assert shapes == [((20, 32), (32,)), ((32, 16), (16,)), ((16, 10), (10,))]
    assert all(a.dtype == dtype and a.flags.c_contiguous for pair in params for a in pair)
    again = init_params(20, cfg.hidden_sizes, 10, cfg, np.random.default_rng(5), dtype)
    assert all(np.array_equal(a, b) for pa, pb in zip(params, again) for a, b in zip(pa, pb))


def test_init_schemes_have_their_documented_distributions() -> None:
    rng = np.random.default_rng(0)
    fan_in, fan_out = 400, 300

    def first_layer(init: str, activation: str = "relu", scale: float = 0.5):
        cfg = build_config(model={"hidden_sizes": (fan_out,), "activation": activation, "init": init,
                                  "init_scale": scale}).model
        return init_params(fan_in, cfg.hidden_sizes, 10, cfg, rng, "float64")[0]

    w, b = first_layer("he")
    assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.01) and not b.any()
    w, b = first_layer("xavier")
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit and not b.any()
    w, b = first_layer("uniform", scale=0.2)
    assert np.abs(w).max() <= 0.2 and np.abs(b).max() <= 0.2 and b.std() > 0.05
    assert first_layer("auto", "gelu")[0].std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.01)
    assert np.abs(first_layer("auto", "tanh")[0]).max() <= limit
