"""The comparison report: published tutorial numbers, the tutorial setup rerun, our default."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mlpbench import figures
from mlpbench.report import explain, tables
from mlpbench.report.collect import RunData, load_runs
from mlpbench.report.document import Block, Bullets, Code, Figure, Heading, Paragraph
from mlpbench.report.groups import GROUP_LABELS, PUBLISHED, Entry, entries, groups
from mlpbench.report.output import ReportFiles, figure_dir, log, write

STEM, TITLE = "comparison", "mlpbench: a from-scratch NumPy MLP against PyTorch on MNIST"
SHORT = {PUBLISHED: "published", GROUP_LABELS["tutorial"]: "tutorial rerun", GROUP_LABELS["default"]: "default"}
BARS = (("train_acc", "train accuracy (%)"), ("val_acc", "validation accuracy (%)"),
        ("test_acc", "test accuracy (%)"), ("time_total_s", "training time (s)"))


def make_figures(rows: Sequence[Entry], folder: Path) -> list[Figure]:
    """The compared-performance bars, then one training-curves figure per backend."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for e in rows:
        pct = {k: 100 * v if k.endswith("_acc") else v for k, v in e.values.items()}
        values.setdefault(SHORT.get(e.group, e.group), {}).setdefault(e.backend, pct)
    path = figures.grouped_bars(values, BARS, folder / "compared.png", zoom=[k for k, _ in BARS if k.endswith("_acc")])
    out = [Figure(path, "Accuracies and training time side by side, one bar per backend; the accuracy axes do not "
                        "start at 0 (see their titles) and the published tutorial has no test accuracy.")]
    for backend in dict.fromkeys(e.backend for e in rows if e.run):
        curves = {}
        for e in rows:
            if e.run and e.backend == backend and e.run.history.get("epoch"):
                label = SHORT.get(e.group, e.group)
                curves[label if label not in curves else f"{label} ({e.run.name})"] = e.run.history
        if curves:
            path = figures.training_curves(curves, folder / f"curves_{backend}.png", title=f"{backend}: training curves")
            out.append(Figure(path, f"{backend}: loss and accuracy per epoch, train (dashed) and validation (solid), "
                                    "from the MLflow metric history."))
    return out


def blocks(runs: Sequence[RunData], uri: str, ui_url: str | None, folder: Path) -> list[Block]:
    """The whole report, top to bottom."""
    rows = entries(runs)
    group_names = [g for g in groups(rows) if g != PUBLISHED]
    intro = (f"{len(runs)} MLflow runs from the tracking store ", Code(uri), " set against the reference "
             "tutorial's published numbers. Every measured number and curve is read from MLflow; the row "
             f"'{PUBLISHED}' is copied from the tutorial's text, which publishes no test-set results or losses (—).")
    return [
        Heading(1, TITLE), Paragraph(intro),
        Heading(2, "Accuracy and loss"), tables.results(rows),
        Paragraph("Train and validation values are those of the last epoch; the test set is evaluated once, after training."),
        Heading(2, "Time and memory"), tables.cost(rows),
        Paragraph("Training time covers the whole fit, per-epoch evaluation included; 'of which steps' counts "
                  "the training steps only. Peak memory is the training process's maximum resident set size."),
        Heading(2, "Where the numbers differ"), Bullets(tuple(explain.explanation(rows))),
        Heading(2, "Figures"), *make_figures(rows, folder),
        Heading(2, "Configurations"), tables.configuration(rows, group_names),
        Heading(2, "Runs"), tables.runs(rows, ui_url),
        Heading(2, "Environment"), Paragraph("From the runs' tags."), tables.environment(list(runs)),
    ]


def build_comparison(uri: str, run_ids: Sequence[str], out_dir: Path, ui_url: str | None = None,
                     log_to_mlflow: bool = True) -> ReportFiles:
    """Build ``out_dir/comparison.{md,html}`` (figures in ``out_dir/comparison_figures``) from the runs.

    Raises ``ReportError`` naming the run ids and the store when some run does not exist. When
    ``log_to_mlflow``, the files are also logged as artifacts of a new run tagged ``report=true``
    in the experiment of the first run.
    """
    runs = load_runs(uri, list(run_ids))
    files = write(blocks(runs, uri, ui_url, figure_dir(out_dir, STEM)), out_dir, STEM, TITLE)
    if not log_to_mlflow:
        return files
    tags = {"report_kind": "comparison", "report_runs": ",".join(r.run_id for r in runs)}
    return log(files, uri, runs[0].experiment_id, "report comparison", tags)
