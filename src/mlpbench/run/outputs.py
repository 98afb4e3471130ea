"""A run's output files appear together or not at all, and replace only what a run wrote.

The model folder, the history CSV, the run's portable export (when asked for), the run file (which
MLflow run this is) and the metrics JSON are written first under hidden staging names beside their final paths (same file systems), and moved
into place only once all exist, with SIGTERM and SIGINT held back during the moves. The metrics
file, which DVC reads, moves last. A kill before the moves leaves only staging files, which the next
run's ``Staged`` of the same paths removes: staging names carry the writing process's tag
(``processes``), and only those whose process is gone are removed, never those of a run still
writing beside it. Only a SIGKILL within the moves themselves (microseconds) could split the set.

The model folder holds a manifest (``MANIFEST``) naming the run and every file it wrote. A run
replaces an existing model folder only when that manifest lists everything in it (or it is empty):
``foreign_entries`` names what else is there, and ``build.preflight`` refuses such a folder before
any work.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Mapping

from mlpbench.io import write_json, write_text
from mlpbench.processes import process_state, process_tag
from mlpbench.signals import signals_deferred

MANIFEST = "mlpbench-run.json"  # in a model folder: the run that wrote it and its files


def _staged(path: Path, token: str) -> Path:
    return path.with_name(f".{path.name}.staging-{token}")


def _token() -> str:
    """A random part, then this process's tag (``:`` written as ``+``, which no tag holds)."""
    return f"{secrets.token_hex(4)}.{process_tag().replace(':', '+')}"


def _writer_gone(staged: Path) -> bool:
    """Whether the process that named ``staged`` (see ``_token``) is gone; False when it cannot be told
    (another host or boot, a name without a tag)."""
    tag = staged.name.rpartition(".staging-")[2].partition(".")[2].replace("+", ":")
    return tag.count(":") == 3 and process_state(tag) == "gone"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _entries(folder: Path, files_only: bool = False) -> list[str]:
    """Every path under ``folder`` (files and folders, or files only), relative, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not (files_only and p.is_dir()))


def foreign_entries(folder: Path) -> list[str]:
    """What ``folder`` holds that its manifest does not list (relative paths); [] when a run wrote
    all of it, or it is empty or not a folder."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
        listed = {MANIFEST, *files, *(parent.as_posix() for f in files for parent in Path(f).parents)}
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    return [entry for entry in _entries(folder) if entry not in listed]


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
                if _writer_gone(leftover):
                    _remove(leftover)
        self.token = _token()
        self.staged = tuple(_staged(p, self.token) for p in self.finals)
        self.model_dir, self.history_file, *export, self.run_file, self.metrics_file = self.staged
        self.export_dir: Path | None = export[0] if export else None

    def write_manifest(self, identity: Mapping[str, str]) -> None:
        """Mark the staged model folder as this run's: ``identity`` and every file in it now."""
        files = _entries(self.model_dir, files_only=True)
        write_json(self.model_dir / MANIFEST, {**identity, "files": files}, sort_keys=False)

    def write_history(self, text: str) -> None:
        write_text(self.history_file, text)

    def write_run(self, identity: dict) -> None:
        write_json(self.run_file, identity, sort_keys=False)

    def write_metrics(self, numbers: dict) -> None:
        write_json(self.metrics_file, numbers, sort_keys=False)  # `dvc exp show` keeps this order

    def commit(self) -> None:
        """Move every staged output into place; metrics last. A model folder holding files no run
        wrote (put there since the run's checks) is left alone: ``FileExistsError``, nothing moved."""
        final_model = self.finals[0]
        if foreign := foreign_entries(final_model):
            raise FileExistsError(f"{final_model} now holds files no run wrote ({', '.join(foreign[:3])}); "
                                  "this run's outputs were not written")
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
