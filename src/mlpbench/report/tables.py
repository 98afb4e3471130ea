"""The comparison's rows and tables: one DataFrame row per run, each table a choice of columns.

Groups of rows: the reference tutorial's published numbers (never measured here; with runs of the data
set they were published for only, ``PUBLISHED_DATASET``), the tutorial's
setup rerun here (preset ``tutorial``), our default (preset ``default``), then other presets.
Metric columns are named by their MLflow keys, params and tags keep their ``params.``/``tags.``
prefix; each table lists (column, header, format) once.
"""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from mlpbench import stats
from mlpbench.model_options import resolve_init
from mlpbench.options import libraries
from mlpbench.report import format as fmt
from mlpbench.report.runs import backend_rank, column

PUBLISHED = "Tutorial (published)"
# The data set the reference tutorial published its numbers for: they appear with its runs only.
PUBLISHED_DATASET, PUBLISHED_TITLE = "mnist", "MNIST"
GROUP_LABELS = {"tutorial": "Tutorial setup, rerun here", "default": "Our default", "best": "Best preset"}
RERUN, DEFAULT, BEST = GROUP_LABELS["tutorial"], GROUP_LABELS["default"], GROUP_LABELS["best"]
# The reference tutorial's (title, address). The project never recorded which tutorial it is, so the report says
# its source is not recorded; set this once it is known, and every report names and links it.
TUTORIAL_SOURCE: tuple[str, str] | None = None
COPIED = "†"  # marks each number copied from the tutorial's text, never measured here
# The reference tutorial's own results on PUBLISHED_DATASET as its text publishes them (no test-set numbers or losses).
TUTORIAL_PUBLISHED = {
    "numpy": {"final/train_acc": 0.9915, "final/val_acc": 0.9065, "time/total_s": 45.3},
    "torch": {"final/train_acc": 0.9929, "final/val_acc": 0.9717, "time/total_s": 12.8},
}

Columns = Sequence[tuple[str, str, Callable[[object], str]]]
EST = ":est"  # a configuration's column suffix: the stats.Estimate of that metric over its seeds
WILSON = "test/acc:wilson"  # the test set's own sampling interval of the mean test accuracy
ROW: Columns = (("group", "group", fmt.text), ("backend", "backend", fmt.text))
RESULTS: Columns = (
    ("seeds", "seeds", fmt.count), ("final/train_acc", "train acc", fmt.pct),
    ("final/val_acc" + EST, "val acc ± 95 % CI (seeds)", fmt.estimate_pct),
    ("test/acc" + EST, "test acc ± 95 % CI (seeds)", fmt.estimate_pct),
    (WILSON, "test set's 95 % interval (Wilson)", fmt.text), ("test/acc_sd", "seed sd (test)", fmt.points_abs),
    ("final/train_loss", "train loss", fmt.loss), ("final/val_loss", "val loss", fmt.loss),
    ("test/loss", "test loss", fmt.loss), ("epochs_run", "epochs", fmt.count),
    ("best_epoch", "best epoch (val loss)", fmt.count))
COST: Columns = (
    ("seeds", "seeds", fmt.count), ("time/total_s", "training time (mean)", fmt.seconds_column),
    ("time/train_s", "of which steps", fmt.seconds_column),
    ("time/epoch_median_s" + EST, "median epoch [95 % CI] (seeds)", fmt.estimate_seconds_column),
    ("time/samples_per_s_median", "samples/s (median)", fmt.count),
    ("memory/peak_rss_mb", "peak memory (RSS)", fmt.megabytes), ("tags.backend_device", "device", fmt.text),
    ("tags.backend_threads", "threads", fmt.text), ("tags.backend_dtype", "dtype", fmt.text))
RUNS: Columns = (("name", "run name", fmt.text), ("status", "status", fmt.text), ("ref", "MLflow run", fmt.text))
ENVIRONMENT = (("cpu", "CPU"), ("cpu_count", "CPU cores"), ("python_version", "Python"), ("numpy_version", "NumPy"),
               ("blas", "BLAS (NumPy)"), ("git_commit", "git commit"), ("data_sha256", "data sha256"))
# The configuration table's settings, in order. An option's own keys (optim.momentum, schedule.gamma,
# ...) are not listed: every other optim.* / schedule.* param of the runs follows its section's anchor.
SETTINGS = {"model.hidden_sizes": "hidden layers", "model.activation": "activation", "model.init": "initialisation",
            "model.dropout": "dropout", "optim.name": "optimizer", "optim.lr": "learning rate",
            "optim.weight_decay": "weight decay", "schedule.name": "schedule", "train.batch_size": "batch size",
            "train.epochs": "epochs", "train.seed": "seed", "train.seeds": "seeds", "train.dtype": "dtype"}
