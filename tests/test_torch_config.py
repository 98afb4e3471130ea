"""The torch options (``torch.*``) and the torch options study (``torch_options.*``) in the typed config:
each bad value fails in one line naming the key and the fix; MLflow records what a run used."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench import config
from mlpbench.compose import compose
from mlpbench.config import ConfigError
from mlpbench.config.load import load as load_values
from mlpbench.options import BACKENDS
from mlpbench.run.summary import run_name
from mlpbench.run.summary import run_params
from mlpbench.torch_options import VARIANTS, chosen

ROOT = Path(__file__).resolve().parents[1]


def load(*overrides: str) -> config.Config:
    return load_values(compose(ROOT, list(overrides)))


def test_the_defaults_change_nothing_and_compose_for_every_backend():
    for backend in BACKENDS:
        cfg = load(f"backend={backend}")
        assert (cfg.torch.compile, cfg.torch.autocast, cfg.torch.optimizer_impl) == (False, None, "default")
        assert cfg.torch.changed() == {}
    assert load("backend=torch", "torch.compile=true", "torch.autocast=bfloat16",
                "torch.optimizer_impl=fused").torch.changed() == {"compile": True, "autocast": "bfloat16",
                                                                  "optimizer_impl": "fused"}


@pytest.mark.parametrize(("overrides", "message"), [
    (["torch.compile=true"], "torch.compile=true applies to backend=torch only; set backend=torch or drop the "
                             "option (backend=numpy runs without it)"),
    (["torch.autocast=bfloat16"], "torch.autocast=bfloat16 applies to backend=torch only; set backend=torch or "
                                  "drop the option (backend=numpy runs without it)"),
    (["torch.optimizer_impl=foreach"], "torch.optimizer_impl=foreach applies to backend=torch only; set "
                                       "backend=torch or drop the option (backend=numpy runs without it)"),
    (["backend=torch", "torch.autocast=float16"], "torch.autocast='float16' is not allowed; choose one of: null, "
                                                  "bfloat16"),
    (["backend=torch", "torch.optimizer_impl=fast"], "torch.optimizer_impl='fast' is not allowed; choose one of: "
                                                     "default, single_tensor, foreach, fused"),
    (["backend=torch", "train.dtype=float64", "torch.autocast=bfloat16"],
     "torch.autocast=bfloat16 needs train.dtype=float32 (autocast leaves float64 alone); set train.dtype=float32 "
     "or torch.autocast=null"),
    (["torch_options.setting=huge"], "torch_options.setting='huge' is not a setting; choose one of: quick, full "
                                     "(or add it under torch_options.settings)"),
    (["torch_options.settings.quick.epochs=1"], "torch_options.settings.quick.epochs=1 is invalid; give 2 or more "
     "(the first epoch holds one-off costs such as compilation, the later ones give the steady epoch time), or 0 "
     "for train.epochs"),
    (["torch_options.variants=[compile,turbo]"], "torch_options.variants[]='turbo' is not allowed; choose one of: "
     + ", ".join(VARIANTS)),
])
def test_a_bad_torch_option_fails_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        load(*overrides)
    assert str(err.value) == message


def test_an_unknown_torch_key_fails_while_composing():
    with pytest.raises(Exception, match="torch.jit"):
        load("backend=torch", "+torch.jit=true")


def test_torch_runs_record_the_options_as_params_and_in_their_names():
    cfg = load("backend=torch", "torch.compile=true", "torch.optimizer_impl=fused")
    params = run_params(cfg)
    assert params["torch"] == {"compile": True, "autocast": None, "optimizer_impl": "fused"}
    assert run_name(cfg).endswith(" compiled optim-fused")
    assert "torch" not in run_params(load("backend=numpy")) and "torch" in run_params(load("backend=torch"))


def test_cuda_variants_run_with_their_baseline_where_cuda_is_present_and_are_skipped_with_why_elsewhere():
    names = ["bf16_autocast", "compile", "eager_cuda", "bf16_autocast_cuda"]
    assert chosen(names, cuda=True) == (["eager", "eager_cuda", "bf16_autocast", "compile", "bf16_autocast_cuda"], {})
    no_cuda = "no CUDA device here"
    assert chosen(names, cuda=False) == (["eager", "bf16_autocast", "compile"],
                                         {"eager_cuda": no_cuda, "bf16_autocast_cuda": no_cuda})
    assert chosen(["bf16_autocast_cuda"], cuda=True)[0] == ["eager", "eager_cuda", "bf16_autocast_cuda"]
    assert VARIANTS["bf16_autocast_cuda"].baseline == "eager_cuda" and VARIANTS["compile"].baseline == "eager"


@pytest.mark.parametrize(("overrides", "scale", "slope"), [
    ([], False, False), (["model.init=uniform"], True, False), (["model.activation=leaky_relu"], False, True),
    (["model.init=uniform", "model.activation=leaky_relu"], True, True), (["model.activation=tanh"], False, False),
])
def test_a_run_logs_the_init_scale_and_leaky_slope_only_where_they_apply(overrides, scale, slope):
    model = run_params(load("backend=numpy", *overrides))["model"]
    assert ("init_scale" in model, "leaky_slope" in model) == (scale, slope)


@pytest.mark.parametrize(("overrides", "logged"), [
    ([], {}), (["model.max_norm=0"], {}), (["model.input_dropout=0.2"], {"input_dropout": 0.2}),
    (["model.max_norm=3.5", "model.input_dropout=0.2"], {"input_dropout": 0.2, "max_norm": 3.5}),
])
def test_a_run_logs_input_dropout_and_max_norm_only_where_they_are_on(overrides, logged):
    """Off, a run logs and is named as before the options existed."""
    cfg = load("backend=torch", *overrides)
    model = run_params(cfg)["model"]
    assert {k: model[k] for k in ("input_dropout", "max_norm") if k in model} == logged
    assert run_name(cfg) == run_name(load("backend=torch"))


@pytest.mark.parametrize(("overrides", "logged"), [([], False), (["train.augment_shift=0"], False),
                                                  (["train.augment_shift=2"], True)])
def test_a_run_logs_its_image_shifts_only_where_they_are_on(overrides, logged):
    train = run_params(load("backend=numpy", *overrides))["train"]
    assert ("augment_shift" in train, train.get("augment_shift")) == (logged, 2 if logged else None)
