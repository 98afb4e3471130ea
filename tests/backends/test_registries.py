"""The registries of options: every name has an implementation in each backend and a config file.

The backends check their factory tables against the registries when they are imported
(``registry.implementations``), so a name registered without a factory cannot reach a run; the
tests here make that check fail on purpose. Config files are not covered by that check: see
``tests/test_config.py``. (Parity cases per option: see
``test_parity.test_every_registered_option_has_a_parity_case``.)
"""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from mlpbench import config, model_options, options
from mlpbench.backends.build import backend_class
from mlpbench.registry import Registry, implementations

# (backend module, object holding the registry it checks, the registry's name there, what it calls itself)
CHECKED_TABLES = [
    ("numpy_backend", config, "OPTIMIZERS", "the NumPy backend"),
    ("numpy_backend", config, "SCHEDULES", "the NumPy backend"),
    ("numpy_backend", model_options, "ACTIVATIONS", "numpy_nn"),
    ("torch_backend", config, "OPTIMIZERS", "the torch backend"),
    ("torch_backend", config, "SCHEDULES", "the torch backend"),
    ("torch_backend", model_options, "ACTIVATIONS", "the torch backend"),
]


def fresh_import(module: str):
    """Execute ``mlpbench.backends.<module>`` anew as a separate module object (sys.modules untouched)."""
    spec = importlib.util.find_spec(f"mlpbench.backends.{module}")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return fresh


def with_extra_name(registry: Registry, name: str) -> Registry:
    """A copy of ``registry`` with one more name, as if someone registered an option and stopped there."""
    extended = Registry(registry.kind)
    for key, entry in registry.items():
        extended.register(key, entry)
    extended.register(name, object())
    return extended


@pytest.mark.parametrize("module, holder, attr, where", CHECKED_TABLES,
                         ids=[f"{m}-{a.lower()}" for m, _, a, _ in CHECKED_TABLES])
def test_a_registered_name_without_a_factory_fails_the_backend_import(monkeypatch, module, holder, attr,
                                                                      where) -> None:
    registry = getattr(holder, attr)
    fresh_import(module)  # as registered: imports
    monkeypatch.setattr(holder, attr, with_extra_name(registry, "newcomer"))
    with pytest.raises(TypeError) as err:
        fresh_import(module)
    message = str(err.value)
    assert where in message and f"{registry.kind}s" in message and "missing ['newcomer']" in message


def test_a_factory_for_an_unregistered_name_is_refused_too() -> None:
    from mlpbench.backends import numpy_backend

    table = {**numpy_backend.OPTIMIZERS, "newcomer": lambda c, params: None}
    with pytest.raises(TypeError, match=r"unregistered \['newcomer'\]"):
        implementations(config.OPTIMIZERS, table, "the NumPy backend")
    assert implementations(config.OPTIMIZERS, numpy_backend.OPTIMIZERS, "x") is numpy_backend.OPTIMIZERS


def test_a_name_declared_unsupported_may_lack_its_factory() -> None:
    from mlpbench.backends import numpy_backend

    table = {k: v for k, v in numpy_backend.OPTIMIZERS.items() if k != "rmsprop"}
    with pytest.raises(TypeError, match=r"missing \['rmsprop'\].*or declare them unsupported in its BackendSpec"):
        implementations(config.OPTIMIZERS, table, "the NumPy backend")
    assert implementations(config.OPTIMIZERS, table, "the NumPy backend", unsupported=("rmsprop",)) is table


def test_a_spec_declares_unsupported_values_only_of_the_keys_validation_checks() -> None:
    with pytest.raises(ValueError, match=r"unsupported= names keys \['optim.lr'\]"):
        dataclasses.replace(options.BACKENDS["numpy"], unsupported={"optim.lr": ("0.1",)})


def test_torch_the_oracle_declares_no_option_unsupported() -> None:
    """Its factory tables are checked against the registries alone (torch_backend reads no BackendSpec), so
    the torch options study depends on no other backend's registration; every parity test needs it anyway."""
    assert dict(options.BACKENDS["torch"].unsupported) == {}


def test_a_backend_name_is_an_identifier() -> None:
    """It becomes stage names and paths (train@<name>, models/<name>); the tests' unknown name can never be one."""
    with pytest.raises(ValueError, match="backend name 'no-such-backend' does not match"):
        options.BACKENDS.register("no-such-backend", options.BACKENDS["numpy"])
    assert "no-such-backend" not in options.BACKENDS


def test_every_activation_picks_a_registered_init_scheme() -> None:
    """init=auto resolves through ACTIVATIONS to a name in INIT_SCHEMES (not checked at import)."""
    activations = model_options.ACTIVATIONS
    assert {name: activations[name] in model_options.INIT_SCHEMES for name in activations} == {n: True for n in activations}


@pytest.mark.parametrize("name", options.BACKENDS.names())
def test_every_registered_backend_loads_a_backend_class_of_that_name(name: str) -> None:
    """(Instances are checked against the Backend protocol in test_sanity.)"""
    cls = backend_class(name)
    assert cls.name == name
    methods = ("check", "load", "train_step", "evaluate", "scheduler_step", "state_dict", "gemm_step", "info", "save",
               "log_model")
    assert [m for m in methods if not callable(getattr(cls, m, None))] == []
    assert isinstance(cls.lr, property)
