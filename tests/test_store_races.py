"""Writes that race when processes update one store at once: parallel sweep jobs on the same data."""
import pytest
from mlflow.exceptions import MlflowException

from mlpbench.tracking.races import ATTEMPTS, retried
from support import log_datasets_at_once


@pytest.mark.slow  # 4 processes, each importing mlflow: 23 s of the fast tier's 2-3 minutes
def test_jobs_that_log_the_same_datasets_at_once_all_finish_and_share_them(tmp_path):
    log_datasets_at_once(f"sqlite:///{tmp_path / 'mlflow.db'}", "r", tmp_path)


def _failing(errors: list[str]):
    calls = []

    def write():
        calls.append(1)
        if len(calls) <= len(errors):
            raise MlflowException(errors[len(calls) - 1])
        return "stored"
    return write, calls


def test_a_lost_race_is_tried_again_and_other_errors_are_not():
    write, calls = _failing(['(psycopg.errors.UniqueViolation) duplicate key value violates "dataset_pk"'])
    assert retried(write) == "stored" and len(calls) == 2
    write, calls = _failing(["RESOURCE_DOES_NOT_EXIST: run abc not found"])
    with pytest.raises(MlflowException, match="not found"):
        retried(write)
    assert len(calls) == 1
    write, calls = _failing(["(sqlite3.IntegrityError) UNIQUE constraint failed"] * ATTEMPTS)
    with pytest.raises(MlflowException, match="UNIQUE"):
        retried(write)
    assert len(calls) == ATTEMPTS
