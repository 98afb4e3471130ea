"""The report's headline: directions of ratios, the timing check on runs made to disagree, the machine's load."""
from __future__ import annotations

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlpbench import stats
from mlpbench.report import format as fmt
from mlpbench.report import headline, torch_options
from mlpbench.report.tables import DEFAULT
from mlpbench.report.uncertainty import Comparison, faster


def estimate(mean: float, low: float, high: float, n: int = 5) -> stats.Estimate:
    return stats.Estimate(mean=mean, low=low, high=high, sd=0.01, n=n)


def test_a_ratio_is_said_with_its_direction_and_no_clear_difference_when_its_interval_holds_1():
    assert faster(estimate(1.42, 1.32, 1.52), "NumPy", "PyTorch") == "NumPy is 1.42× [1.32, 1.52] faster than PyTorch"
    assert faster(estimate(0.5, 0.4, 0.625), "NumPy", "PyTorch") == "PyTorch is 2.00× [1.60, 2.50] faster than NumPy"
    assert faster(estimate(1.02, 0.95, 1.10), "NumPy", "PyTorch") == (
        "no clear difference: PyTorch takes 1.02× [0.95, 1.10] as long as NumPy")


def seed_rows(steps: dict[str, float], epochs: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"group": DEFAULT, "backend": b, "run_id": f"{b}{s}", "params.train.seed": str(s),
                          "time/step_median_s": steps[b] * (1 + s / 100), "time/epoch_median_s": epochs[b]}
                         for b in ("numpy", "torch") for s in range(5)])


def comparison(epoch: stats.Estimate) -> Comparison:
    return Comparison(DEFAULT, "numpy", "torch", list(range(5)), None, None, epoch, {})


def test_epoch_and_step_ratios_pointing_different_ways_give_one_sentence_saying_which_to_trust():
    rows = seed_rows({"numpy": 0.030, "torch": 0.012}, {"numpy": 1.0, "torch": 1.4})  # probe: torch faster
    step = headline.step_ratio(rows, "numpy", "torch")
    assert step.mean < 1 and step.high < 1
    check = headline.timing_check(comparison(estimate(1.4, 1.3, 1.5)), step)
    assert check.startswith("The two speed measurements disagree: by the median epoch of training NumPy is 1.40× "
                            "[1.30, 1.50] faster than PyTorch; by the step probe at each run's end PyTorch is ")
    assert "Trust the epoch times" in check
    wide = headline.timing_check(comparison(estimate(1.4, 0.9, 2.2)), step)
    assert "Trust neither" in wide and "no clear difference" in wide


def test_agreeing_timings_say_nothing():
    rows = seed_rows({"numpy": 0.012, "torch": 0.019}, {"numpy": 1.0, "torch": 1.4})
    assert headline.timing_check(comparison(estimate(1.4, 1.3, 1.5)), headline.step_ratio(rows, "numpy", "torch")) is None
    # the committed runs: both say NumPy is faster, the epoch ratio's interval wide (1.62 / 1.23 > 1.25): no
    # contradiction to explain, the interval says the rest
    assert headline.timing_check(comparison(estimate(1.41, 1.23, 1.62)),
                                 headline.step_ratio(rows, "numpy", "torch")) is None


def test_the_load_is_the_mean_and_max_over_the_runs_epochs_against_the_cores(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("load", artifact_location=(tmp_path / "a").as_uri())
    ids = []
    for loads in ((1.0, 2.0), (3.0, 6.0)):
        run_id = client.create_run(exp).info.run_id
        client.log_batch(run_id, metrics=[Metric(headline.LOAD, v, 1000 * e, e) for e, v in enumerate(loads, 1)])
        ids.append(run_id)
    quiet = client.create_run(exp).info.run_id
    runs = pd.DataFrame({"run_id": ids, "tags.cpu_count": ["4", "4"]})
    text = headline.machine_load(uri, runs)
    assert text.startswith("Machine load while training (1-minute load average, per epoch, over 4 epochs): mean 3.0, "
                           "max 6.0 on 4 CPU cores.")
    assert "more work than cores" in text
    # a 2-thread run alone keeps the load of a 2-core machine at about 2: not a busy machine
    alone = client.create_run(exp).info.run_id
    client.log_batch(alone, metrics=[Metric(headline.LOAD, v, 1000 * e, e) for e, v in enumerate((1.9, 2.04), 1)])
    text = headline.machine_load(uri, pd.DataFrame({"run_id": [alone], "tags.cpu_count": ["2"]}))
    assert text.endswith("max 2.0 on 2 CPU cores.")
    assert "did not record the machine's load" in headline.machine_load(
        uri, pd.DataFrame({"run_id": [quiet], "tags.cpu_count": ["4"]}))


def test_a_column_of_times_has_one_unit_and_accuracy_no_digit_its_interval_does_not_support():
    assert fmt.seconds_column([0.13, 0.0779]) == ["130.0 ms", "77.9 ms"]
    assert fmt.seconds_column([2.133, 0.0098, float("nan")]) == ["2.133 s", "0.010 s", "—"]
    assert fmt.estimate_pct(estimate(0.84623, 0.83323, 0.85923)) == "84.6 ± 1.3 %"
    assert fmt.estimate_pct(estimate(0.98172, 0.98032, 0.98312)) == "98.17 ± 0.14 %"


def test_a_first_epoch_no_slower_than_the_rest_shows_a_dash_not_zero():
    assert torch_options.first_extra([0.0, 0.0098, 2.13]) == ["—", "0.010 s", "2.130 s"]


def test_the_machine_part_names_the_cpu_threads_days_and_commit():
    import pandas as pd

    from mlpbench.report.headline import machine

    day = int(pd.Timestamp("2026-12-06T10:00", tz="UTC").timestamp() * 1000)
    runs = pd.DataFrame({"backend": ["numpy", "torch"], "start_time": [day, day + 86_400_000],
                         "tags.cpu": ["AMD EPYC"] * 2, "tags.backend_threads": ["2", "2"],
                         "tags.git_commit": ["391f5c6abc"] * 2})
    assert machine(runs, ["numpy", "torch"]) == ("AMD EPYC, 2 threads each, trained 2026-12-06 to 2026-12-07 (UTC), "
                                                 "code at git commit 391f5c6")
    assert "trained" not in machine(runs.drop(columns="start_time"), ["numpy", "torch"])
    # a run made from a changed working tree says so, not just the commit it started from
    runs["tags.git_commit"] = ["391f5c6abc-dirty", "391f5c6abc"]
    assert machine(runs, ["numpy", "torch"]).endswith("code at git commit 391f5c6 with uncommitted changes, 391f5c6")
