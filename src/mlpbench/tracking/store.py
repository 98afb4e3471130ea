"""Where the tracking store is: MLFLOW_TRACKING_URI, the configured URI, or mlflow.db in the project.

Read by ``runs`` (training runs, sweeps, studies, reports) and by ``doctor``'s command line alike.
"""
from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "mlflow.db"


def store_root(root: Path) -> Path:
    """The folder that holds the default store: the user's repository.

    DVC runs a queued experiment (``dvc exp run --queue``) in a temporary copy of the repository
    and points ``DVC_ROOT`` at the original; a store inside the copy would be deleted with it.
    """
    return Path(os.environ.get("DVC_ROOT") or root)


def resolve_tracking_uri(root: Path, configured: str | None = None, server: bool = False) -> str:
    """MLFLOW_TRACKING_URI, else ``tracking.uri`` from the config, else mlflow.db in ``store_root``.

    A relative ``sqlite:///x.db`` would follow the working directory, which Hydra and DVC change,
    so relative SQLite paths are anchored at ``store_root(root)``. server (``tracking=server``):
    the URI must be an MLflow server's http(s) address; ``ConfigError`` says how to give one.
    """
    base = store_root(root)
    if server:
        return _server_uri(os.environ.get("MLFLOW_TRACKING_URI") or configured)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured or f"sqlite:///{base / DB_NAME}"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        uri = prefix + str((base / uri[len(prefix):]).resolve())
    return uri


def is_server(uri: str) -> bool:
    """Whether ``uri`` is an MLflow tracking server (http or https) rather than a local store."""
    return uri.startswith(("http://", "https://"))


def _server_uri(uri: str | None) -> str:
    from mlpbench.config import ConfigError

    if not uri:
        raise ConfigError("tracking=server needs the server's address: set MLFLOW_TRACKING_URI=http://HOST:5000 "
                          "or tracking.uri=http://HOST:5000 (scripts/mlflow-team-server starts one)")
    if not is_server(uri):
        raise ConfigError(f"tracking=server needs an http(s) server address, got {uri!r} "
                          "(from MLFLOW_TRACKING_URI or tracking.uri); use tracking=default for a local store")
    return uri.rstrip("/")
