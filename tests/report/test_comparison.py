"""The comparison report built from synthetic MLflow runs: values as recorded, sections, files."""
from __future__ import annotations

import base64
import re

import matplotlib.image
import pytest

from mlpbench import tracking
from mlpbench.report import ReportError, build_comparison, read_run_ids
from mlpbench.report.runs import history

from .conftest import COMPARED, EPOCHS, per_epoch
from .helpers import PNG_MAGIC, pct, rows_by, table

UI = "http://127.0.0.1:5000"
GROUP = {"tutorial": "Tutorial setup, rerun here", "default": "Our default"}


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("comparison")
    return build_comparison(store.uri, read_run_ids(list(store.run_files.values())), out, UI, log_to_mlflow=False)


@pytest.fixture(scope="module")
def md(report) -> str:
    return report.markdown.read_text(encoding="utf-8")


def test_tables_show_the_values_mlflow_recorded(store, client, md):
    results, cost = rows_by(md, "Accuracy and loss"), rows_by(md, "Time and memory")
    for key, (preset, backend, *_) in COMPARED.items():
        run = client.get_run(store.run_ids[key])
        m, tags = run.data.metrics, run.data.tags
        # one seed each: the values themselves, no interval
        assert results[GROUP[preset], backend] == [
            "1", pct(m["final/train_acc"]), pct(m["final/val_acc"]), pct(m["test/acc"]), "—", "—",
            f"{m['final/train_loss']:.4f}", f"{m['final/val_loss']:.4f}", f"{m['test/loss']:.4f}", "3", "2"]
        assert cost[GROUP[preset], backend][4:] == [f"{m['time/samples_per_s_median']:,.0f}",
                                                   f"{m['memory/peak_rss_mb']:,.0f} MB", tags["backend_device"],
                                                   tags["backend_threads"], tags["backend_dtype"]]
    # one row spelled out, so the formats themselves are checked too
    assert cost[GROUP["default"], "numpy"] == ["1", "16.10 s", "14.49 s", "4.88 s", "3,727", "632 MB", "cpu", "1",
                                               "float32"]
    assert cost[GROUP["tutorial"], "torch"][:4] == ["1", "10.50 s", "9.45 s", "3.18 s"]


def test_published_tutorial_numbers_are_labelled_reference_rows(md):
    results, cost = rows_by(md, "Accuracy and loss"), rows_by(md, "Time and memory")
    assert results["Tutorial (published)", "numpy"] == ["—", "99.15 % †", "90.65 % †"] + ["—"] * 8
    assert results["Tutorial (published)", "torch"][:3] == ["—", "99.29 % †", "97.17 % †"]
    assert cost["Tutorial (published)", "torch"] == ["—", "12.80 s †"] + ["—"] * 7
    assert [row[0] for row in table(md, "Accuracy and loss")[1:]] == ["Tutorial (published)"] * 2 + \
        [GROUP["tutorial"]] * 2 + [GROUP["default"]] * 2


def test_sentences_are_computed_from_the_recorded_numbers(md):
    text = md.split("## Where the numbers differ", 1)[1].split("## Figures", 1)[0]
    assert "Validation accuracy (mean over seeds), PyTorch minus NumPy. Tutorial (published): +6.52 points (NumPy " \
           "90.65 % †, PyTorch 97.17 % †); Tutorial setup, rerun here: -0.34 points (NumPy 91.21 %, PyTorch 90.87 %); " \
           "Our default: -0.13 points (NumPy 98.26 %, PyTorch 98.13 %)." in text
    # one seed per backend: a difference, but no verdict
    assert "In the rerun, paired by seed (1 seed), the difference is -0.34 points (1 seed) (one seed only: no " \
           "interval, so no verdict on validation accuracy), against +6.52 points in the tutorial's published" in text
    assert "NumPy validation 91.21 % (+0.56 points), train 91.96 % (-7.19 points); PyTorch validation 90.87 % " \
           "(-6.30 points), train 91.52 % (-7.77 points)." in text
    assert "Our default: NumPy +0.93 points, PyTorch +1.04 points." in text
    assert "Tutorial setup, rerun here: NumPy is 1.90× faster than PyTorch (5.54 s vs 10.5 s; median epoch: NumPy is 1.90× faster than PyTorch)" in text
    assert "optimizer sgd → adam; learning rate 0.01 → 0.001; schedule constant → cosine" in text
    assert "optim.beta1" not in text  # keys of one optimizer only are left to the table
    assert "NumPy validation +7.05 points, test +6.52 points; PyTorch validation +7.26 points, " \
           "test +7.12 points" in text


def test_title_names_the_backends_and_the_data_set_from_the_tags(md):
    assert md.startswith("# mlpbench: NumPy (from scratch) vs PyTorch on MNIST\n\nOn MNIST, our default setup")
    assert "\n\n4 MLflow runs on MNIST from" in md


def test_configuration_shows_each_options_keys_and_a_dash_where_a_run_has_none(md):
    config = rows_by(md, "Configurations", width=1)
    assert table(md, "Configurations")[0] == ["setting", GROUP["tutorial"], GROUP["default"]]
    assert config["initialisation",] == ["uniform(-0.5, 0.5)", "auto (he)"]
    assert config["optimizer",] == ["sgd", "adam"] and config["optim.momentum",] == ["0.0", "—"]
    assert config["optim.beta1",] == ["—", "0.9"] and config["schedule.min_lr",] == ["—", "0.0"]
    settings = [row[0] for row in table(md, "Configurations")[1:]]
    assert settings.index("learning rate") < settings.index("optim.beta1") < settings.index("weight decay")