ANCHORS = {"optim": "optim.lr", "schedule": "schedule.name"}
# Options runs log only when on: a row (after the anchor) only where some run has them; "off" elsewhere.
WHEN_ON = {"model.input_dropout": ("input dropout", "model.dropout"), "model.max_norm": ("max-norm", "model.dropout"),
           "train.augment_shift": ("shifted images (pixels)", "train.batch_size")}


def tutorial_source() -> str:
    """The footnote on ``COPIED``: which text the published numbers come from, or that it is not recorded."""
    if TUTORIAL_SOURCE is None:
        return (f"{COPIED} Copied from the reference tutorial's text, not measured here. Which tutorial that is "
                "(title, address) is not recorded in this project (`mlpbench.report.tables.TUTORIAL_SOURCE`), so "
                "these numbers cannot be checked against their source.")
    title, url = TUTORIAL_SOURCE
    return f"{COPIED} Copied from the reference tutorial's text, not measured here: [{title}]({url})."


def copied(text: str) -> str:
    """``text`` marked as copied from the tutorial (``COPIED``); ``fmt.MISSING`` stays as it is."""
    return text if text == fmt.MISSING else f"{text} {COPIED}"


def has_published(dataset: str | None) -> bool:
    """Whether the tutorial published numbers for the data set named ``dataset`` (``PUBLISHED_DATASET`` only)."""
    return dataset == PUBLISHED_DATASET


def no_published(title: str) -> str:
    """The sentence a report on another data set than ``PUBLISHED_DATASET`` says instead of the published numbers."""
    return (f"The reference tutorial published numbers for {PUBLISHED_TITLE} only, so none are shown for "
            f"these runs on {title}.")


