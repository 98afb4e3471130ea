"""The ablation report from MLflow runs shaped like a real ablation sweep's, and its errors."""
from __future__ import annotations

import runpy
from dataclasses import dataclass

import matplotlib.image
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from mlpbench.options import colour, label
from mlpbench.report import ReportError, build_ablation
from mlpbench.report.ablation import batch_changes, expected, param_changes

from .conftest import ROOT, TUTORIAL, log_run
from .helpers import MAX_WIDTH_PX, PNG_MAGIC, pct, rows_by, table

# (preset, params changed from the step before, val acc per backend); torch's step 02 FAILED. One seed
# per run: contributions carry no interval (tests/report/test_ablation_seeds.py has seed groups).
STEPS = (("ablation_00_tutorial", {}, {"numpy": 0.90, "torch": 0.905}),
         ("ablation_01_init", {"model.init": "auto"}, {"numpy": 0.93, "torch": 0.92}),
         ("ablation_02_width", {"model.hidden_sizes": "[512]"}, {"numpy": 0.95, "torch": 0.96}),
         ("ablation_03_dropout", {"model.dropout": "0.25"}, {"numpy": 0.955, "torch": 0.9651}))
OVERRIDES = "experiment=" + ",".join(p.replace("ablation_", "ablation/", 1) for p, _, _ in STEPS) + " backend=numpy,torch"


@dataclass(frozen=True)
class Ablation:
    parent: str
    runs: dict[tuple[str, str], str]  # (preset, backend) -> run id, FAILED ones included
    trials: str
    trial_runs: tuple[str, ...]


@pytest.fixture(scope="module")
def ablation(client) -> Ablation:
    exp = client.create_experiment("ablation-test")
    parent = client.create_run(exp, run_name="sweep ablation", tags={"sweep": "parent", "sweep_overrides": OVERRIDES})
    parent = parent.info.run_id
    runs, params = {}, dict(TUTORIAL)
    for i, (preset, change, val) in enumerate(STEPS):
        params |= change
        for backend in ("numpy", "torch"):
            failed = (preset, backend) == ("ablation_02_width", "torch")
            runs[preset, backend] = log_run(
                client, exp, f"{preset} {backend}", backend, preset, params,
                (val[backend] + 0.02, val[backend], val[backend] - 0.001 * (i + 1)), 3.0 + i,
                tags={"mlflow.parentRunId": parent, **({"error": "RuntimeError: boom"} if failed else {})},
                status="FAILED" if failed else "FINISHED")
            client.log_metric(runs[preset, backend], "time/step_median_s", 0.001 * (i + 2) + (backend == "torch") / 1e4)
    client.set_terminated(parent, "FINISHED")
    trials = client.create_run(exp, run_name="sweep trials", tags={
        "sweep": "parent", "sweep_overrides": "experiment=tutorial optim.lr=0.1,0.5"}).info.run_id
    trial_runs = tuple(log_run(client, exp, f"trial lr{lr}", "numpy", "tutorial", {**TUTORIAL, "optim.lr": lr}, acc, 5.0,
                               tags={"mlflow.parentRunId": trials})
                       for lr, acc in (("0.1", (0.9915, 0.9066, 0.90)), ("0.5", (0.95, 0.93, 0.92))))
    client.set_terminated(trials, "FINISHED")
    return Ablation(parent, runs, trials, trial_runs)


@pytest.fixture(scope="module")
def report(store, ablation, tmp_path_factory):
    return build_ablation(store.uri, tmp_path_factory.mktemp("ablation"), ablation.parent, [ablation.trials],
                          log_to_mlflow=False, machine="Measured on a test machine.")


def metric(client, run_id: str, key: str) -> float:
    return client.get_run(run_id).data.metrics[key]


