"""Writes that race when several processes update one MLflow store at once.

Some MLflow writes look for a row and insert it when missing (a dataset of an experiment, an
experiment tag). Parallel jobs, or two sweeps started together, can both miss it; the loser's
insert then breaks the table's key, and MLflow answers with an error it does not retry (a 400 from
a server). Trying again finds the row the winner stored.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from mlflow.exceptions import MlflowException

T = TypeVar("T")
# The store's words for a broken key: SQLite, PostgreSQL (psycopg) and SQLAlchemy's, also as a server passes them on.
LOST_RACE = ("UNIQUE constraint failed", "duplicate key value", "UniqueViolation", "IntegrityError")
ATTEMPTS = 3


def lost_race(err: MlflowException) -> bool:
    return any(text in str(err) for text in LOST_RACE)


def retried(write: Callable[[], T]) -> T:
    """``write()``, tried again (up to ``ATTEMPTS`` in all) when it lost such a race; other errors pass."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return write()
        except MlflowException as err:
            if attempt == ATTEMPTS or not lost_race(err):
                raise
    raise AssertionError("unreachable")
