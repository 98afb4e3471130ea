"""Build a run: typed config, checks that need the machine or the files, and the data.

Every check here runs before an MLflow run exists, so a bad value leaves no run and no files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mlpbench.backends.build import backend_class
from mlpbench.config import Config, ConfigError
from mlpbench.config.load import load
from mlpbench.data import Dataset, check_split, load_dataset
from mlpbench.data.identity import check_identity
from mlpbench.params import resolve
from mlpbench.progress import Status, rows_line
from mlpbench.run import machine
from mlpbench.run.outputs import MANIFEST, foreign_entries
from mlpbench.tracking import portable
from mlpbench.tracking.health import check_store
from mlpbench.tracking.store import resolve_tracking_uri


SQLITE = "sqlite:///"


@dataclass(frozen=True)
class Outputs:
    """Where a run writes its files (absolute paths)."""

    model_dir: Path
    metrics_file: Path
    history_file: Path
    run_file: Path
    export_dir: Path | None  # None: the run writes no export


@dataclass(frozen=True)
class Prepared:
    """A checked run, ready to fit: its config, output paths, tracking store (checked) and data."""

    cfg: Config
    outputs: Outputs
    uri: str
    dataset: Dataset
    processed_dir: Path
    split_dir: Path


def output_paths(cfg: Config, root: Path, out_dir: Path) -> Outputs:
    """``outputs.*`` resolved against the project root; unset ones inside ``out_dir``."""
    o = cfg.outputs
    return Outputs(resolve(root, o.model_dir or Path(out_dir) / "model"),
                   resolve(root, o.metrics_file or Path(out_dir) / "metrics.json"),
                   resolve(root, o.history_file or Path(out_dir) / "history.csv"),
                   resolve(root, o.run_file or Path(out_dir) / "run.json"),
                   resolve(root, o.export_dir) if o.export_dir else None)


def _check_writable(key: str, path: Path, is_dir: bool) -> None:
    if path.exists() and path.is_dir() != is_dir:
        raise ConfigError(f"{key}={str(path)!r} is {'a file' if is_dir else 'a folder'}; "
                          f"point it at a {'folder' if is_dir else 'file'} path")
    parent = path if is_dir and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={str(path)!r} cannot be written: {parent} is not a writable folder; "
                          "choose another path or fix its permissions")


def preflight(cfg: Config, root: Path, outputs: Outputs) -> None:
    """The checks that need this machine or the files on disk (``ConfigError`` naming the key), the
    chosen backend's own (``Backend.check``) first."""
    backend_class(cfg.backend).check(cfg)
    _check_writable("outputs.model_dir", outputs.model_dir, is_dir=True)
    if foreign := foreign_entries(outputs.model_dir):
        named = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigError(f"outputs.model_dir={str(outputs.model_dir)!r} holds files no run wrote ({named}): "
                          f"a run replaces only a model folder whose {MANIFEST} lists all it holds; choose a new or "
                          "empty folder, or move those files away yourself")
    _check_writable("outputs.metrics_file", outputs.metrics_file, is_dir=False)
    _check_writable("outputs.history_file", outputs.history_file, is_dir=False)
    _check_writable("outputs.run_file", outputs.run_file, is_dir=False)
    if outputs.export_dir is not None:
        _check_writable("outputs.export_dir", outputs.export_dir, is_dir=True)
        try:
            portable.check_replaceable(outputs.export_dir, "outputs.export_dir")
        except portable.ExportError as err:
            raise ConfigError(str(err)) from None
    processed, split = resolve(root, cfg.data.paths.processed), resolve(root, cfg.data.paths.split)
    check_identity(processed, split, cfg.data, root)  # the arrays are the data set the run names
    check_split(split, cfg.data.split)


def prepare_run(values: Mapping[str, Any], root: Path, out_dir: Path, n_jobs: int = 1,
                cpus: int | None = None, status: Status | None = None) -> Prepared:
    """Config, checks, store and data of one run; raises ``ConfigError``/``FileNotFoundError``/
    ``StoreError`` before any work. status: where each step says what it does (default: nowhere)."""
    status = status or Status(interactive=False)
    cfg = load(values)
    machine.check_threads(cfg)  # as set, before a job's share of the CPUs fills in 0
    cfg = machine.with_threads(cfg, n_jobs, cpus)
    outputs = output_paths(cfg, root, out_dir)
    processed, split = resolve(root, cfg.data.paths.processed), resolve(root, cfg.data.paths.split)
    with status.step(f"checking {cfg.data.name} data in {shown(processed.parent)}"):
        preflight(cfg, root, outputs)
    uri = resolve_tracking_uri(root, cfg.tracking.uri, server=cfg.tracking.server)
    store = shown(Path(uri[len(SQLITE):])) if uri.startswith(SQLITE) else uri
    with status.step(f"checking MLflow store {store}", live=False):  # MLflow may log creating its tables
        check_store(uri)  # seconds, not MLflow's minutes of retries, and before the data loads
    with status.step(f"loading {cfg.data.name}") as step:
        dataset = load_dataset(processed, split, cfg.data.num_classes, cfg.train.dtype)
        step["done"] = rows_line({"training": len(dataset.y_train), "validation": len(dataset.y_val),
                                  "test": len(dataset.y_test)})
    machine.check_batch(cfg, dataset)
    machine.check_memory(cfg, dataset)
    return Prepared(cfg, outputs, uri, dataset, processed, split)


def shown(path: Path) -> str:
    """A path as a person at the shell would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
