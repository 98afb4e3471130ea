"""Reports on one data set each: named in the title, the published MNIST numbers with MNIST runs only,
and runs of two data sets refused before any file is written (real MLflow runs, no training)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlpbench.report import ReportError, build_ablation, build_comparison, build_sweep, read_run_ids
from mlpbench.report.dataset import MixedDatasetsError

from .conftest import COMPARED, DEFAULT, TUTORIAL, log_run
from .helpers import table

DIGITS = {"dataset": "digits", "dataset_title": "Digits"}
NO_PUBLISHED = "The reference tutorial published numbers for MNIST only, so none are shown for these runs on Digits."
# Text that only the published numbers bring into a comparison report.
PUBLISHED_TEXT = ("Tutorial (published)", "published numbers:", "tutorial's published validation accuracy",
                  "The published times", "published tutorial has no test accuracy")


@dataclass(frozen=True)
class Compared:
    run_files: list[Path]  # one per run: COMPARED's four, and a second seed of the tutorial setup per backend


def compared_runs(client, root: Path, name: str, title: str) -> Compared:
    """COMPARED's runs tagged with data set ``name``, the tutorial setup on two seeds, in experiment ``cmp-<name>``."""
    exp = client.create_experiment(f"cmp-{name}")
    tags = {"dataset": name, "dataset_title": title}
    files = []
    jobs = [(key, *spec, "0") for key, spec in COMPARED.items()]
    jobs += [(f"{key}_seed1", *spec, "1") for key, spec in COMPARED.items() if spec[0] == "tutorial"]
    for key, preset, backend, params, (train, val, test), seconds, run_name, seed in jobs:
        shift = 0.004 * int(seed)
        run_id = log_run(client, exp, f"{run_name} s{seed}", backend, preset,
                         {**params, "train.seed": seed, "data.name": name}, (train, val + shift, test), seconds,
                         tags=tags)
        path = root / name / f"{key}_run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"run_id": run_id}))
        files.append(path)
    return Compared(files)


@pytest.fixture(scope="module")
def by_dataset(client, tmp_path_factory) -> dict[str, Compared]:
    root = tmp_path_factory.mktemp("datasets")
    return {name: compared_runs(client, root, name, title) for name, title in (("mnist", "MNIST"),
                                                                               ("digits", "Digits"))}


def comparison(store, runs: Compared, out: Path) -> str:
    files = build_comparison(store.uri, read_run_ids(runs.run_files), out, log_to_mlflow=False)
    return files.markdown.read_text() + files.html.read_text()


def test_published_numbers_appear_with_mnist_runs_only(store, by_dataset, tmp_path):
    mnist = comparison(store, by_dataset["mnist"], tmp_path / "mnist")
    digits = comparison(store, by_dataset["digits"], tmp_path / "digits")
    for text in PUBLISHED_TEXT:  # the same runs on MNIST bring each of them
        assert text in mnist
        assert text not in digits
    assert NO_PUBLISHED not in mnist
    md = (tmp_path / "digits" / "comparison.md").read_text()
    assert md.count(NO_PUBLISHED) == 1 and md.count("MNIST") == 1  # the one sentence, nothing else
    assert [row[0] for row in table(md, "Accuracy and loss")[1:]] == ["Tutorial setup, rerun here"] * 2 + \
        ["Our default"] * 2


def test_every_comparison_names_its_data_set_in_its_title(store, by_dataset, tmp_path):
    comparison(store, by_dataset["digits"], tmp_path)
    md, html = (tmp_path / "comparison.md").read_text(), (tmp_path / "comparison.html").read_text()
    assert md.startswith("# mlpbench: NumPy (from scratch) vs PyTorch on Digits\n\nOn Digits, our default setup")
    assert "\n\n6 MLflow runs on Digits from " in md
    assert "<title>mlpbench: NumPy (from scratch) vs PyTorch on Digits</title>" in html


