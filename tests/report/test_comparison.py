"""The comparison report against real tiny runs: numbers from MLflow, figures, determinism, logging."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib.image
import pytest

from mlpbench import tracking
from mlpbench.report import ReportError, build_comparison, read_run_ids
from mlpbench.report import format as fmt
from mlpbench.report.groups import GROUP_LABELS, PUBLISHED

ORDER = ("numpy", "torch", "tutorial_numpy", "tutorial_torch")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ids(tracked) -> list[str]:
    return read_run_ids([tracked.metrics_files[k] for k in ORDER])


def _row(markdown: str, group: str, backend: str, section: str) -> list[str]:
    """The cells of the first table row for (group, backend) after heading ``section``."""
    text = markdown.split(f"## {section}", 1)[1]
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {group} | {backend} |"))
    return [c.strip() for c in line.strip("|").split(" | ")]


@pytest.fixture(scope="module")
def report(tracked, tmp_path_factory):
    out = tmp_path_factory.mktemp("comparison")
    return build_comparison(tracked.uri, _ids(tracked), out, ui_url="http://127.0.0.1:5000", log_to_mlflow=False)


def test_tables_show_the_values_mlflow_recorded(tracked, report, client):
    md = report.markdown.read_text()
    for key in ORDER:
        run = client.get_run(tracked.run_ids[key])
        m, backend = run.data.metrics, key.split("_")[-1]
        group = GROUP_LABELS["tutorial" if key.startswith("tutorial") else "default"]
        results = _row(md, group, backend, "Accuracy and loss")
        assert results[2:8] == [fmt.pct(m["final/train_acc"]), fmt.pct(m["final/val_acc"]), fmt.pct(m["test/acc"]),
                                fmt.loss(m["final/train_loss"]), fmt.loss(m["final/val_loss"]), fmt.loss(m["test/loss"])]
        cost = _row(md, group, backend, "Time and memory")
        assert cost[2] == fmt.seconds(m["time/total_s"]) and cost[4] == fmt.seconds(m["time/epoch_median_s"])
        assert cost[5] == fmt.count(m["time/samples_per_s_median"]) and cost[6] == fmt.megabytes(m["memory/peak_rss_mb"])
        assert cost[7:] == [run.data.tags["backend_device"], run.data.tags["backend_threads"], run.data.tags["backend_dtype"]]
        link = f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        assert f"[{run.info.run_id}]({link})" in md


def test_published_tutorial_numbers_are_a_labelled_reference_row(report):
    md = report.markdown.read_text()
    assert _row(md, PUBLISHED, "numpy", "Accuracy and loss")[2:5] == ["99.15 %", "90.65 %", fmt.MISSING]
    assert _row(md, PUBLISHED, "torch", "Time and memory")[2] == "12.8 s"
    assert "+6.52 points" in md  # the published gap between the backends, in the generated text


def test_environment_comes_from_the_run_tags(tracked, report, client):
    tags = client.get_run(tracked.run_ids["numpy"]).data.tags
    env = report.markdown.read_text().split("## Environment", 1)[1]
    for key in ("cpu", "numpy_version", "torch_version", "python_version", "git_commit", "data_sha256"):
        assert tags[key] in env


def test_numbers_in_the_metrics_files_are_ignored(tracked, report, tmp_path):
    edited = []
    for key in ORDER:
        summary = json.loads(tracked.metrics_files[key].read_text())
        for name in summary:
            if name not in ("run_id", "experiment_id", "run_name", "backend", "preset"):
                summary[name] = 0.123456
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(summary))
        edited.append(path)
    again = build_comparison(tracked.uri, read_run_ids(edited), tmp_path / "out", "http://127.0.0.1:5000", False)
    assert again.markdown.read_text() == report.markdown.read_text()
    assert "12.35 %" not in again.markdown.read_text()


def test_figures_are_pngs_embedded_in_the_html(report):
    assert {p.name for p in report.figures} == {"compared.png", "curves_numpy.png", "curves_torch.png"}
    for path in report.figures:
        assert path.read_bytes().startswith(PNG_MAGIC)
        assert matplotlib.image.imread(path).ndim == 3
        assert f"]({path.parent.name}/{path.name})" in report.markdown.read_text()
    html = report.html.read_text()
    assert html.count('src="data:image/png;base64,') == len(report.figures)
    assert re.findall(r'<img[^>]*src="(?!data:)', html) == []


def test_same_runs_give_byte_identical_files(tracked, report, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(report.markdown.parent, out)
    again = build_comparison(tracked.uri, _ids(tracked), out, "http://127.0.0.1:5000", False)
    assert again.markdown.read_bytes() == report.markdown.read_bytes()
    assert again.html.read_bytes() == report.html.read_bytes()
    assert [p.read_bytes() for p in again.figures] == [p.read_bytes() for p in report.figures]


def test_unknown_run_ids_fail_naming_them(tracked, tmp_path):
    missing = ["0" * 32, "f" * 32]
    with pytest.raises(ReportError) as err:
        build_comparison(tracked.uri, [tracked.run_ids["numpy"], *missing], tmp_path, log_to_mlflow=False)
    assert all(m in str(err.value) for m in missing) and tracked.uri in str(err.value)
    assert tracked.run_ids["numpy"] not in str(err.value)


def test_missing_metrics_file_fails_naming_it(tmp_path):
    with pytest.raises(ReportError, match="torch.json not found"):
        read_run_ids([tmp_path / "torch.json"])


def test_report_is_logged_as_an_mlflow_run_with_its_files(tracked, tmp_path, client):
    files = build_comparison(tracked.uri, _ids(tracked), tmp_path)
    run = client.get_run(files.report_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["report"] == "true"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"comparison.md", "comparison.html",
                                                                      "comparison_figures"}
    figures = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "comparison_figures")}
    assert figures == {p.name for p in files.figures}
    copy = tracking.download_artifact(tracked.uri, run.info.run_id, "comparison.md", tmp_path / "dl")
    assert copy.read_bytes() == files.markdown.read_bytes()
