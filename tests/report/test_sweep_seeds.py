"""A sweep report pools seeds: a seed group's runs, and separate runs that differ only in ``train.seed``, are one
configuration with its mean and interval; one seed is marked as such."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from mlpbench.report import build_sweep
from mlpbench.tracking.tags import GROUP_TAG

from .conftest import TUTORIAL, log_run
from .helpers import rows_by


@pytest.fixture(scope="module")
def seeded(client, store, tmp_path_factory):
    """A sweep over optim.lr: lr 0.1 as a seed group of 3 (a parent with its seeds' runs under it), lr 0.3 as two
    separate jobs of seeds 0 and 1, lr 0.5 as one job of one seed."""
    exp = client.create_experiment("sweep-seeds-test")
    sweep = client.create_run(exp, run_name="sweep seeds", tags={"sweep": "parent",
                                                                 "sweep_overrides": "optim.lr=0.1,0.3,0.5"}).info.run_id
    accs = {"0.1": (0.91, 0.93, 0.92), "0.3": (0.95, 0.96), "0.5": (0.80,)}
    group = log_run(client, exp, "lr0.1 (3 seeds)", "numpy", "default", {**TUTORIAL, "optim.lr": "0.1"},
                    (0.95, np.mean(accs["0.1"]), 0.9), 3.0, tags={"mlflow.parentRunId": sweep, GROUP_TAG: "group"})
    for seed, acc in enumerate(accs["0.1"]):
        log_run(client, exp, f"lr0.1 seed={seed}", "numpy", "default",
                {**TUTORIAL, "optim.lr": "0.1", "train.seed": str(seed)}, (0.95, acc, acc - 0.01), 3.0,
                tags={"mlflow.parentRunId": group, GROUP_TAG: "seed"})
    for lr in ("0.3", "0.5"):
        for seed, acc in enumerate(accs[lr]):
            log_run(client, exp, f"lr{lr} [train.seed={seed}]", "numpy", "default",
                    {**TUTORIAL, "optim.lr": lr, "train.seed": str(seed)}, (0.97, acc, acc - 0.01), 3.0,
                    tags={"mlflow.parentRunId": sweep})
    client.set_terminated(sweep)
    parent_md = build_sweep(store.uri, tmp_path_factory.mktemp("s1"), parent_run_id=sweep, log_to_mlflow=False)
    experiment_md = build_sweep(store.uri, tmp_path_factory.mktemp("s2"), experiment="sweep-seeds-test",
                                log_to_mlflow=False)
    return parent_md.markdown.read_text(), experiment_md.markdown.read_text(), accs


def cell(accs) -> str:
    low, high = sp.t.interval(0.95, len(accs) - 1, loc=np.mean(accs), scale=sp.sem(accs))
    half = (high - low) * 50
    digits = min(2, max(0, 1 - int(np.floor(np.log10(half)))))  # the half-width to 2 significant digits
    return f"{np.mean(accs) * 100:.{digits}f} ± {half:.{digits}f} %"


@pytest.mark.parametrize("which", [0, 1], ids=["the sweep's children", "the experiment's runs"])
def test_each_configuration_is_its_seeds_mean_with_an_interval(seeded, which):
    md, accs = seeded[which], seeded[2]
    rows = {row[1]: row for row in rows_by(md, "Runs", width=1).values()}  # keyed by optim.lr
    assert rows["0.1"][2:4] == ["3", cell(accs["0.1"])]  # the seed group
    assert rows["0.3"][2:4] == ["2", cell(accs["0.3"])]  # two jobs that differ only in the seed
    assert rows["0.5"][2:4] == ["1 (no interval)", "80.00 %"]
    assert rows["0.3"][-1].endswith(" and 1 more")
    assert "3 configurations. Swept parameters: optim.lr." in md  # train.seed is pooled, never swept
