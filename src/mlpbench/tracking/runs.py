"""Run lifecycle: experiments, sweep parents and one training run.

A training run is wrapped in ``TrackedRun``: it starts an MLflow run with params and tags, takes
per-epoch metrics, artifacts and the model, and ends the run with an honest status: FINISHED on
success, KILLED on SIGINT/SIGTERM, FAILED on any other exception (the error is kept as the tag
``error`` and the artifact ``error.txt``). Nothing is left RUNNING; when the store itself fails, the
run's end is kept in a journal that the doctor records later (``tracking.journal``).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import mlflow
import psutil
from mlflow.entities import RunStatus, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID

from mlpbench.processes import process_tag
from mlpbench.signals import Terminated, signals_deferred
from mlpbench.stopping import StoppedEarly
from mlpbench.tracking.journal import (STORE_ERRORS, StoreFailed, no_retries, now_ms, store_errors_unlogged,
                                      write_journal)
from mlpbench.tracking.races import retried
from mlpbench.tracking.store import is_server
from mlpbench.tracking.tags import PROCESS_TAG, REASON_TAG

# MLflow re-downloads logged models to check them; its progress bar would clutter training logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """For a SQLite store, an exclusive lock on ``<db>.lock`` beside it; nothing for servers.

    MLflow's schema creation and ``create_experiment`` race when several processes (two sweeps
    started together, parallel jobs) find a fresh store at once.
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        yield
        return
    with file_lock(Path(uri[len(prefix):] + ".lock")):
        yield


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created with its folder if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare(uri: str, experiment: str) -> str:
    """Create the store (schema migration) and the experiment, safely from several processes.

    Returns the experiment id. The experiment's kind and description tags are (re)set each time.
    A name whose artifact folder would leave the store's (``..``, ``/``) raises ``ConfigError`` first.
    """
    _artifact_location(uri, experiment)
    with _store_lock(uri):
        client = MlflowClient(uri)
        experiment_id, tags = _get_or_create(client, uri, experiment)
        _describe(client, experiment_id, tags)
        _retire_empty_default(client, uri)
        return experiment_id


def _retire_empty_default(client: MlflowClient, uri: str) -> None:
    """Delete (soft) the experiment "Default" of a SQLite store while it holds no run.

    MLflow creates it in every store; the project names an experiment for every run, so it stays
    empty, and the UI lists it above ``mlpbench`` when sorted by name (renamed, it would still be
    listed). Once deleted, a run started with no experiment fails ("non-active experiment"), which
    no project code does; ``mlflow experiments restore --experiment-id 0`` brings it back. A
    server's Default is its users' to keep.
    """
    if not uri.startswith("sqlite:///"):
        return
    default = client.get_experiment(DEFAULT_EXPERIMENT_ID)
    if (default.name, default.lifecycle_stage) == ("Default", "active") and \
            not client.search_runs([DEFAULT_EXPERIMENT_ID], max_results=1, run_view_type=ViewType.ALL):
        client.delete_experiment(DEFAULT_EXPERIMENT_ID)


def _get_or_create(client: MlflowClient, uri: str, name: str) -> tuple[str, Mapping[str, str]]:
    """The id and tags of experiment ``name``, created if missing.

    A server has no lock: when another process creates it between the look and the create,
    MLflow answers RESOURCE_ALREADY_EXISTS, and the experiment that process made is the one.
    """
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id, found.tags
    try:
        return client.create_experiment(name, artifact_location=_artifact_location(uri, name)), {}
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS" or not (found := client.get_experiment_by_name(name)):
            raise
        return found.experiment_id, found.tags


