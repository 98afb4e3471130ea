"""The comparison report on one data set: published tutorial numbers (MNIST only), the tutorial setup rerun, our
default."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from mlpbench import figures
from mlpbench.options import BACKENDS, label
from mlpbench.report import attribution, dataset, explain, headline, speed, tables, torch_options, uncertainty
from mlpbench.report import format as fmt
from mlpbench.report.dataset import DataSet
from mlpbench.report.render import Figure, ReportFiles, Section, building, figure_dir, log, publish, write
from mlpbench.report.runs import backend_rank, display_uri, history, load_runs, restore_runs, seed_run_ids
from mlpbench.report.tables import GROUP_LABELS, PUBLISHED

STEM = "comparison"
SHORT = {PUBLISHED: "published", GROUP_LABELS["tutorial"]: "tutorial rerun", GROUP_LABELS["default"]: "default",
         GROUP_LABELS["best"]: "best preset"}
BARS = (("final/train_acc", "train accuracy (%)"), ("final/val_acc", "validation accuracy (%)"),
        ("test/acc", "test accuracy (%)"), ("time/total_s", "training time (s)"))


MIXED_FIX = ("compare the runs of one data set: name the run files of its training runs (the stages trained with "
             "one data=<name> in params.yaml)")


def title(runs: pd.DataFrame, data: DataSet) -> str:
    """E.g. "mlpbench: NumPy (from scratch) vs PyTorch on MNIST", from the runs' backends and their data set."""
    backends = sorted(set(runs["backend"]), key=backend_rank)
    names = " vs ".join(BACKENDS[b].label if b in BACKENDS else b for b in backends)
    return f"mlpbench: {names} on {data.title}"


