"""The ablation report on seed groups (as `make ablation` with ABLATION_SEEDS=3 logs them: a parent per step
and backend, a run per seed under it) with planted contributions: a real one is called real, a zero one
"not distinguishable from zero", and the intervals are scipy's paired t-intervals."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from mlpbench.report import build_ablation
from mlpbench.tracking.tags import GROUP_TAG

from .conftest import TUTORIAL, log_run
from .helpers import rows_by

SEEDS = (0, 1, 2)
NOISE = (0.0012, -0.0007, 0.0004)  # each seed's own offset, shared by every step: pairing removes it
JITTER = (0.0003, -0.0002, -0.0001)  # a zero contribution's seed-to-seed noise (mean 0)
# (preset, change, per-seed validation accuracy of numpy before NOISE); step 01 gains 3 points, step 02 nothing
STEPS = (("ablation_00_tutorial", {}, (0.90, 0.90, 0.90)),
         ("ablation_01_init", {"model.init": "auto"}, (0.930, 0.931, 0.929)),
         ("ablation_02_width", {"model.hidden_sizes": "[512]"}, tuple(0.930 + j for j in JITTER)))
OVERRIDES = "experiment=" + ",".join(p.replace("ablation_", "ablation/", 1) for p, _, _ in STEPS) + " backend=numpy,torch"


@pytest.fixture(scope="module")
def seeded(client, store, tmp_path_factory):
    exp = client.create_experiment("ablation-seeds-test")
    sweep = client.create_run(exp, run_name="sweep ablation", tags={"sweep": "parent", "sweep_overrides": OVERRIDES})
    sweep = sweep.info.run_id
    params, values = dict(TUTORIAL), {}
    for preset, change, accs in STEPS:
        params |= change
        for backend in ("numpy", "torch"):
            shift = 0.002 if backend == "torch" else 0.0  # torch a little higher everywhere: the contributions agree
            per_seed = [accs[s] + NOISE[s] + shift for s in SEEDS]
            values[preset, backend] = per_seed
            group = log_run(client, exp, f"{preset} {backend} (3 seeds)", backend, preset, params,
                            (np.mean(per_seed) + 0.02, np.mean(per_seed), np.mean(per_seed) - 0.001), 3.0,
                            tags={"mlflow.parentRunId": sweep, GROUP_TAG: "group"})
            for s in SEEDS:
                log_run(client, exp, f"{preset} {backend} seed={s}", backend, preset, {**params, "train.seed": str(s)},
                        (per_seed[s] + 0.02, per_seed[s], per_seed[s] - 0.001), 3.0,
                        tags={"mlflow.parentRunId": group, GROUP_TAG: "seed"})
    client.set_terminated(sweep, "FINISHED")
    report = build_ablation(store.uri, tmp_path_factory.mktemp("ablation-seeds"), sweep, log_to_mlflow=False)
    return report.markdown.read_text(), values


def test_a_real_contribution_is_real_and_a_zero_one_is_not_distinguishable(seeded):
    md, values = seeded
    rows = rows_by(md, "Contribution of each change", width=1)
    assert "not distinguishable" not in rows[("01 init",)][1]
    assert rows[("02 width",)][1].endswith("not distinguishable from zero")
    assert "Contributions to validation accuracy whose 95 % interval excludes zero: 01 init (NumPy +3.00 points" in md
    assert "Not distinguishable from zero: 02 width (NumPy); 02 width (PyTorch)." in md
    # torch is higher by the same 0.2 points at every step: its contributions equal NumPy's
    assert rows[("01 init",)][3] == "backends agree within the noise"


def test_contributions_are_paired_t_intervals_over_the_seeds(seeded):
    md, values = seeded
    before, after = values["ablation_01_init", "numpy"], values["ablation_02_width", "numpy"]
    ci = sp.ttest_rel(after, before).confidence_interval(0.95)
    diff = np.mean(np.subtract(after, before))
    path = rows_by(md, "The path")
    assert path[("02 width", "numpy")][0] == "3"
    assert path[("02 width", "numpy")][3] == (f"{diff * 100:+.2f} points [{ci.low * 100:+.2f}, {ci.high * 100:+.2f}], "
                                              "not distinguishable from zero")