# MLflow 3.17's UI ignores this tag when choosing the page (its workflow-type switch always wins;
# see tracking.ui for how `make ui` opens on training runs), but the kind picker shows it.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
NOTE_TAG = "mlflow.note.content"
DESCRIPTION = """\
MLP benchmark: NumPy from scratch vs PyTorch. The same multilayer perceptron trained by two backends,
**numpy** (written from scratch) and **torch** (PyTorch), on an IDX image data set; each run's tags
`dataset` and `dataset_title` name the one it trained on.

* Training runs are named `[<preset>] <backend> h<sizes> <activation> <optimizer> lr.. bs.. e..`
  (e.g. `numpy h512-256 relu nesterov lr0.3 bs768 e13`; the preset is left out when it is `default`;
  a sweep's children start with their swept values, e.g. `[optim.lr=0.05] numpy ...`).
* A seed group `... (5 seeds)` holds one run per seed, `seed=3 ...`.
* A sweep's parent run holds its trials as children.
* Reports live in this experiment's namesake with `-reports` appended (their artifacts: tables and figures;
  `dvc repro report` also writes them to `reports/`); each run a report summarises carries its
  `report_run_id`.
"""


def _describe(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> None:
    """Set the experiment-kind and description tags where they differ (idempotent)."""
    for key, value in ((KIND_TAG, KIND), (NOTE_TAG, DESCRIPTION)):
        if tags.get(key) != value:  # on a server, processes starting together race to set it
            retried(lambda: client.set_experiment_tag(experiment_id, key, value))


def _artifact_location(uri: str, experiment: str) -> str | None:
    """For a SQLite store: ``mlartifacts/<experiment>`` beside the database file.

    MLflow's own default is relative to the working directory, which Hydra and DVC change.
    Servers and other stores choose their own location (None). A name that would put the folder
    anywhere but directly inside ``mlartifacts`` (``..``, a separator) raises ``ConfigError``.
    """
    from mlpbench.config import ConfigError

    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    root = Path(os.path.normpath(Path(uri[len(prefix):]).parent / "mlartifacts"))
    location = Path(os.path.normpath(root / experiment))
    if location.parent != root:
        raise ConfigError(f"experiment name {experiment!r} would put its artifacts in {location}, not inside {root}; "
                          "name it with letters, digits, _ . - (no / and not ..)")
    return location.as_uri()


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists become their string form."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def start_parent_run(uri: str, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
    """Create the parent run of a sweep (left RUNNING until ``end_parent_run``); return its id."""
    client = MlflowClient(uri)
    tags = {PROCESS_TAG: process_tag(), **tags}
    return client.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def end_parent_run(uri: str, run_id: str, status: str, reason: str | None = None) -> None:
    """Mark the sweep's parent run FINISHED/FAILED/KILLED (with ``reason`` as a tag) if still RUNNING."""
    client = MlflowClient(uri)
    if client.get_run(run_id).info.status == "RUNNING":
        if reason:
            client.set_tag(run_id, "sweep_end_reason", reason[:5000])
        client.set_terminated(run_id, status)


def children(uri: str, parent_run_id: str) -> list[dict[str, str]]:
    """``{run_id, name, status, process, error, slurm_job_id}`` of each run whose parent is ``parent_run_id``."""
    client = MlflowClient(uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=5000)
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "process": r.data.tags.get(PROCESS_TAG, ""), "error": r.data.tags.get("error", ""),
             "slurm_job_id": r.data.tags.get("slurm_job_id", "")} for r in runs]


def descendants(uri: str, parent_run_id: str) -> list[dict[str, str]]:
    """``children``, then theirs, and so on: a sweep's jobs and the seed runs of a job's seed group."""
    found, todo = [], [parent_run_id]
    while todo:
        level = [c for run_id in todo for c in children(uri, run_id)]
        found += level
        todo = [c["run_id"] for c in level]
    return found


def end_killed(uri: str, run_id: str, reason: str) -> None:
    """End a run KILLED with ``reason`` (tag ``killed_reason``) if it is still RUNNING."""
    client = MlflowClient(uri)
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_tag(run_id, REASON_TAG, reason[:5000])
        client.set_terminated(run_id, "KILLED")