def test_the_path_lists_each_finished_step_per_backend_with_its_contribution(client, ablation, report):
    md = report.markdown.read_text()
    header, *body = table(md, "The path")
    assert header[:7] == ["step", "backend", "seeds", "val acc (mean)", "test acc (mean)", "Δ val [95 % CI]",
                          "Δ test [95 % CI]"]
    finished = [(p, b) for p, _, _ in STEPS for b in ("numpy", "torch") if (p, b) != ("ablation_02_width", "torch")]
    assert [(r[0], r[1]) for r in body] == [(p.removeprefix("ablation_").replace("_", " ", 1), b) for p, b in finished]
    assert [r[-1] for r in body] == [f"`{ablation.runs[k]}`" for k in finished]
    for row, (preset, backend) in zip(body, finished):
        run_id = ablation.runs[preset, backend]
        assert row[2:5] == ["1", pct(metric(client, run_id, "final/val_acc")), pct(metric(client, run_id, "test/acc"))]
        assert row[7] == f"{1000 * metric(client, run_id, 'time/step_median_s'):.1f} ms"
    # torch's step 03 is measured against its step 01: its step 02 failed
    before, after = (metric(client, ablation.runs[p, "torch"], "final/val_acc")
                     for p in ("ablation_01_init", "ablation_03_dropout"))
    assert rows_by(md, "The path")[("03 dropout", "torch")][3] == f"{100 * (after - before):+.2f} points (1 seed)"
    assert "Missing steps (no finished run): ablation_02_width (PyTorch)" in md


def test_contributions_name_what_changed_and_say_one_seed_cannot_tell(client, ablation, report):
    md = report.markdown.read_text()
    rows = rows_by(md, "Contribution of each change", width=1)
    assert rows[("01 init",)][0] == "model.init uniform → auto"
    deltas = {b: metric(client, ablation.runs["ablation_01_init", b], "final/val_acc")
              - metric(client, ablation.runs["ablation_00_tutorial", b], "final/val_acc") for b in ("numpy", "torch")}
    assert rows[("01 init",)][1:3] == [f"{100 * deltas[b]:+.2f} points (1 seed)" for b in ("numpy", "torch")]
    assert rows[("01 init",)][3] == "one seed: cannot tell"
    assert rows[("02 width",)][2:] == ["—", "one backend only"]
    assert rows[("03 dropout",)][3] == "against an earlier step (a step is missing)"
    assert "Each step ran on one seed: its contributions carry no interval" in md


