"""A run's output files appear together or not at all.

The model folder, the history CSV, the run's portable export (when asked for), the run file (which
MLflow run this is) and the metrics JSON are written first under hidden staging names beside their final paths (same file systems), and moved
into place only once all exist, with SIGTERM and SIGINT held back during the moves. The metrics
file, which DVC reads, moves last. A kill before the moves leaves only staging files, which the next run's ``Staged``
of the same paths removes; only a SIGKILL within the moves themselves (microseconds) could split
the set.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from mlpbench.io import write_json, write_text
from mlpbench.signals import signals_deferred


def _staged(path: Path, token: str) -> Path:
    return path.with_name(f".{path.name}.staging-{token}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class Staged:
    """Staging paths for ``model_dir``, ``history_file``, ``export_dir`` (optional), ``run_file`` and
    ``metrics_file``.

    ``commit`` moves them into place in that order (metrics last); ``discard`` removes them.
    """

    def __init__(self, model_dir: Path, history_file: Path, run_file: Path, metrics_file: Path,
                 export_dir: Path | None = None) -> None:
        exports = (Path(export_dir),) if export_dir is not None else ()
        self.finals = (Path(model_dir), Path(history_file), *exports, Path(run_file), Path(metrics_file))
        for final in self.finals:  # what an earlier killed run left staged
            final.parent.mkdir(parents=True, exist_ok=True)
            for leftover in final.parent.glob(f".{final.name}.staging-*"):
                _remove(leftover)
        self.token = secrets.token_hex(4)
        self.staged = tuple(_staged(p, self.token) for p in self.finals)
        self.model_dir, self.history_file, *export, self.run_file, self.metrics_file = self.staged
        self.export_dir: Path | None = export[0] if export else None

    def write_history(self, text: str) -> None:
        write_text(self.history_file, text)

    def write_run(self, identity: dict) -> None:
        write_json(self.run_file, identity, sort_keys=False)

    def write_metrics(self, numbers: dict) -> None:
        write_json(self.metrics_file, numbers, sort_keys=False)  # `dvc exp show` keeps this order

    def commit(self) -> None:
        """Move every staged output into place; metrics last."""
        with signals_deferred():
            for staged, final in zip(self.staged, self.finals):
                if staged.is_dir() and final.is_dir():
                    old = final.with_name(f".{final.name}.old-{self.token}")
                    os.replace(final, old)
                    os.replace(staged, final)
                    _remove(old)
                else:
                    os.replace(staged, final)

    def discard(self) -> None:
        for staged in self.staged:
            _remove(staged)