def test_environment_comes_from_the_run_tags(md):
    env = rows_by(md, "Environment", width=1)
    assert env["CPU",] == ["Test CPU 9000"] and env["git commit",] == ["0123abcd"]
    assert env["PyTorch",] == ["2.13.0+cpu"] and env["data sha256",] == ["5eed" * 16]


def test_runs_link_to_the_mlflow_ui(store, client, report, md):
    html = report.html.read_text(encoding="utf-8")
    for run_id in store.run_ids.values():
        url = f"{UI}/#/experiments/{client.get_run(run_id).info.experiment_id}/runs/{run_id}"
        assert f"[{run_id}]({url})" in md and f'<a href="{url}">{run_id}</a>' in html
    runs = rows_by(md, "Runs")
    assert runs[GROUP["tutorial"], "torch"][:2] == ["tutorial torch | <h128>", "FINISHED"]


def test_without_ui_url_run_ids_are_code(store, tmp_path):
    files = build_comparison(store.uri, [store.run_ids["numpy"]], tmp_path, log_to_mlflow=False)
    md, html = files.markdown.read_text(), files.html.read_text()
    assert f"`{store.run_ids['numpy']}`" in md and f"<code>{store.run_ids['numpy']}</code>" in html
    assert "http" not in md and "<a " not in html


def test_figures_are_pngs_embedded_in_the_html(report, md):
    assert [p.name for p in report.figures] == ["compared.png", "curves_compared.png", "curves_numpy.png",
                                               "curves_torch.png"]
    html = report.html.read_text()
    embedded = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert [base64.b64decode(data) for data in embedded] == [p.read_bytes() for p in report.figures]
    for path in report.figures:
        assert path.read_bytes().startswith(PNG_MAGIC) and matplotlib.image.imread(path).ndim == 3
        assert f"]({path.parent.name}/{path.name})" in md


def test_html_is_self_contained_and_escapes_run_text(report):
    html = report.html.read_text()
    assert re.findall(r'(?:src|href)="(?!data:|http://127\.0\.0\.1:5000/#)', html) == []
    assert "<script" not in html and "<link" not in html
    assert "tutorial torch | &lt;h128&gt;" in html and "<h128>" not in html
    assert "<td class=\"r\">99.15&nbsp;% †</td>" in html and "<td class=\"l\">Tutorial (published)</td>" in html


def test_curves_are_the_metric_history(store):
    curves = history(store.uri, store.run_ids["numpy"])
    logged = per_epoch(COMPARED["numpy"][3][1])
    assert curves["epoch"] == list(EPOCHS)
    assert curves["val/acc"] == [v for k, v, _ in logged if k == "val/acc"]


def test_same_runs_give_byte_identical_files(store, report, tmp_path):
    again = build_comparison(store.uri, list(reversed(store.run_ids.values())), tmp_path, UI, log_to_mlflow=False)
    assert again.markdown.read_bytes() == report.markdown.read_bytes()
    assert again.html.read_bytes() == report.html.read_bytes()
    assert [p.read_bytes() for p in again.figures] == [p.read_bytes() for p in report.figures]


def test_unknown_run_ids_fail_naming_them(store, tmp_path):
    missing = ["0" * 32, "not a run id"]
    with pytest.raises(ReportError) as err:
        build_comparison(store.uri, [store.run_ids["numpy"], *missing], tmp_path, log_to_mlflow=False)
    assert all(m in str(err.value) for m in missing) and store.uri in str(err.value)
    assert store.run_ids["numpy"] not in str(err.value)
    assert not (tmp_path / "comparison.md").exists()


@pytest.mark.parametrize("content, message", [
    (None, "torch_run.json not found"), ("[1]", "not a JSON object"),
    ('{"torch": {"val_acc": 0.9}}', "has no 'run_id'; name a run file")])
def test_unreadable_run_files_fail_naming_them(tmp_path, content, message):
    path = tmp_path / "torch_run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message):
        read_run_ids([path])


def test_report_is_logged_as_an_mlflow_run_with_its_files(store, client, tmp_path):
    files = build_comparison(store.uri, list(store.run_ids.values()), tmp_path)
    run = client.get_run(files.report_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["report"] == "true"
    assert run.data.tags["report_runs"] == ",".join(store.run_ids.values())
    source = client.get_experiment(client.get_run(store.run_ids["tutorial_numpy"]).info.experiment_id)
    # Apart from the training runs, in <experiment>-reports, and linked from each run it summarises.
    assert client.get_experiment(run.info.experiment_id).name == source.name + "-reports"
    assert run.data.tags["report_source_experiment_id"] == source.experiment_id
    for run_id in store.run_ids.values():
        tags = client.get_run(run_id).data.tags
        assert (tags["report_run_id"], tags["report_experiment"]) == (run.info.run_id, source.name + "-reports")
    figures = {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "comparison_figures")}
    assert figures == {p.name for p in files.figures}
    copy = tracking.download_artifact(store.uri, run.info.run_id, "comparison.md", tmp_path / "dl")
    assert copy.read_bytes() == files.markdown.read_bytes()