def test_a_comparison_of_two_data_sets_is_refused_and_the_last_report_kept(store, by_dataset, tmp_path):
    comparison(store, by_dataset["digits"], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    mixed = [*by_dataset["mnist"].run_files[:2], *by_dataset["digits"].run_files[:1]]
    with pytest.raises(MixedDatasetsError) as err:
        build_comparison(store.uri, read_run_ids(mixed), tmp_path, log_to_mlflow=False)
    message = str(err.value)
    assert message.startswith("the runs are of 2 data sets, which one report never mixes: mnist (2 runs: "
                              "tutorial numpy s0, tutorial torch | <h128> s0); digits (1 run: tutorial numpy s0); ")
    assert "name the run files of its training runs" in message and "\n" not in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comparison.html", "comparison.md", "comparison_figures"]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(MixedDatasetsError):
        build_comparison(store.uri, read_run_ids(mixed), fresh, log_to_mlflow=False)
    assert not list(fresh.iterdir())


def test_the_cli_refuses_two_data_sets_in_one_line(store, by_dataset, tmp_path, monkeypatch):
    import runpy

    from .conftest import ROOT

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    main = runpy.run_path(str(ROOT / "pipelines" / "report.py"))["main"]
    files = [str(by_dataset["mnist"].run_files[0]), str(by_dataset["digits"].run_files[0])]
    with pytest.raises(SystemExit) as exit_:
        main([*files, "--out", str(tmp_path), "--no-log", "--params", str(tmp_path / "none.yaml")])
    assert exit_.value.code.startswith("report failed: the runs are of 2 data sets") and "\n" not in exit_.value.code
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def two_datasets(client) -> str:
    """Experiment ``sweep-datasets``: numpy runs over optim.lr on MNIST and on Digits."""
    exp = client.create_experiment("sweep-datasets")
    for name, tags in (("mnist", {}), ("digits", DIGITS)):
        for lr in ("0.1", "0.01"):
            log_run(client, exp, f"{name} lr{lr}", "numpy", "default", {**DEFAULT, "optim.lr": lr, "data.name": name},
                    (0.97, 0.96, 0.95), 4.0, tags=tags)
    return "sweep-datasets"


def test_a_sweep_of_two_data_sets_is_refused_before_any_file(store, two_datasets, tmp_path):
    with pytest.raises(MixedDatasetsError, match=r"of 2 data sets, which one report never mixes: mnist \(2 runs: "
                       r"mnist lr0\.1, mnist lr0\.01\); digits \(2 runs: digits lr0\.1, digits lr0\.01\); report one "
                       r"data set at a time: narrow the selection with --filter \"tags.dataset = 'mnist'\""):
        build_sweep(store.uri, tmp_path, experiment=two_datasets, log_to_mlflow=False)
    assert not list(tmp_path.iterdir())


def test_a_sweep_of_one_data_set_names_it_and_never_sweeps_the_data_set(store, two_datasets, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment=two_datasets, filter_string="tags.dataset = 'digits'",
                        log_to_mlflow=False)
    md = files.markdown.read_text()
    assert md.startswith("# Sweep report: sweep-datasets on Digits\n")
    assert "Swept parameters: optim.lr." in md
    assert "<title>Sweep report: sweep-datasets on Digits</title>" in files.html.read_text()


@pytest.fixture(scope="module")
def digits_ablation(client) -> dict[str, str]:
    """An ablation of two steps (numpy) and a trials sweep, on Digits; a trials sweep on MNIST."""
    exp = client.create_experiment("ablation-digits")
    parent = client.create_run(exp, run_name="ablation digits", tags={
        "sweep": "parent", "sweep_overrides": "experiment=ablation/ablation_00_tutorial,ablation/ablation_01_init "
                                              "backend=numpy"}).info.run_id
    for i, (preset, change) in enumerate((("ablation_00_tutorial", {}), ("ablation_01_init", {"model.init": "auto"}))):
        log_run(client, exp, f"{preset} numpy", "numpy", preset, {**TUTORIAL, **change}, (0.93, 0.92 + i / 100, 0.91),
                3.0, tags={"mlflow.parentRunId": parent, **DIGITS})
    client.set_terminated(parent, "FINISHED")
    ids = {"ablation": parent}
    for name, tags in (("digits", DIGITS), ("mnist", {})):
        trials = client.create_run(exp, run_name=f"trials {name}", tags={
            "sweep": "parent", "sweep_overrides": "experiment=tutorial optim.lr=0.1,0.5"}).info.run_id
        for lr in ("0.1", "0.5"):
            log_run(client, exp, f"trial {name} lr{lr}", "numpy", "tutorial", {**TUTORIAL, "optim.lr": lr},
                    (0.981, 0.951, 0.94), 5.0, tags={"mlflow.parentRunId": trials, **tags})
        client.set_terminated(trials, "FINISHED")
        ids[f"trials_{name}"] = trials
    return ids


def test_an_ablation_names_its_data_set_and_compares_no_trial_with_mnist_numbers(store, digits_ablation, tmp_path):
    files = build_ablation(store.uri, tmp_path, digits_ablation["ablation"], [digits_ablation["trials_digits"]],
                           log_to_mlflow=False)
    md = files.markdown.read_text()
    assert md.startswith("# Ablation on Digits: from the tutorial's setup to our default\n")
    header = table(md, "The tutorial's numbers: reproduction trials")[0]
    assert header == ["optim.lr", "train acc", "val acc", "gap", "training", "MLflow run"]
    assert NO_PUBLISHED in md and "90.65" not in md and "99.15" not in md and "trials end within" not in md


def test_an_ablation_with_trials_of_another_data_set_is_refused_before_any_file(store, digits_ablation, tmp_path):
    with pytest.raises(MixedDatasetsError, match=r"trained on mnist, the ablation on digits; pass --trials sweeps "
                                                 r"of the ablation's data set"):
        build_ablation(store.uri, tmp_path, digits_ablation["ablation"], [digits_ablation["trials_mnist"]],
                       log_to_mlflow=False)
    assert not list(tmp_path.iterdir())
    assert issubclass(MixedDatasetsError, ReportError)
