"""The typed config schema: every group and preset validates; bad values fail with the key named."""
from pathlib import Path

import pytest

from mlpbench.compose import compose
from mlpbench.config import ConfigError, RunConfig, run_config_from_dict

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("model", "optim", "schedule", "train", "tracking", "data")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes_and_validates(group, option):
    values = compose(ROOT, [f"{group}={option}"])
    cfg = run_config_from_dict(values)
    assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize("preset", _options("experiment"))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_every_preset_composes_and_validates(preset, backend):
    values = compose(ROOT, [f"experiment={preset}", f"backend={backend}"])
    cfg = run_config_from_dict(values)
    assert cfg.backend == backend


def test_tutorial_preset_is_the_tutorial_setup():
    cfg = run_config_from_dict(compose(ROOT, ["experiment=tutorial"]))
    assert cfg.model.hidden_sizes == (128,)
    assert (cfg.model.init, cfg.model.init_scale) == ("uniform", 0.5)
    assert cfg.optim.name == "sgd" and cfg.schedule.name == "constant"


@pytest.mark.parametrize(
    "override,message",
    [
        ("optim.lr=0", "optim.lr=0"),
        ("optim.lr=-0.1", "must be > 0"),
        ("model.hidden_sizes=[]", "model.hidden_sizes=[]"),
        ("model.hidden_sizes=[64,0]", "model.hidden_sizes[1]=0"),
        ("backend=jax", "choose one of: numpy, torch"),
        ("model.activation=swish", "relu, sigmoid, tanh, leaky_relu, gelu"),
        ("optim.name=rmsprop", "optim.name='rmsprop'"),
        ("schedule.name=linear", "constant, step, cosine"),
        ("train.dtype=float16", "float32, float64"),
        ("train.epochs=0", "train.epochs=0"),
        ("model.dropout=1.0", "model.dropout"),
        ("optim.momentum=0.0", "optim.nesterov=true needs"),  # the default optimizer is Nesterov SGD
        ("train.epochs=ten", "expected an integer"),
        ("optim.lr=fast", "expected a number"),
        ("model.hidden_sizes=128", "expected a list"),
        ("+model.width=5", "unknown key model.width"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(override, message):
    values = compose(ROOT, [override])
    with pytest.raises(ConfigError, match=None) as err:
        run_config_from_dict(values)
    assert message in str(err.value)


def test_unknown_key_message_lists_allowed_keys():
    with pytest.raises(ConfigError) as err:
        run_config_from_dict({"optim": {"learning_rate": 0.1}})
    assert "optim.learning_rate" in str(err.value) and "lr" in str(err.value)
