"""When the store fails during a run: no more retries, the run's end kept beside its outputs, settled later.

A write that fails (a server gone for longer than MLflow's retries, a disk that filled up under
SQLite) makes ``TrackedRun`` raise ``StoreFailed`` and make no further write except one try, without
retries, to end the run. If that fails too, the run's end (status, the error, the time) goes to
``mlpbench-journal.json`` in the run's folder. ``settle`` (run by the doctor, ``make doctor``)
records journalled ends once the store answers again, before it would end the same runs as
"process gone", and renames each journal it settled.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Mapping

import requests
import sqlalchemy.exc
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlpbench.io import write_json
from mlpbench.tracking.tags import REASON_TAG

JOURNAL = "mlpbench-journal.json"
SETTLED = "mlpbench-journal.settled.json"
# What a failing store raises: MLflow's own errors, HTTP errors, the database's, the disk's.
STORE_ERRORS = (MlflowException, requests.RequestException, sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError)
LAST_TRY_TIMEOUT_S = 5


# Lines of a database error that say where it happened, not what: SQLAlchemy puts the autoflush note
# before the driver's own line ("(sqlite3.OperationalError) database or disk is full").
_CONTEXT_LINES = ("(raised as a result of", "[SQL:", "[parameters:", "(Background on this error")


def _first_line(err: BaseException) -> str:
    """The exception's type and the first line of its message that names the error itself."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    named = [line for line in lines if not line.startswith(_CONTEXT_LINES)] or lines
    return f"{type(err).__name__}: {named[0][:300] if named else ''}"


class StoreFailed(RuntimeError):
    """The tracking store failed during run ``run_id``; ``journal``: where its end was kept (or None)."""

    def __init__(self, uri: str, run_id: str, cause: BaseException):
        self.uri, self.run_id, self.cause = uri, run_id, cause
        self.journal: Path | None = None
        self.recorded = False  # the last try to end the run reached the store after all
        super().__init__(_first_line(cause))

    def describe(self) -> str:
        """One line: the store, the run, the error and how the run's end gets recorded."""
        head = f"the tracking store {self.uri} failed during MLflow run {self.run_id} ({self})"
        if self.recorded:
            return f"{head}; the run was ended FAILED in the store"
        if self.journal is None:
            return f"{head}; the run is left RUNNING there: `make doctor` ends it once the store answers"
        return (f"{head}; its end is kept in {self.journal}: once the store answers, record it with "
                f"python -m mlpbench.tracking.doctor --uri {self.uri} --journals {self.journal.parent}")


@contextlib.contextmanager
def store_errors_unlogged() -> Iterator[None]:
    """MLflow's SQL store logs each database error with its traceback before raising it; inside, it does
    not (the error raised is reported once, in one line, as ``StoreFailed``)."""
    logger = logging.getLogger("mlflow.store.db.utils")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def no_retries(timeout: float = LAST_TRY_TIMEOUT_S) -> Iterator[None]:
    """MLflow's HTTP requests inside: one try each, ``timeout`` seconds (MLflow reads these per request)."""
    names = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout))}
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_journal(path: Path, entry: Mapping[str, object]) -> Path | None:
    """Keep ``entry`` (uri, run_id, status, error, end_time) in ``path``; None when even that fails."""
    try:
        write_json(path, dict(entry), sort_keys=False)
    except OSError:
        return None
    return path


def journals(folders: list[Path]) -> list[Path]:
    """The unsettled journals under ``folders``."""
    return sorted(p for folder in folders if folder.is_dir() for p in folder.rglob(JOURNAL))


def settle(uri: str, folders: list[Path]) -> list[str]:
    """End every run still RUNNING in ``uri`` that a journal under ``folders`` describes, as it says;
    rename each journal of this store to ``SETTLED``. Returns one line per journal settled."""
    client, done = MlflowClient(uri), []
    for path in journals(folders):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if entry.get("uri") != uri:
            continue
        run = client.get_run(entry["run_id"])
        if run.info.status == "RUNNING":
            client.set_tag(entry["run_id"], "error", str(entry.get("error", ""))[:5000])
            client.set_tag(entry["run_id"], REASON_TAG, f"recorded from {path}: the store failed during the run")
            client.set_terminated(entry["run_id"], entry["status"], end_time=entry.get("end_time"))
            done.append(f"{entry['run_id']} ({run.info.run_name}): ended {entry['status']} from {path}")
        else:
            done.append(f"{entry['run_id']} ({run.info.run_name}): already {run.info.status}; {path} settled")
        os.replace(path, path.with_name(SETTLED))
    return done


def now_ms() -> int:
    return int(time.time() * 1000)
