"""The generated explanation: sentences computed from the numbers, claiming no more than they show.

Each function returns a sentence, or None when the rows it needs are missing.
"""
from __future__ import annotations

from typing import Sequence

from mlpbench.report import format as fmt
from mlpbench.report.groups import GROUP_LABELS, PUBLISHED, Entry, find
from mlpbench.report.tables import init_text

RERUN, DEFAULT = GROUP_LABELS["tutorial"], GROUP_LABELS["default"]
DIFF_KEYS = (("model.hidden_sizes", "hidden layers"), ("model.activation", "activation"),
             ("model.init", "initialisation"), ("model.dropout", "dropout"), ("optim.name", "optimizer"),
             ("optim.lr", "learning rate"), ("optim.momentum", "momentum"), ("optim.weight_decay", "weight decay"),
             ("schedule.name", "learning-rate schedule"), ("train.batch_size", "batch size"),
             ("train.epochs", "epochs"))


def _pair(rows: Sequence[Entry], group: str, key: str) -> tuple[float, float] | None:
    """(numpy, torch) values of ``key`` in ``group``, if both are known."""
    a, b = find(rows, group, "numpy"), find(rows, group, "torch")
    if a is None or b is None or key not in a.values or key not in b.values:
        return None
    return a.values[key], b.values[key]


def _gap_text(rows: Sequence[Entry], group: str, key: str) -> str | None:
    pair = _pair(rows, group, key)
    if pair is None:
        return None
    return f"{group}: {fmt.points(pair[1] - pair[0])} (NumPy {fmt.pct(pair[0])}, PyTorch {fmt.pct(pair[1])})"


def backend_gap(rows: Sequence[Entry]) -> str | None:
    """PyTorch minus NumPy validation accuracy in each group, against the published gap."""
    parts = [t for g in (PUBLISHED, RERUN, DEFAULT) if (t := _gap_text(rows, g, "val_acc"))]
    if len(parts) < 2:
        return None
    text = "Validation accuracy, PyTorch minus NumPy. " + "; ".join(parts) + "."
    pub, rerun = _pair(rows, PUBLISHED, "val_acc"), _pair(rows, RERUN, "val_acc")
    if pub and rerun:
        seeds = {e.run.params.get("train.seed") for e in rows if e.run and e.group == RERUN}
        shared = " share their initial weights and batch order (one seed) and" if len(seeds) == 1 else ""
        text += (f" In the rerun the two backends{shared} differ by {abs(rerun[1] - rerun[0]) * 100:.2f} points,"
                 f" against {abs(pub[1] - pub[0]) * 100:.2f} points in the tutorial's published numbers.")
    return text


def speed(rows: Sequence[Entry]) -> str | None:
    """NumPy time over PyTorch time per group (ratios compare across machines, seconds do not)."""
    parts = []
    for group in (PUBLISHED, RERUN, DEFAULT):
        pair = _pair(rows, group, "time_total_s")
        if not pair or pair[1] <= 0:
            continue
        text = f"{group}: {fmt.ratio(pair[0] / pair[1])} ({fmt.seconds(pair[0])} vs {fmt.seconds(pair[1])}"
        epoch = _pair(rows, group, "epoch_median_s")
        if epoch and epoch[1] > 0:
            text += f"; median epoch {fmt.ratio(epoch[0] / epoch[1])}"
        parts.append(text + ")")
    if len(parts) < 2:
        return None
    return ("Training time, NumPy over PyTorch. " + "; ".join(parts) + ". The published times come from a "
            "machine this report does not know, so compare the ratios rather than the seconds.")


def against_published(rows: Sequence[Entry]) -> str | None:
    """The rerun's accuracies minus the published ones, per backend."""
    parts = []
    for backend, name in (("numpy", "NumPy"), ("torch", "PyTorch")):
        pub, rerun = find(rows, PUBLISHED, backend), find(rows, RERUN, backend)
        if pub is None or rerun is None or "val_acc" not in rerun.values:
            continue
        parts.append(f"{name} validation {fmt.pct(rerun.values['val_acc'])} "
                     f"({fmt.points(rerun.values['val_acc'] - pub.values['val_acc'])}), "
                     f"train {fmt.pct(rerun.values.get('train_acc'))} "
                     f"({fmt.points(rerun.values.get('train_acc', float('nan')) - pub.values['train_acc'])})")
    if not parts:
        return None
    return "The tutorial's setup rerun here, against its published numbers: " + "; ".join(parts) + "."


def overfitting(rows: Sequence[Entry]) -> str | None:
    """Train minus validation accuracy per group and backend."""
    parts = []
    for group in (PUBLISHED, RERUN, DEFAULT):
        gaps = [f"{'NumPy' if e.backend == 'numpy' else 'PyTorch'} {fmt.points(e.values['train_acc'] - e.values['val_acc'])}"
                for e in rows if e.group == group and {"train_acc", "val_acc"} <= set(e.values)]
        if gaps:
            parts.append(f"{group}: {', '.join(gaps)}")
    if len(parts) < 2:
        return None
    return ("Train minus validation accuracy. " + "; ".join(parts) + ". Train accuracy here is the mean over "
            "the last epoch's batches in training mode (with dropout where configured), so it can fall below validation accuracy.")


def _setting(params: dict, key: str) -> str:
    return init_text(params) if key == "model.init" else params.get(key, fmt.MISSING)


def default_vs_rerun(rows: Sequence[Entry]) -> str | None:
    """What our default changes from the tutorial setup, and what that gives, without attributing causes."""
    rerun = next((e for e in rows if e.group == RERUN and e.run), None)
    default = next((e for e in rows if e.group == DEFAULT and e.run), None)
    if rerun is None or default is None:
        return None
    diffs = [f"{label} {_setting(dict(rerun.run.params), k)} → {_setting(dict(default.run.params), k)}"
             for k, label in DIFF_KEYS if _setting(dict(rerun.run.params), k) != _setting(dict(default.run.params), k)]
    text = ("Our default changes the tutorial setup in: " + "; ".join(diffs) + "." if diffs
            else "Our default and the tutorial setup have the same settings.")
    gains = []
    for backend, name in (("numpy", "NumPy"), ("torch", "PyTorch")):
        a, b = find(rows, RERUN, backend), find(rows, DEFAULT, backend)
        if a and b and {"val_acc", "test_acc"} <= set(a.values) & set(b.values):
            gains.append(f"{name} validation {fmt.points(b.values['val_acc'] - a.values['val_acc'])}, "
                         f"test {fmt.points(b.values['test_acc'] - a.values['test_acc'])}")
    if gains:
        text += (" Against the rerun tutorial setup, our default's accuracy changes by: " + "; ".join(gains)
                 + ". These runs change several settings at once, so they do not say which change matters;"
                 " a sweep over one setting at a time would.")
    return text


def explanation(rows: Sequence[Entry]) -> list[str]:
    """The sentences that apply to these rows, in reading order."""
    makers = (backend_gap, against_published, overfitting, speed, default_vs_rerun)
    return [s for make in makers if (s := make(rows))]