def rows(runs: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The published rows (where ``has_published(dataset)``), then the runs by group (tutorial, default, other
    presets), backend, name. dataset: the name of the data set the runs trained on (``report.dataset``)."""
    frame = runs.assign(group=runs["preset"].map(lambda p: GROUP_LABELS.get(p, f"Preset {p!r}")))
    if has_published(dataset):
        published = pd.DataFrame([{"group": PUBLISHED, "backend": b, **v} for b, v in TUTORIAL_PUBLISHED.items()])
        frame = pd.concat([published, frame], ignore_index=True)
    ranks = {g: i for i, g in enumerate((PUBLISHED, *GROUP_LABELS.values()))}
    frame = frame.assign(group_rank=frame["group"].map(lambda g: ranks.get(g, len(ranks))),
                         backend_rank=frame["backend"].map(lambda b: backend_rank(b)[0]))
    order = ["group_rank", "group", "backend_rank", "backend", "name", "run_id"]
    return frame.sort_values(order, kind="stable").drop(columns=["group_rank", "backend_rank"]).reset_index(drop=True)


SUMMARISED = ("final/train_acc", "final/val_acc", "test/acc", "time/epoch_median_s")  # those given an Estimate


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (group, backend), in ``frame``'s order: every metric's mean over its
    seed runs, ``seeds`` (how many), ``<metric>:est`` (``stats.Estimate``) for ``SUMMARISED``, the seed sd of
    the test accuracy and its Wilson interval on the test set; text columns from the first run. The
    published rows stay as they are (one "seed", no interval)."""
    out = []
    for (group, backend), runs in frame.groupby(["group", "backend"], sort=False, dropna=False):
        row = runs.iloc[0].to_dict()
        measured_runs = runs["run_id"].notna().any()
        row["seeds"] = len(runs) if measured_runs else float("nan")
        for key in runs.columns:
            if pd.api.types.is_numeric_dtype(runs[key]) and runs[key].notna().any():
                row[key] = float(runs[key].mean())
        for key in SUMMARISED:
            values = pd.to_numeric(column(runs, key), errors="coerce").dropna()
            row[key + EST] = stats.over_seeds(values.tolist()) if len(values) else None
        row["test/acc_sd"] = row["test/acc" + EST].sd if row.get("test/acc" + EST) is not None else float("nan")
        images = pd.to_numeric(column(runs, "test/images"), errors="coerce").dropna()
        if len(images) and row.get("test/acc" + EST) is not None:
            n = int(images.iloc[0])
            low, high = stats.wilson(round(row["test/acc"] * n), n)
            row[WILSON] = f"[{low * 100:.2f}, {high * 100:.2f}] % of {n:,}"
        out.append(row)
    return pd.DataFrame(out).reset_index(drop=True)


def table(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """``frame``'s ``columns`` as report text, under their headers; a formatter marked ``fmt.whole_column``
    gets the whole column (one unit for all its cells), and the published rows' numbers are marked ``COPIED``."""
    published = list(column(frame, "group") == PUBLISHED)
    copied_keys = {k for values in TUTORIAL_PUBLISHED.values() for k in values}

    def cells(key: str, f: Callable) -> list[str]:
        values = list(column(frame, key))
        shown = f(values) if getattr(f, "whole_column", False) else [f(v) for v in values]
        mark = key.removesuffix(EST) in copied_keys
        return [copied(c) if mark and p else c for c, p in zip(shown, published)]

    return pd.DataFrame({header: cells(key, f) for key, header, f in columns})


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["run_id"].notna()]


def runs_table(frame: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    """Where each measured row comes from in MLflow."""
    runs = measured(frame)
    refs = [fmt.run_ref(ui_url, e, r) for e, r in zip(runs["experiment_id"], runs["run_id"])]
    return table(runs.assign(ref=refs), (*ROW, *RUNS))


def init_text(run: pd.Series) -> str:
    """E.g. ``uniform(-0.5, 0.5)``, ``auto (he)``; the scheme ``auto`` picks comes from the backends."""
    init, scale = fmt.text(run.get("params.model.init")), fmt.text(run.get("params.model.init_scale"))
    if init == "uniform":
        return f"uniform(-{scale}, {scale})"
    try:
        return f"auto ({resolve_init(init, fmt.text(run.get('params.model.activation')))})" if init == "auto" else init
    except ValueError:
        return init


def setting_keys(runs: pd.DataFrame) -> list[str]:
    """``SETTINGS``, each anchor followed by the option keys (sorted) that the runs have."""
    found = sorted(c.removeprefix("params.") for c in runs.columns if c.startswith("params."))
    extras = [k for k in found if k.split(".")[0] in ANCHORS and k not in SETTINGS]
    keys = []
    for key in SETTINGS:
        keys += [key, *(k for k in extras if ANCHORS[k.split(".")[0]] == key)]
        keys += [k for k, (_, anchor) in WHEN_ON.items() if anchor == key and k in found]
    return keys


def configuration(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per measured group (the distinct values of its runs joined), ``—`` where unset."""
    runs = measured(frame)
    groups = list(dict.fromkeys(runs["group"]))

    def value(group: str, key: str) -> str:
        cells = [init_text(r) if key == "model.init" else
                 "off" if key in WHEN_ON and fmt.text(r.get(f"params.{key}")) == fmt.MISSING else
                 fmt.text(r.get(f"params.{key}")) for _, r in runs[runs["group"] == group].iterrows()]
        return " / ".join(dict.fromkeys(cells))

    keys = setting_keys(runs)
    columns = {g: [value(g, k) for k in keys] for g in groups}
    labels = {**SETTINGS, **{k: label for k, (label, _) in WHEN_ON.items()}}
    return pd.DataFrame({"setting": [labels.get(k, k) for k in keys], **columns})


def environment_items(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """``ENVIRONMENT``, with the version of each library a backend computes with after NumPy's (the tags
    ``<library>_version`` of ``environment.environment_tags``) where some run has it."""
    versions = [(f"{lib}_version", short) for lib, short in libraries().items()
                if lib != "numpy" and column(runs, f"tags.{lib}_version").notna().any()]
    at = [key for key, _ in ENVIRONMENT].index("numpy_version") + 1
    return [*ENVIRONMENT[:at], *versions, *ENVIRONMENT[at:]]


def environment(runs: pd.DataFrame) -> pd.DataFrame:
    """Machine and code facts from the run tags; one value when the runs agree, else each value with its runs."""
    items, values = environment_items(runs), []
    for key, _ in items:
        tags = [fmt.text(v) for v in column(runs, f"tags.{key}")]
        values.append(tags[0] if len(set(tags)) == 1 else _per_value(tags, list(runs["name"])))
    return pd.DataFrame({"item": [label for _, label in items], "value": values})


def _per_value(values: list[str], names: list[str], max_names: int = 3) -> str:
    """``value: run, run; value: N runs`` in order of first appearance; runs named while few."""
    groups: dict[str, list[str]] = {}
    for value, name in zip(values, names):
        groups.setdefault(value, []).append(name)
    return "; ".join(f"{value}: {', '.join(runs) if len(runs) <= max_names else f'{len(runs)} runs'}"
                     for value, runs in groups.items())