def bar_values(rows: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Group (short) -> backend label -> metric of ``BARS`` -> value, accuracies in %; the first row wins."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for _, r in rows.iterrows():
        group = values.setdefault(SHORT.get(r["group"], r["group"]), {})
        scaled = {k: r.get(k, float("nan")) * (100 if k.endswith("acc") else 1) for k, _ in BARS}
        group.setdefault(label(r["backend"]), scaled)
    return values


def make_figures(rows: pd.DataFrame, uri: str, folder: Path) -> list[Figure]:
    """The compared-performance bars, the backends' accuracy curves overlaid (mean over seeds, their spread
    shaded; with two backends or more), then one training-curves figure per backend (a seed each). A backend has
    one colour in all."""
    zoom = [k for k, _ in BARS if k.endswith("acc")]
    published = " and the published tutorial has no test accuracy" if (rows["group"] == PUBLISHED).any() else ""
    out = [Figure(figures.grouped_bars(bar_values(rows), BARS, folder / "compared.png", zoom=zoom),
                  "Accuracies and training time side by side, one bar per backend; the accuracy axes do not "
                  f"start at 0 (see their titles){published}.")]
    runs = tables.measured(rows)
    seeds: dict[str, dict[str, list]] = {}  # configuration -> backend -> its seeds' histories
    for _, r in runs.sort_values("backend", key=lambda b: b.map(backend_rank), kind="stable").iterrows():
        curves = [c for c in (history(uri, i) for i in seed_run_ids(uri, r)) if c["epoch"]]
        if curves:
            seeds.setdefault(SHORT.get(r["group"], r["group"]), {})[r["backend"]] = curves
    if len({b for backends in seeds.values() for b in backends}) > 1:  # an overlay needs two backends
        out.append(Figure(figures.backend_curves(seeds, folder / "curves_compared.png", title="Accuracy per epoch"),
                          "Both backends' train (dashed) and validation (solid) accuracy per epoch, one panel per "
                          "configuration: each line is the mean over the configuration's seeds, the shaded band "
                          "the lowest to the highest seed. The same seed gives both backends the same initial "
                          "weights and batches, so equal curves lie on top of one another."))
    markers = {name: figures.MARKERS[i] for i, name in enumerate(SHORT.values())}
    for backend in sorted(set(runs["backend"]), key=backend_rank):
        curves = {}
        for _, r in runs[runs["backend"] == backend].iterrows():
            name, curve = SHORT.get(r["group"], r["group"]), history(uri, r["run_id"])
            if curve["epoch"]:
                curves[name if name not in curves else f"{name} ({r['name']})"] = curve
        if not curves:
            continue
        path = figures.training_curves(curves, folder / f"curves_{backend}.png", colour=figures.backend_colour(backend),
                                       markers=markers, title=f"{label(backend)}: training curves (one seed each)")
        out.append(Figure(path, f"{label(backend)}: loss and accuracy per epoch of the first seed of each "
                                "configuration, train (dashed) and validation (solid), each configuration its own "
                                "marker, from the MLflow metric history."))
    return out


def introduction(runs: pd.DataFrame, rows: pd.DataFrame, uri: str, data: DataSet) -> str:
    """Where the runs come from, how many configurations and seeds, and whether the published numbers apply."""
    seeds = tables.measured(rows)["seeds"]
    text = (f"{len(runs)} MLflow runs on {data.title} from the tracking store {fmt.code(display_uri(uri))}: "
            f"{len(seeds)} configurations, each trained on {fmt.count(seeds.min())}"
            f"{'' if seeds.min() == seeds.max() else f' to {fmt.count(seeds.max())}'} "
            f"seed{'' if seeds.max() == 1 else 's'}")
    if not tables.has_published(data.name):
        return (f"{text}. Every number and curve is read from MLflow. {tables.no_published(data.title)} "
                "A number with ± or [ ] carries its 95 % interval over seeds.")
    return (f"{text}, set against the reference tutorial's published numbers. Every measured number and curve is "
            f"read from MLflow; the rows '{PUBLISHED}' are copied from the tutorial's text, which publishes one run per "
            f"backend, no test-set results and no losses (—). A number with ± or [ ] carries its 95 % interval over "
            f"seeds. {tables.tutorial_source()}")


def sections(runs: pd.DataFrame, uri: str, ui_url: str | None, folder: Path, data: DataSet,
             torch_options_file: Path | None = None, local: Mapping[str, str] | None = None
             ) -> tuple[list[str], list[Section]]:
    """The intro paragraph and the sections, top to bottom (the torch options study's when its run file exists).

    ``runs`` holds one row per seed's run; tables show each configuration (group, backend) once, as the
    mean over its seeds with intervals (``tables.summarise``).
    """
    seed_rows = tables.rows(runs, data.name)
    rows = tables.summarise(seed_rows)
    config = tables.configuration(seed_rows)
    backends = sorted(set(runs["backend"]), key=backend_rank)
    comparisons = uncertainty.compare(seed_rows, uri, backends)
    checks = [check for c in comparisons if c.group == tables.DEFAULT
              and (check := headline.timing_check(c, headline.step_ratio(seed_rows, c.ref, c.other)))]
    return [*headline.headline(comparisons, seed_rows, uri, data.title), introduction(runs, rows, uri, data)], [
        Section("Accuracy and loss", table=tables.table(rows, (*tables.ROW, *tables.RESULTS)),
                notes=("Means over each configuration's seeds. Train and validation values are those of the last "
                       "epoch; the test set is evaluated once, after training. Two sources of noise: the ± interval "
                       "is the seeds' (a t-interval on the mean), the Wilson interval the test set's own (its "
                       "images are a sample), for the mean test accuracy.",)),
        Section("Differences and their noise", table=uncertainty.table(comparisons),
                notes=("Each backend is compared with the first on the seeds both trained: the same seed gives "
                       "both the same initial weights and batch order, so the difference is taken seed by seed "
                       "(a paired t-interval, scipy.stats.ttest_rel). McNemar's exact test counts, per seed, "
                       "the test images only one of the two got right; p < 0.05 says the two disagree more in one "
                       "direction than chance. The time ratio is the compared backend's median epoch over the first's, "
                       "the geometric mean of the per-seed ratios, from runs trained one stage after the other "
                       "(not interleaved); the scaling study (`reports/scaling/scaling.md`) gives the step ratio "
                       "from interleaved rounds, with its interval, at the default point and around it.",),
                bullets=tuple(uncertainty.sentences(comparisons))),
        Section("Time and memory", table=tables.table(rows, (*tables.ROW, *tables.COST)),
                notes=("Training time covers the whole fit, per-epoch evaluation included; 'of which steps' counts "
                       "the training steps only. Peak memory is the training process's maximum resident set size.",)),
        *speed.section(rows, checks),
        *attribution.section(rows, folder),
        *(torch_options.section(uri, torch_options_file, ui_url, local, data) if torch_options_file else ()),
        Section("Where the numbers differ",
                bullets=tuple(explain.explanation(rows, config, comparisons, seed_rows))),
        Section("Figures", figures=tuple(make_figures(rows, uri, folder))),
        Section("Configurations", table=config),
        Section("Runs", table=tables.runs_table(seed_rows, ui_url)),
        Section("Environment", text=("From the runs' tags.",), table=tables.environment(tables.measured(seed_rows))),
    ]


def build_comparison(uri: str, run_ids: Sequence[str], out_dir: Path, ui_url: str | None = None,
                     log_to_mlflow: bool = True, torch_options_file: Path | None = None,
                     run_files: Sequence[Path] = ()) -> ReportFiles:
    """Build ``out_dir/comparison.{md,html}`` (figures in ``out_dir/comparison_figures``) from the runs.

    torch_options_file: the torch options study's run file; its section is added when the file exists.
    run_files: the run files that name ``run_ids`` (and ``torch_options_file``'s runs): a run the store
    lacks is first restored from the export a run file names, and an error names the stages to rebuild.
    Raises ``ReportError`` naming the run ids and the store when some run does not exist, and
    ``MixedDatasetsError`` when the runs trained on more than one data set (before any file is written). When
    ``log_to_mlflow``, the files are also logged as artifacts of a new run tagged ``report=true``
    in the reports experiment of the first run's experiment, and each run is tagged ``report_run_id``.
    """
    local, restored = restore_runs(uri, [*run_files, *([torch_options_file] if torch_options_file else [])])
    run_ids = [local.get(run_id, run_id) for run_id in run_ids]
    runs = load_runs(uri, run_ids, sources=run_files)
    data = dataset.of(runs, MIXED_FIX)
    with building(out_dir, STEM) as built:
        intro, body = sections(runs, uri, ui_url, figure_dir(built, STEM), data, torch_options_file, local)
        files = publish(write(title(runs, data), intro, body, built, STEM), built, out_dir)
    files = dataclasses.replace(files, restored_runs=restored)
    if not log_to_mlflow:
        return files
    experiment_id = runs.loc[runs["run_id"] == run_ids[0], "experiment_id"].iloc[0]
    tags = {"report_kind": "comparison", "report_runs": ",".join(dict.fromkeys(run_ids))}
    return log(files, uri, experiment_id, "report comparison", tags, run_ids)
