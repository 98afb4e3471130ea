"""Dataset inputs of runs that finish together: parallel sweep jobs on the same data log the same datasets."""
from support import log_datasets_at_once


def test_jobs_that_log_the_same_datasets_at_once_all_finish_and_share_them(tmp_path):
    log_datasets_at_once(f"sqlite:///{tmp_path / 'mlflow.db'}", "r", tmp_path)
