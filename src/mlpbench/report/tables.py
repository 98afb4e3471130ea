"""The comparison's tables, built from ``groups.Entry`` rows and the runs' params and tags."""
from __future__ import annotations

from typing import Callable, Sequence

from mlpbench.backends.base import resolve_init
from mlpbench.report import format as fmt
from mlpbench.report.collect import RunData
from mlpbench.report.document import Inline, Table
from mlpbench.report.groups import Entry

ENVIRONMENT = (("cpu", "CPU"), ("cpu_count", "CPU cores"), ("python_version", "Python"),
               ("numpy_version", "NumPy"), ("torch_version", "PyTorch"), ("blas", "BLAS (NumPy)"),
               ("git_commit", "git commit"), ("data_sha256", "data sha256"))

CONFIG = (("model.hidden_sizes", "hidden layers"), ("model.activation", "activation"),
          ("model.init", "initialisation"), ("model.dropout", "dropout"), ("optim.name", "optimizer"),
          ("optim.lr", "learning rate"), ("optim.momentum", "momentum"),
          ("optim.weight_decay", "weight decay"), ("schedule.name", "schedule"),
          ("train.batch_size", "batch size"), ("train.epochs", "epochs"), ("train.seed", "seed"),
          ("train.dtype", "dtype"))


def _row(e: Entry, cells: Sequence[tuple[str, Callable]]) -> tuple[Inline, ...]:
    return (e.group, e.backend, *(f(e.values.get(k)) for k, f in cells))


def results(rows: Sequence[Entry]) -> Table:
    """Accuracy and loss at the end of training, and on the test set."""
    cells = [("train_acc", fmt.pct), ("val_acc", fmt.pct), ("test_acc", fmt.pct), ("train_loss", fmt.loss),
             ("val_loss", fmt.loss), ("test_loss", fmt.loss), ("epochs", fmt.count), ("best_epoch", fmt.count)]
    header = ("group", "backend", "train acc", "val acc", "test acc", "train loss", "val loss",
              "test loss", "epochs", "best epoch (val loss)")
    return Table(header, tuple(_row(e, cells) for e in rows))


def _tag(e: Entry, key: str) -> str:
    return e.run.tags.get(key, fmt.MISSING) if e.run else fmt.MISSING


def cost(rows: Sequence[Entry]) -> Table:
    """Time, throughput and memory, with the device and threads each run used."""
    cells = [("time_total_s", fmt.seconds), ("time_train_s", fmt.seconds), ("epoch_median_s", fmt.seconds),
             ("samples_per_s", fmt.count), ("peak_rss_mb", fmt.megabytes)]
    header = ("group", "backend", "training time", "of which steps", "median epoch", "samples/s (median)",
              "peak memory (RSS)", "device", "threads", "dtype")
    body = tuple(_row(e, cells) + (_tag(e, "backend_device"), _tag(e, "backend_threads"), _tag(e, "backend_dtype"))
                 for e in rows)
    return Table(header, body, align="llrrrrrlrl")


def runs(rows: Sequence[Entry], ui_url: str | None) -> Table:
    """Where each measured row comes from in MLflow."""
    body = tuple((e.group, e.backend, e.run.name, e.run.status, fmt.run_ref(ui_url, e.run.experiment_id, e.run.run_id))
                 for e in rows if e.run)
    return Table(("group", "backend", "run name", "status", "MLflow run"), body, align="lllll")


def _joined(values: Sequence[str]) -> str:
    distinct = list(dict.fromkeys(values))
    return " / ".join(distinct) if distinct else fmt.MISSING


def init_text(params: dict) -> str:
    """E.g. ``uniform(-0.5, 0.5)``, ``auto (he)``; the scheme ``auto`` picks comes from the backends."""
    init, activation = params.get("model.init", fmt.MISSING), params.get("model.activation", "")
    if init == "uniform":
        return f"uniform(-{params.get('model.init_scale')}, {params.get('model.init_scale')})"
    try:
        return f"auto ({resolve_init(init, activation)})" if init == "auto" else init
    except ValueError:
        return init


def configuration(rows: Sequence[Entry], group_names: Sequence[str]) -> Table:
    """The params of each measured group, one column per group (backends of a group joined)."""
    def value(group: str, key: str) -> str:
        params = [dict(e.run.params) for e in rows if e.run and e.group == group]
        get = init_text if key == "model.init" else (lambda p: p.get(key, fmt.MISSING))
        return _joined([get(p) for p in params])

    body = tuple((label, *(value(g, key) for g in group_names)) for key, label in CONFIG)
    return Table(("setting", *group_names), body, align="l" * (1 + len(group_names)))


def environment(runs_: Sequence[RunData]) -> Table:
    """Machine and code facts from the run tags; one value when the runs agree, else per run."""
    body = []
    for key, label in ENVIRONMENT:
        values = [r.tags.get(key, fmt.MISSING) for r in runs_]
        if len(set(values)) <= 1:
            body.append((label, values[0] if values else fmt.MISSING))
        else:
            body.append((label, "; ".join(f"{r.name}: {v}" for r, v in zip(runs_, values))))
    return Table(("item", "value"), tuple(body), align="ll")
