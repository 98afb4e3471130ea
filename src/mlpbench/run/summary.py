"""What a run is called and what it records about itself: its name, its MLflow params, its summary metrics.

Apart from ``record`` (which builds backends through their registry) so that the torch options study,
which runs the torch backend alone, records its runs alike without depending on every backend.
"""
from __future__ import annotations

import dataclasses
import resource
import statistics
from typing import Any, Mapping

from mlpbench.config import Config
from mlpbench.model_options import resolve_init
from mlpbench.training import TrainResult



def optim_label(optim: Any) -> str:
    """The optimizer as configured: ``nesterov``, ``sgd``/``sgd-m0.9`` (momentum when nonzero), else its name."""
    if optim.name == "sgd":
        if optim.nesterov:
            return "nesterov"
        return f"sgd-m{optim.momentum:g}" if optim.momentum else "sgd"
    return optim.name


def torch_label(key: str, value: object) -> str:
    """A torch option in a run name: ``compiled``, ``autocast-bfloat16``, ``optim-fused``."""
    return {"compile": "compiled", "autocast": f"autocast-{value}", "optimizer_impl": f"optim-{value}"}[key]


def run_name(cfg: Config, swept: Mapping[str, str] | None = None) -> str:
    """E.g. ``numpy h512-256 relu nesterov lr0.3 bs768 e13`` (the preset first unless it is ``default``),
    then the torch options set away from their defaults (``torch ... e13 compiled optim-fused``).

    swept: in a sweep, this job's values of the swept keys, put first as ``[backend=numpy optim.lr=0.05] ...``:
    they are what tells a sweep's children apart, and MLflow's runs table shows a name's first 20
    characters or so.
    """
    m, o, t = cfg.model, cfg.optim, cfg.train
    name = (f"{cfg.backend} h{'-'.join(map(str, m.hidden_sizes))} {m.activation} {optim_label(o)} "
            f"lr{o.lr:g} bs{t.batch_size} e{t.epochs}")
    name += "".join(f" {torch_label(k, v)}" for k, v in cfg.torch.changed().items())
    name = name if cfg.preset == "default" else f"{cfg.preset} {name}"
    if swept:
        name = "[" + " ".join(f"{k}={v}" for k, v in swept.items()) + "] " + name
    return name


def run_params(cfg: Config) -> dict[str, Any]:
    """What is logged as MLflow params: what the run trained with, and only that.

    The backend, preset, model, the chosen optimizer's and schedule's own keys, train (threads
    resolved), the torch options (torch runs only), and the data set's name and split. The model's
    ``init_scale`` only where its init scheme is "uniform" (the only one that reads it) and
    ``leaky_slope`` only for leaky_relu: a compare view of two runs shows no value neither used.
    ``input_dropout``, ``max_norm`` and ``train.augment_shift`` only where they are on (> 0), so a run
    without them logs what runs logged before the options existed. The run's config.yaml artifact keeps every key.
    """
    sections = ("model", "optim", "schedule", "train", *(("torch",) if cfg.backend == "torch" else ()))
    params = {k: dataclasses.asdict(getattr(cfg, k)) for k in sections}
    params["model"]["hidden_sizes"] = list(cfg.model.hidden_sizes)
    if resolve_init(cfg.model.init, cfg.model.activation) != "uniform":
        del params["model"]["init_scale"]
    if cfg.model.activation != "leaky_relu":
        del params["model"]["leaky_slope"]
    if not cfg.model.input_dropout:
        del params["model"]["input_dropout"]
    if cfg.model.max_norm_bound() is None:
        del params["model"]["max_norm"]
    if not cfg.train.augment_shift:
        del params["train"]["augment_shift"]
    params["data"] = {"name": cfg.data.name, "split": dataclasses.asdict(cfg.data.split)}
    return {"backend": cfg.backend, "preset": cfg.preset, **params}


def summary_metrics(result: TrainResult) -> dict[str, float]:
    last = result.history[-1]
    return {
        "final/train_loss": last.train_loss, "final/train_acc": last.train_acc,
        "final/val_loss": last.val_loss, "final/val_acc": last.val_acc,
        "test/loss": result.test_loss, "test/acc": result.test_acc,
        **({"test/images": len(result.test_correct)} if result.test_correct is not None else {}),
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "time/total_s": result.total_time,
        "time/train_s": sum(m.epoch_time for m in result.history),
        "time/epoch_median_s": statistics.median(m.epoch_time for m in result.history),
        "time/samples_per_s_median": statistics.median(m.samples_per_s for m in result.history),
        "memory/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
