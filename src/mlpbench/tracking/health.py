"""Is the tracking store usable? Asked once, quickly, before a run loads data or starts.

MLflow itself retries a server that does not answer for about four minutes and then raises a long
traceback; a damaged SQLite file gives one from deep inside SQLAlchemy. ``check_store`` asks in
seconds and raises ``StoreError``: one line naming the store, what is wrong and what to do.

    python -m mlpbench.tracking.health URI [--read-only]   # prints the verdict, exits 1 when unusable
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

TIMEOUT_S = 5  # for each request to a server, and for SQLite's lock wait
SQLITE = "sqlite:///"


class StoreError(RuntimeError):
    """The tracking store cannot be used; the message is one line and says what to do."""


def check_store(uri: str, write: bool = True, timeout: float = TIMEOUT_S) -> None:
    """Raise ``StoreError`` unless the store at ``uri`` answers (and, with ``write``, can be written).

    A SQLite file that does not exist yet passes when its folder is writable (MLflow creates it).
    Stores other than SQLite files and http(s) servers are left to MLflow.
    """
    if uri.startswith(("http://", "https://")):
        _check_server(uri.rstrip("/"), timeout)
    elif uri.startswith(SQLITE):
        _check_sqlite(Path(uri[len(SQLITE):]), write, timeout)


def _check_server(uri: str, timeout: float) -> None:
    import requests
    from mlflow.utils.credentials import get_default_host_creds

    creds = get_default_host_creds(uri)
    auth = (creds.username, creds.password) if creds.username else None
    headers = {"Authorization": f"Bearer {creds.token}"} if creds.token else {}
    verify = False if creds.ignore_tls_verification else (creds.server_cert_path or True)
    for endpoint in ("/health", "/api/2.0/mlflow/experiments/search?max_results=1"):
        try:
            response = requests.get(uri + endpoint, auth=auth, headers=headers, verify=verify, timeout=timeout)
        except requests.Timeout:
            raise StoreError(f"the MLflow server at {uri} did not answer within {timeout:g} s; check that it runs "
                             "and is reachable, or set tracking.uri / MLFLOW_TRACKING_URI to another store") from None
        except requests.RequestException as err:
            why = "connection refused" if isinstance(err, requests.ConnectionError) else type(err).__name__
            raise StoreError(f"no MLflow server answers at {uri} ({why}); start it (scripts/mlflow-team-server), or "
                             "set tracking.uri / MLFLOW_TRACKING_URI to one that runs") from None
        if response.status_code != 200:
            raise StoreError(f"the MLflow server at {uri} answers {response.status_code} {response.reason} to "
                             f"GET {endpoint.split('?')[0]}; see the server's log, or use another store (tracking.uri)")


def _check_sqlite(path: Path, write: bool, timeout: float) -> None:
    path = path.resolve()
    if not path.exists():
        folder = next(p for p in path.parents if p.exists())
        if write and not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"the MLflow store {path} cannot be created: {folder} is not writable; fix its "
                             "permissions or set tracking.uri to a writable place")
        return
    if not os.access(path, os.R_OK):
        raise StoreError(f"the MLflow store {path} cannot be read; fix its permissions (chmod u+r)")
    if write and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        raise StoreError(f"the MLflow store {path} is read-only (the file or its folder {path.parent}); fix the "
                         "permissions (chmod u+w on both) or the mount, or set tracking.uri to a writable store")
    damage, version = _inspect(path, timeout)
    if damage != "ok":
        raise StoreError(f"the MLflow store {path} is damaged (SQLite: {damage}); restore it from a backup, or move "
                         "it aside to start a new store there")
    expected = _schema_head()
    if version and expected and version != expected:
        raise StoreError(f"the MLflow store {path} has schema {version}, this MLflow needs {expected}; back it "
                         f"up, then run: mlflow db upgrade {SQLITE}{path}")


def _inspect(path: Path, timeout: float) -> tuple[str, str | None]:
    """SQLite's quick_check verdict on ``path`` ("ok" or what is wrong) and its MLflow schema revision."""
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as err:
        return str(err), None
    try:
        damage = db.execute("PRAGMA quick_check").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        row = db.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in tables else None
        return damage, row[0] if row else None
    except sqlite3.Error as err:
        return str(err), None
    finally:
        db.close()


def _schema_head() -> str | None:
    """The schema revision this MLflow writes (None when it cannot say)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return _get_latest_schema_revision()
    except Exception:  # noqa: BLE001  (a private helper: its absence only skips this check)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", help="tracking store URI, e.g. sqlite:////abs/mlflow.db or http://127.0.0.1:5000")
    parser.add_argument("--read-only", action="store_true", help="only reading is needed (e.g. the UI)")
    args = parser.parse_args(argv)
    try:
        check_store(args.uri, write=not args.read_only)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
