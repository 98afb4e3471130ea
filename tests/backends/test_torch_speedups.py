"""The torch options (``torch.*``): each is really in effect in a training step, and the model that is
saved and logged stays the plain float32 module."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mlpbench.backends.build import build_backend
from mlpbench.backends.torch_backend import Probabilities, check_options
from mlpbench.backends.torch_speedups import autocast
from mlpbench.config import ConfigError
from mlpbench.model_io import weights_path

from backend_helpers import build_config, random_data

SMALL = {"hidden_sizes": (16,)}


def small_backend(optim: dict | None = None, **torch_options):
    cfg = build_config("torch", model=SMALL, optim=optim or {"name": "nesterov"}, torch=torch_options)
    return build_backend(cfg, in_features=12, out_features=10)


def linear_output_dtypes(backend) -> list[torch.dtype]:
    """Run a training step and an evaluation; the dtype each nn.Linear returned, in call order."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, out: seen.append(out.dtype)) for m in backend.module.linears()]
    data = backend.load(*random_data(24, 12))
    loss, _ = backend.train_step(data, np.arange(16, dtype=np.int64))
    backend.evaluate(data, batch_size=10)
    for hook in hooks:
        hook.remove()
    assert np.isfinite(loss)
    return seen


def test_bf16_autocast_runs_training_and_evaluation_matmuls_in_bfloat16_and_keeps_float32_weights():
    eager, mixed = small_backend(), small_backend(autocast="bfloat16")
    assert set(linear_output_dtypes(eager)) == {torch.float32}
    dtypes = linear_output_dtypes(mixed)
    assert len(dtypes) == 2 * (1 + 3) and set(dtypes) == {torch.bfloat16}  # 2 layers: 1 step + 3 eval chunks
    assert {p.dtype for p in mixed.module.parameters()} == {torch.float32}
    assert mixed.logits(torch.zeros(3, 12)).dtype == torch.float32  # the loss sees float32 logits
    assert mixed.info()["autocast"] == "bfloat16" and eager.info()["autocast"] == "off"


@pytest.mark.parametrize("impl,flags", [("single_tensor", {"foreach": False}), ("foreach", {"foreach": True}),
                                        ("fused", {"fused": True})])
def test_each_optimizer_impl_is_the_one_torch_runs_and_updates_the_weights_alike(impl, flags):
    reference, backend = small_backend(), small_backend(optimizer_impl=impl)
    assert {k: backend.optimizer.defaults[k] for k in flags} == flags
    assert backend.info()["optimizer_impl"] == impl
    for b in (reference, backend):
        data = b.load(*random_data(48, 12))
        for start in (0, 16, 32):
            b.train_step(data, np.arange(start, start + 16, dtype=np.int64))
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(backend.state_dict()[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_default_impl_reports_what_torch_picks_on_the_cpu():
    backend = small_backend()
    assert backend.optimizer.defaults["foreach"] is None and backend.optimizer.defaults.get("fused") is None
    assert backend.info()["optimizer_impl"] == "single_tensor"  # foreach is torch's pick on CUDA only


def test_fused_is_refused_in_one_line_where_torch_has_no_fused_kernel():
    cfg = build_config("torch", model=SMALL, optim={"name": "rmsprop"}, torch={"optimizer_impl": "fused"})
    with pytest.raises(ConfigError) as err:
        check_options(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("torch.optimizer_impl=fused is not available for optim=rmsprop on cpu in float32")
    assert "use torch.optimizer_impl=foreach or default" in message
    check_options(build_config("torch", model=SMALL, optim={"name": "adamw"}, torch={"optimizer_impl": "fused"}))


@pytest.mark.slow  # torch.compile's first compilation: 16 s of the fast tier's 2-3 minutes
def test_compile_steps_through_the_compiled_module_but_saves_and_logs_the_plain_float32_one(tmp_path):
    backend = small_backend(compile=True)
    assert isinstance(backend.net, torch._dynamo.eval_frame.OptimizedModule)
    assert backend.net._orig_mod is backend.module and not isinstance(backend.module, type(backend.net))
    data = backend.load(*random_data(24, 12))
    before = backend.state_dict()
    loss, _ = backend.train_step(data, np.arange(16, dtype=np.int64))
    assert np.isfinite(loss) and backend.info()["compile"] == "true"
    after = backend.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in after)  # the compiled step trained `module`
    backend.save(tmp_path)
    with np.load(weights_path(tmp_path)) as weights:
        assert {k: weights[k].dtype for k in weights.files if k != "meta"} == {k: np.float32 for k in after}
    state = torch.load(tmp_path / "model.pt")
    assert not any("_orig_mod" in k for k in state) and {v.dtype for v in state.values()} == {torch.float32}
    probabilities = Probabilities(backend.module).eval()(torch.rand(3, 12))
    assert probabilities.dtype == torch.float32 and torch.allclose(probabilities.sum(1), torch.ones(3))


def test_autocast_follows_the_device_so_cuda_runs_cuda_autocast():
    with warnings.catch_warnings():  # without CUDA torch warns that it disables the context
        warnings.simplefilter("ignore")
        context = autocast(torch.device("cuda"), "bfloat16")
    assert isinstance(context, torch.autocast) and context.device == "cuda" and context.fast_dtype == torch.bfloat16
    assert autocast(torch.device("cpu"), None).__class__.__name__ == "nullcontext"


@pytest.mark.cuda
def test_bf16_autocast_on_cuda_runs_the_matmuls_in_bfloat16():
    cfg = build_config("torch", model=SMALL, train={"device": "cuda"}, torch={"autocast": "bfloat16"})
    backend = build_backend(cfg, in_features=12, out_features=10)
    assert backend.device.type == "cuda" and set(linear_output_dtypes(backend)) == {torch.bfloat16}
    assert {p.dtype for p in backend.module.parameters()} == {torch.float32}
