"""The typed config: every option and preset composes to its schema; bad values fail naming the key.

Configs are composed with Hydra's compose API over the real conf/ (``mlpbench.compose.compose``);
that DVC composes the same is checked once, in test_params.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from mlpbench import config
from mlpbench.compose import compose
from mlpbench.config import OPTIMIZERS, SCHEDULES, ConfigError
from mlpbench.config.data import load_data
from mlpbench.config.load import load as load_values
from mlpbench.model_options import ACTIVATIONS, INIT_SCHEMES
from mlpbench.options import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def _files(group: str) -> list[Path]:
    return sorted((CONF / group).glob("*.yaml"))


def load(*overrides: str) -> config.Config:
    return load_values(compose(ROOT, list(overrides)))


@pytest.mark.parametrize("group,registry", [("optim", OPTIMIZERS), ("schedule", SCHEDULES)])
def test_every_registered_option_has_a_config_file_and_every_file_a_registered_schema(group, registry):
    schemas = {}
    for path in _files(group):
        defaults = yaml.safe_load(path.read_text())["defaults"]
        assert defaults[0].startswith("schema_"), f"{path} must start its defaults with its schema"
        schemas[path.stem] = defaults[0].removeprefix("schema_")
    assert set(schemas.values()) == set(registry), f"conf/{group} and the {group} registry disagree"


@pytest.mark.parametrize("path", _files("optim") + _files("schedule"), ids=lambda p: f"{p.parent.name}={p.stem}")
def test_each_option_composes_to_its_class_with_only_its_own_keys(path):
    group = path.parent.name
    cfg = load(f"{group}={path.stem}")
    node = getattr(cfg, group)
    values = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "defaults"}
    assert type(node) is {"optim": OPTIMIZERS, "schedule": SCHEDULES}[group][node.name]
    assert set(vars(node)) == {"name", *values}, "the composed node holds exactly the file's keys and its name"
    assert all(getattr(node, k) == v for k, v in values.items())


def test_sgd_and_adam_runs_record_different_keys():
    sgd, adam = load("optim=sgd").optim, load("optim=adam").optim
    assert "beta1" not in vars(sgd) and "momentum" not in vars(adam)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("preset", [p.stem for p in _files("experiment")])
def test_every_preset_composes_and_validates_for_every_backend(preset, backend):
    cfg = load(f"experiment={preset}", f"backend={backend}")
    assert (cfg.backend, cfg.preset) == (backend, preset)


def test_tutorial_preset_is_the_tutorial_setup():
    cfg = load("experiment=tutorial")
    assert cfg.model.hidden_sizes == (128,) and cfg.model.dropout == 0.0
    assert (cfg.model.init, cfg.model.init_scale) == ("uniform", 0.5)
    assert cfg.optim == config.SGDConfig(name="sgd", lr=0.01, weight_decay=0.0, momentum=0.0, nesterov=False)
    assert type(cfg.schedule) is config.ConstantSchedule
    assert (cfg.train.epochs, cfg.train.batch_size) == (10, 64)


def test_choices_come_from_the_registries():
    cfg = load()
    assert cfg.backends == list(BACKENDS)
    assert cfg.model.activation in ACTIVATIONS and cfg.model.init in ("auto", *INIT_SCHEMES)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["+tracking.experimnt=x"], "unknown key tracking.experimnt; allowed keys here: uri, experiment, ui_url"),
        (["+data.split.sed=3"], "unknown key data.split.sed"),
        (["+outputs.foo=1"], "unknown key outputs.foo"),
        (["+model.width=5"], "unknown key model.width"),
        (["data.split.val_fraction=1.5"], "data.split.val_fraction=1.5 is invalid; it must be in (0, 1)"),
        (["data.download.timeout=-1"], "data.download.timeout=-1.0 is invalid; it must be > 0"),
        (["optim=adam", "optim.eps=nan"], "optim.eps=nan is invalid; it must be a finite number"),
        (["schedule=step", "schedule.gamma=nan"], "schedule.gamma=nan is invalid"),
        (["optim.lr=inf"], "optim.lr=inf is invalid; it must be a finite number"),
        (["optim.lr=0"], "optim.lr=0.0 is invalid; it must be > 0"),
        (["optim.momentum=nan"], "optim.momentum=nan is invalid"),
        (["optim.momentum=0.0"], "optim.nesterov=true needs optim.momentum > 0"),
        (["optim=rmsprop", "optim.alpha=1.0"], "optim.alpha=1.0 is invalid; it must be in [0, 1)"),
        (["schedule.min_lr=100"], "schedule.min_lr=100.0 is above optim.lr=0.3"),
        (["train.seed=-1"], "train.seed=-1 is invalid; it must be >= 0"),
        (["train.epochs=0"], "train.epochs=0 is invalid"),
        (["tracking.uri=123"], "tracking.uri='123' is not a tracking store URI"),
        (["tracking.registry_alias=latest"], "tracking.registry_alias='latest' is invalid; use letters"),
        (["tracking.registry_alias=v3"], "tracking.registry_alias='v3' is invalid"),
        (["tracking.registry_alias=a b"], "tracking.registry_alias='a b' is invalid"),
        (["tracking.experiment= "], "tracking.experiment"),
        (["model.hidden_sizes=[]"], "model.hidden_sizes=[] is invalid"),
        (["model.hidden_sizes=[64,0]"], "model.hidden_sizes[1]=0 is invalid"),
        (["backend=jax"], "backend='jax' is not allowed; choose one of: numpy, torch"),
        (["model.activation=swish"], "choose one of: relu, leaky_relu, gelu, sigmoid, tanh"),
        (["model.init=orthogonal"], "choose one of: auto, uniform, he, xavier"),
        (["train.dtype=float16"], "choose one of: float32, float64"),
        (["train.device=tpu"], "choose one of: auto, cpu, cuda"),
        (["model.dropout=1.0"], "model.dropout=1.0 is invalid"),
        (["model.input_dropout=1.0"], "model.input_dropout=1.0 is invalid; it must be in [0, 1)"),
        (["model.input_dropout=-0.2"], "model.input_dropout=-0.2 is invalid"),
        (["model.max_norm=-1"], "model.max_norm=-1.0 is invalid; give the largest L2 norm a hidden unit's"),
        (["model.max_norm=inf"], "model.max_norm=inf is invalid"),
        (["train.augment_shift=-1"], "train.augment_shift=-1 is invalid"),
        (["train.augment_shift=28"], "train.augment_shift=28 would move images of [28, 28] pixels (data=mnist) out "
                                     "of sight; give a smaller shift"),
        (["optim.name=adam"], "unknown key optim.momentum"),
        (["optim.name=lion"], "optim.name='lion' is not allowed; choose one of: sgd, adam, adamw, rmsprop"),
        (["preset=a b"], "preset='a b' is invalid"),
        (["tracking.experiment=../../escape"], "tracking.experiment='../../escape' is invalid; use letters"),
        (["tracking.experiment=a/b"], "tracking.experiment='a/b' is invalid"),
        (["scaling.experiment='$(id)'"], "scaling.experiment='$(id)' is invalid"),
        (["outputs.model_dir='m;rm -rf x'"], "outputs.model_dir='m;rm -rf x' is invalid; use a file or folder path"),
        (["data.paths.split='`id`'"], "data.paths.split='`id`' is invalid"),
        (["scaling.out_dir='a|b'"], "scaling.out_dir='a|b' is invalid"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        load(*overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("override,key", [
    ("model.hidden_sizes=128", "model.hidden_sizes"),
    ("model.max_norm=big", "model.max_norm"),
    ("train.epochs=ten", "train.epochs"),
    ("optim.eps=1e-8", "optim.eps"),  # the default optimizer (SGD) has no eps
    ("preset=null", "preset"),
    ("backends=[numpy,jax]", "expected one of [numpy, torch]"),  # dvc.yaml's matrices put these in commands
])
def test_hydra_rejects_wrong_types_and_foreign_keys_while_composing(override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose(ROOT, [override])
    assert key in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize("overrides", [
    ["+data.split.sed=3"], ["data.split.val_fraction=1.5"], ["data.download.timeout=-1"], ["data.split.seed=-1"],
    ["data.num_classes=1"], ["data.image_shape=[28]"], ["data.title= "], ["data.files.train_images.size=0"],
    ["data.files.test_labels.sha256=abc"], ["data.name=a/b"], ["data.paths.split='`id`'"],
])
def test_the_data_stages_loader_refuses_a_bad_data_value_as_the_whole_load_does(overrides):
    values = compose(ROOT, overrides)
    with pytest.raises(ConfigError) as whole:
        load_values(values)
    with pytest.raises(ConfigError) as data:
        load_data(values)
    assert str(data.value) == str(whole.value)


def test_the_data_stages_loader_reads_the_data_section_alone():
    values = compose(ROOT, ["backend=numpy", "data=mnist"])
    assert load_data(values) == load_values(values).data
    values["backend"], values["model"] = "jax", {"width": 5}  # other sections are not its business
    assert load_data(values).image_shape == (28, 28)
    values["data"]["download"]["timeout"] = "ten"  # a wrong type, as params.yaml could hold it
    with pytest.raises(ConfigError, match=r"^data.download.timeout: Value 'ten' .* could not be converted to Float"):
        load_data(values)
    del values["data"]
    with pytest.raises(ConfigError, match=r"^data has no value; set it in conf/ or on the command line"):
        load_data(values)


def test_a_value_conf_does_not_set_is_named():
    values = compose(ROOT)
    del values["train"]["epochs"]
    with pytest.raises(ConfigError, match=r"train.epochs has no value; set it in conf/ or on the command line"):
        load_values(values)


def test_unknown_option_names_are_listed():
    values = compose(ROOT)
    values["schedule"] = {"name": "linear"}
    with pytest.raises(ConfigError, match="schedule.name='linear' is not allowed; choose one of: constant, step, cosine"):
        load_values(values)


def test_load_returns_typed_values():
    cfg = load("optim=adam")
    assert isinstance(cfg.optim, config.AdamConfig) and isinstance(cfg.optim.lr, float)
    assert cfg.model.hidden_sizes == (512, 256) and isinstance(cfg.data.files.train_images, config.DataFile)
