"""No stage command in dvc.yaml pastes a setting into its shell (STYLE.md, habit 17).

DVC runs a stage's ``cmd`` through a shell after interpolating ``${...}`` unquoted, so a value set with
``dvc exp run -S`` could run as a command before any script checked it. Stage scripts read params.yaml
themselves; the one interpolation left, the matrix's backend name, is refused while composing unless it
is a registered backend (tests/integration/test_stage_injection.py sends real values through DVC).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlpbench.config import ConfigError
from mlpbench.params import take_from_params

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_no_stage_command_interpolates_a_setting_except_the_backend_name():
    for name, stage in STAGES.items():
        assert set(re.findall(r"\$\{([^}]*)\}", stage["cmd"])) <= {"item.backend"}, name


def test_the_tutorial_stage_reads_exactly_the_params_it_declares():
    cmd = STAGES["tutorial"]["cmd"].split()
    shared = cmd[cmd.index("--shared-from-params") + 1].split(",")
    assert shared == STAGES["tutorial"]["params"]


def test_shared_settings_come_from_the_params_file(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"seed": 7, "dtype": "float64"}, "data": {"split": {"seed": 3}}}))
    values = {"train": {"seed": 0, "dtype": "float32", "epochs": 10}, "data": {"split": {"seed": 42}, "name": "m"}}
    taken = take_from_params(values, params, ["train.seed", "data.split"])
    assert taken == {"train": {"seed": 7, "dtype": "float32", "epochs": 10},
                     "data": {"split": {"seed": 3}, "name": "m"}}
    assert values["train"]["seed"] == 0  # the composed values are left as they were
    with pytest.raises(ConfigError, match=r"train.epochs is not a setting of both .*params.yaml and conf/"):
        take_from_params(values, params, ["train.epochs"])