class TrackedRun:
    """Context manager around one MLflow run; see the module docstring for the status rules.

    On a database store (SQLite), every write holds stopping signals back until it is done
    (``writing``): a stop raised inside SQLAlchemy's session left the store locked, and the run
    could not then be ended KILLED. A server's writes are plain HTTP requests and stay interruptible.

    A write the store fails raises ``StoreFailed`` and no later write is tried (``tracking.journal``):
    the run's end gets one try without retries, else is kept in ``journal_file`` for the doctor.

    start_time, end_time: milliseconds since the epoch, for a run recorded after its work was done
    (a study's); by default the run starts and ends as the block does. ``end_time`` is kept when the
    run FINISHED; a failed record ends when it failed.
    """

    def __init__(self, uri: str, experiment_id: str, run_name: str, params: Mapping[str, Any],
                 tags: Mapping[str, str], parent_run_id: str | None = None, journal_file: Path | None = None,
                 start_time: int | None = None, end_time: int | None = None):
        self.uri, self.experiment_id, self.run_name = uri, experiment_id, run_name
        self.params, self.tags, self.parent_run_id = params, tags, parent_run_id
        self.start_time, self.end_time = start_time, end_time
        self.run_id: str | None = None
        self.journal_file, self.failed = journal_file, None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The block around a write to the store: ``signals_deferred`` unless the store is a server;
        a store error inside becomes ``StoreFailed``, and once one has, no block runs again."""
        if self.failed is not None:
            raise self.failed
        try:
            with contextlib.nullcontext() if is_server(self.uri) else signals_deferred(), store_errors_unlogged():
                yield
        except STORE_ERRORS as err:
            if self.run_id is None:  # no run yet: nothing to journal
                raise
            self.failed = StoreFailed(self.uri, self.run_id, err)
            raise self.failed from err

    def __enter__(self) -> "TrackedRun":
        mlflow.set_tracking_uri(self.uri)
        try:
            with self.writing():
                tags = {PROCESS_TAG: process_tag(), **self.tags}
                if self.start_time is not None:  # mlflow.start_run takes no start time; it resumes a run that has one
                    self.run_id = MlflowClient(self.uri).create_run(
                        self.experiment_id, start_time=self.start_time, run_name=self.run_name,
                        tags={**tags, **({"mlflow.parentRunId": self.parent_run_id} if self.parent_run_id else {})},
                    ).info.run_id
                run = mlflow.start_run(run_id=self.run_id, experiment_id=self.experiment_id, run_name=self.run_name,
                                       parent_run_id=self.parent_run_id, nested=mlflow.active_run() is not None,
                                       tags=None if self.run_id else tags)
                self.run_id = run.info.run_id
                mlflow.log_params(flatten(self.params))
        except BaseException as err:  # a stop noted while starting is raised as the block ends
            if self.run_id is not None:
                self.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.failed is None and isinstance(exc, StoreFailed) and exc.uri == self.uri:
            # a run nested in this one (a seed's, in its group) met the store failing: this run's end gets
            # the same single try without retries, not a second round of them
            self.failed = StoreFailed(self.uri, self.run_id, exc.cause)
        if isinstance(exc, StoppedEarly) and self.failed is None:  # stopped on purpose (a pruned trial): FINISHED
            with contextlib.suppress(StoreFailed), self.writing():
                mlflow.set_tags({**exc.tags, NOTE_TAG: exc.note})
            exc_type = exc = tb = None
        killed = exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, Terminated))
        status = RunStatus.to_string(RunStatus.FINISHED if exc_type is None else
                                     RunStatus.KILLED if killed else RunStatus.FAILED)
        if self.failed is None:
            with contextlib.suppress(StoreFailed), self.writing():
                if exc_type is not None:
                    try:
                        mlflow.set_tag("error", f"{exc_type.__name__}: {exc}"[:5000])
                        if not killed:
                            mlflow.log_text("".join(traceback.format_exception(exc_type, exc, tb)), "error.txt")
                    finally:
                        mlflow.end_run(status)
                else:
                    mlflow.end_run(status)
                    if self.end_time is not None:
                        MlflowClient(self.uri).set_terminated(self.run_id, status, end_time=self.end_time)
                return False
        self._end_after_failure(status, exc if exc is not None else self.failed)
        if exc is None or exc is self.failed:
            raise self.failed
        raise self.failed from exc  # the run's own error is in the journal; the store's failure is the news

    def _end_after_failure(self, status: str, error: BaseException) -> None:
        """One try, without retries, to end the run with ``error``; else its end goes to the journal."""
        why = f"{type(error).__name__}: {error}"
        with contextlib.suppress(*STORE_ERRORS), no_retries(), store_errors_unlogged():
            mlflow.end_run(status)  # takes the run off MLflow's stack of active runs; may not reach the store
        try:
            with no_retries(), store_errors_unlogged():
                client = MlflowClient(self.uri)
                client.set_tag(self.run_id, "error", why[:5000])
                client.set_terminated(self.run_id, status)
            self.failed.recorded = True
        except STORE_ERRORS:
            if self.journal_file is not None:
                self.failed.journal = write_journal(self.journal_file, {
                    "uri": self.uri, "experiment_id": self.experiment_id, "run_id": self.run_id,
                    "run_name": self.run_name, "status": status, "error": why, "store_error": str(self.failed),
                    "end_time": now_ms(), "process": process_tag()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        with self.writing():
            mlflow.log_metrics(dict(metrics), step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        with self.writing():
            mlflow.set_tags(dict(tags))

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        with self.writing():
            mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, name: str) -> None:
        with self.writing():
            mlflow.log_text(text, name)

    def log_dict(self, values: Mapping[str, Any], name: str) -> None:
        with self.writing():
            mlflow.log_dict(dict(values), name)


REPORTS_SUFFIX = "-reports"
REPORTS_DESCRIPTION = """\
Reports (comparison and sweep reports) built from the runs of the experiment **{source}**: each run
here holds one report's Markdown, HTML and figures as artifacts. Its tag `report_runs` lists the
runs it summarises; each of those carries `report_run_id` (and `report_experiment`) pointing back here.
"""


def reports_experiment(uri: str, experiment_id: str) -> str:
    """The id of ``<name>-reports``, the experiment holding the reports on experiment ``experiment_id``.

    Reports live apart from the runs they summarise so that the training runs' table and charts
    hold training runs only. Created (with its description) on first use.
    """
    client = MlflowClient(uri)
    source = client.get_experiment(experiment_id).name
    name = source + REPORTS_SUFFIX
    with _store_lock(uri):
        reports_id, tags = _get_or_create(client, uri, name)
    description = REPORTS_DESCRIPTION.format(source=source)
    if tags.get(NOTE_TAG) != description:
        client.set_experiment_tag(reports_id, NOTE_TAG, description)
    return reports_id


def log_report(uri: str, experiment_id: str, files: Sequence[tuple[Path, str | None]],
               tags: Mapping[str, str], summarised: Sequence[str], run_name: str = "report") -> str:
    """Record report files as a new run in the reports experiment of ``experiment_id``; return its id.

    files: ``(local file, artifact folder or None for the root)`` pairs; summarised: the run ids
    the report is built from (training runs, a sweep's parent), each tagged ``report_run_id`` and
    ``report_experiment`` once the report run FINISHED. The report run is tagged ``report=true``
    and ``report_source_experiment_id``; it ends FAILED when an upload fails (the error is re-raised).
    The run starts when the process that built the report did: the report is recorded once built.
    """
    client = MlflowClient(uri)
    reports_id = reports_experiment(uri, experiment_id)
    started = int(psutil.Process().create_time() * 1000)
    run_id = client.create_run(reports_id, run_name=run_name, start_time=started, tags={
        "report": "true", "report_source_experiment_id": experiment_id, **dict(tags)}).info.run_id
    try:
        for local, folder in files:
            client.log_artifact(run_id, str(local), artifact_path=folder)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    reports_name = client.get_experiment(reports_id).name
    for summarised_id in dict.fromkeys(summarised):
        client.set_tag(summarised_id, "report_run_id", run_id)
        client.set_tag(summarised_id, "report_experiment", reports_name)
    return run_id
