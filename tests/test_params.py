"""params.yaml is the composition of conf/, and DVC composes conf/ exactly as the project does.

An experiment applied to the workspace (only params.yaml changed, not conf/) is not drift: then the
committed params.yaml is checked against conf/ instead, and the workspace's must still be valid.

DVC's own ``compose_and_dump`` (what ``dvc exp run -S`` runs) writes the file here, with the schema
registered through ``hydra_plugins/`` as DVC finds it, so a drift or a schema DVC cannot see fails.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlpbench.config.load import load
from mlpbench.compose import compose
from mlpbench.options import BACKENDS

ROOT = Path(__file__).resolve().parents[1]


def dvc_compose(tmp_path: Path, overrides: list[str]) -> dict:
    """params.yaml as DVC writes it: in a fresh process, as DVC runs (no schema registered beforehand)."""
    out = tmp_path / "params.yaml"
    code = ("import sys; from dvc.utils.hydra import compose_and_dump; "
            "compose_and_dump(sys.argv[1], sys.argv[2], None, 'config', sys.argv[3], sys.argv[4:])")
    subprocess.run([sys.executable, "-c", code, str(out), str(ROOT / "conf"), str(ROOT), *overrides],
                   check=True, capture_output=True, text=True)
    return yaml.safe_load(out.read_text())


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def applied_experiment() -> bool:
    """True when only params.yaml differs from HEAD, not conf/: a `dvc exp apply` (or `dvc exp run`
    in the workspace) wrote an experiment's values there, which conf/ does not hold by design."""
    if _git("rev-parse", "HEAD").returncode != 0:
        return False
    changed = set(_git("diff", "HEAD", "--name-only", "--", "params.yaml", "conf").stdout.split())
    return changed == {"params.yaml"}


def test_params_yaml_is_the_composition_of_conf(tmp_path) -> None:
    if applied_experiment():
        # Then the committed pair must agree, and the workspace's params.yaml must still be valid.
        committed = yaml.safe_load(_git("show", "HEAD:params.yaml").stdout)
        load(yaml.safe_load((ROOT / "params.yaml").read_text()))
    else:
        committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert committed == dvc_compose(tmp_path, []), "params.yaml is out of date with conf/; regenerate it: make params"
    assert committed == compose(ROOT)


def test_dvc_composition_applies_the_schema(tmp_path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        dvc_compose(tmp_path, ["train.epochs=ten"])
    assert "train.epochs" in err.value.stderr
    assert dvc_compose(tmp_path, ["optim=adam"])["optim"] == compose(ROOT, ["optim=adam"])["optim"]


def test_unknown_experiment_is_an_error() -> None:
    with pytest.raises(Exception, match="experiment/no_such_preset"):
        compose(ROOT, ["experiment=no_such_preset"])


def test_make_ablation_sweeps_the_backends_params_yaml_trains(tmp_path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "backends=$$(python -m mlpbench.params backends)" in makefile and " backend=$$backends " in makefile
    done = subprocess.run([sys.executable, "-m", "mlpbench.params", "backends"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == ",".join(yaml.safe_load((ROOT / "params.yaml").read_text())["backends"])
    assert done.stdout.strip() == ",".join(BACKENDS)  # params.yaml trains every registered backend
    stale = tmp_path / "params.yaml"
    stale.write_text("backends: numpy\n")
    done = subprocess.run([sys.executable, "-m", "mlpbench.params", "backends", "--params", str(stale)],
                          capture_output=True, text=True)
    assert (done.returncode, done.stderr.strip()) == (1, f"params: {stale} has no list backends; regenerate it "
                                                         "with `make params`")