def test_failed_runs_are_listed_apart_and_the_machine_is_stated(ablation, report):
    md = report.markdown.read_text()
    header, *others = table(md, "Runs that did not finish or are no step")
    assert others == [["ablation_02_width torch", "torch", "FAILED", "RuntimeError: boom",
                       f"`{ablation.runs['ablation_02_width', 'torch']}`"]]
    assert "Measured on a test machine." in md
    assert [p.name for p in report.figures] == ["val_acc.png", "epoch_time.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in report.figures)


def test_headline_goes_from_the_first_to_the_last_step(client, ablation, report):
    md = report.markdown.read_text()
    for backend in ("numpy", "torch"):
        first, last = (metric(client, ablation.runs[p, backend], "final/val_acc")
                       for p in ("ablation_00_tutorial", "ablation_03_dropout"))
        assert f"{label(backend)}: validation accuracy {pct(first)} at step 00 tutorial → {pct(last)} at step 03" in md


def test_the_trials_table_compares_with_the_published_numbers(client, ablation, report):
    rows = rows_by(report.markdown.read_text(), "The tutorial's numbers: reproduction trials", width=1)
    for run_id in ablation.trial_runs:
        m = client.get_run(run_id).data
        train, val = m.metrics["final/train_acc"], m.metrics["final/val_acc"]
        row = rows[(m.params["optim.lr"],)]
        assert row[:5] == [pct(train), pct(val), f"{100 * (train - val):+.2f} points",
                           f"{100 * (val - 0.9065):+.2f} points", f"{100 * (train - val - 0.085):+.2f} points"]
        assert row[5] == ("yes" if abs(val - 0.9065) <= 0.005 and abs(train - val - 0.085) <= 0.01 else "no")
        curves = {k: {m.step: m.value for m in client.get_metric_history(run_id, k)} for k in ("train/acc", "val/acc")}
        near = min(curves["val/acc"], key=lambda e: abs(curves["val/acc"][e] - 0.9065)
                   + abs(curves["train/acc"][e] - curves["val/acc"][e] - 0.085))
        assert row[6:9] == [str(near), pct(curves["train/acc"][near]), pct(curves["val/acc"][near])]
    assert "1 of 2 trials end within" in report.markdown.read_text()


def test_a_sweep_that_is_no_ablation_is_refused_in_one_line(store, tmp_path):
    with pytest.raises(ReportError, match=r"is not an ablation: none of its 4 runs has an ablation step preset"):
        build_ablation(store.uri, tmp_path, store.parent_run_id, log_to_mlflow=False)
    assert not list(tmp_path.iterdir())


def test_the_cli_writes_reports_ablation_and_refuses_trials_without_it(store, ablation, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    main = runpy.run_path(str(ROOT / "pipelines" / "report.py"))["main"]
    common = ["--out", str(tmp_path), "--no-log", "--params", str(tmp_path / "no-params.yaml")]
    main(["--ablation", ablation.parent, *common])
    assert f"wrote {tmp_path / 'ablation' / 'ablation.md'}" in capsys.readouterr().out
    assert (tmp_path / "ablation" / "ablation.html").is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["--trials", ablation.trials, *common])
    assert exit_.value.code == ("report failed: --trials and --machine apply to --ablation only "
                                "(pass --debug or set MLPBENCH_DEBUG=1 for the traceback)")


@pytest.mark.parametrize("overrides, backends", [
    ("experiment=ablation/ablation_01_tutorial backend=numpy,torch", ["numpy", "torch"]),
    ("backend=choice(torch,numpy) experiment=ablation/ablation_01_tutorial", ["numpy", "torch"]),
    # as Hydra runs it: the later override of a key replaces the earlier one
    ("backend=numpy experiment=ablation/ablation_01_tutorial backend=torch", ["torch"]),
])
def test_the_expected_backends_are_those_the_sweep_ran(overrides, backends):
    runs = pd.DataFrame({"preset": ["ablation_01_tutorial"], "backend": ["numpy"]})
    steps, expected_backends = expected({"tags": {"sweep_overrides": overrides}}, runs)
    assert steps == ["ablation_01_tutorial"] and expected_backends == backends


def test_the_ablation_plots_epoch_time_in_each_backends_colour(store, ablation, client, tmp_path, drawn):
    files = build_ablation(store.uri, tmp_path, ablation.parent, log_to_mlflow=False)
    epoch = drawn["epoch_time.png"].axes[0]
    assert epoch.get_ylabel() == "median epoch (s)"
    lines = {line.get_label(): line for line in epoch.get_lines()}
    first = client.get_run(ablation.runs["ablation_00_tutorial", "numpy"]).data.metrics["time/epoch_median_s"]
    assert lines["NumPy"].get_ydata()[0] == pytest.approx(first)
    assert to_hex(lines["NumPy"].get_color()) == to_hex(colour("numpy"))
    assert to_hex(lines["PyTorch"].get_color()) == to_hex(colour("torch"))
    for path in files.figures:
        assert matplotlib.image.imread(path).shape[1] <= MAX_WIDTH_PX, path.name


def test_the_runs_are_named_by_id_and_how_to_open_them_never_by_a_local_path(store, ablation, report, tmp_path):
    intro = report.markdown.read_text().split("\n## ", 1)[0]
    assert str(store.root) not in intro and "`sqlite:///mlflow.db`" in intro
    assert "start the UI with `make ui` and search its id" in intro and f"`{ablation.parent}`" in intro
    linked = build_ablation(store.uri, tmp_path, ablation.parent, ui_url="http://mlflow.example:5000",
                            log_to_mlflow=False).markdown.read_text().split("\n## ", 1)[0]
    assert f"[{ablation.parent}](http://mlflow.example:5000/#/experiments/" in linked
    assert "make ui" not in linked and str(store.root) not in linked


def test_the_caption_names_a_batch_size_change():
    frame = pd.DataFrame({"step": [0, 0, 1, 2], "change": ["tutorial", "tutorial", "width", "batch"],
                          "params.train.batch_size": ["64", "64", "64", "768"]})
    assert batch_changes(frame) == " The batch size changes at step 02 batch (64 → 768)."
    assert batch_changes(frame.iloc[:3]) == ""


def test_a_param_logged_only_when_on_reads_as_off_where_a_run_lacks_it():
    """A step that turns max-norm or input dropout on names the change; runs that both lack them changed nothing."""
    before = pd.Series({"params.model.dropout": "0.5"})
    after = pd.Series({"params.model.dropout": "0.5", "params.model.max_norm": "3.5",
                       "params.model.input_dropout": "0.2"})
    assert param_changes(before, after) == "model.input_dropout 0.0 → 0.2; model.max_norm None → 3.5"
    assert param_changes(after, before) == "model.input_dropout 0.2 → 0.0; model.max_norm 3.5 → None"
    assert param_changes(before, before.copy()) == "nothing"
