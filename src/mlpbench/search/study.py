"""The study's storage and its opening, shared by the sweeper (creates, asks, tells) and each trial's job
(reports its epochs, asks whether to stop).

Storage by setting: a path is a journal file (``JournalStorage(JournalFileBackend)``), safe for the
parallel jobs of one machine (joblib, hydra/launcher=local); a URL is a database (``RDBStorage``), the
team PostgreSQL for SLURM trials (``postgresql+psycopg://user@host/optuna``: its own database beside
MLflow's, created on first use). The sweeper creates the study before any job starts, so jobs that start
together only open it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from mlpbench.config import ConfigError
from mlpbench.processes import process_state, process_tag

log = logging.getLogger(__name__)
SWEEPER_ATTR = "mlpbench_sweeper"  # the process tag of the sweep that asked a trial
SPACE_ATTR = "mlpbench_space"  # the search space the study was started with, in words
EPOCHS_ATTR = "mlpbench_epochs"  # the most epochs a trial trains (what a pruned trial would have trained)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what counts towards n_trials


def storage_spec(storage: str | None, study_name: str, root: Path) -> str:
    """A URL as given; a path made absolute under ``root``; None: ``root/optuna/<study>.journal``."""
    if storage and "://" in storage:
        return storage
    path = Path(storage) if storage else Path("optuna") / f"{study_name}.journal"
    return str(path if path.is_absolute() else (root / path).resolve())


def shown(spec: str) -> str:
    """The storage as it may be shown and logged: a URL's password replaced by ``***``."""
    if "://" not in spec:
        return spec
    from sqlalchemy.engine import make_url

    return make_url(spec).render_as_string(hide_password=True)


def open_storage(spec: str) -> BaseStorage:
    """The storage ``spec`` names (see ``storage_spec``); a PostgreSQL database is created when missing."""
    if "://" not in spec:
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(spec))
    try:
        if spec.startswith("postgresql"):
            ensure_database(spec)
        return RDBStorage(spec, engine_kwargs={"pool_pre_ping": True})
    except Exception as err:
        raise ConfigError(f"hydra.sweeper.storage={shown(spec)}: cannot open it ({type(err).__name__}: "
                          f"{str(err).splitlines()[0]}); check the URL and that the server runs") from None


def ensure_database(url: str) -> None:
    """Create the URL's PostgreSQL database if it does not exist (sweeps starting together: one wins)."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = sqlalchemy.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                            {"d": target.database}).first() is None:
                try:
                    conn.execute(sqlalchemy.text(f'CREATE DATABASE "{target.database}"'))
                except sqlalchemy.exc.ProgrammingError as err:  # created meanwhile by a sweep beside this one
                    if "already exists" not in str(err):
                        raise
    finally:
        admin.dispose()


def open_study(spec: str, name: str, direction: str, sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None, create: bool = False) -> optuna.Study:
    """Open study ``name`` (create it when ``create``); refuse one recorded with another direction."""
    storage = open_storage(spec)
    if create:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                    pruner=pruner, load_if_exists=True)
    else:
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name} in {shown(spec)} was started to {study.direction.name.lower()}, this search "
                          f"would {direction}; give it another hydra.sweeper.study_name or the study's objective")
    return study


def check_resume(spec: str, name: str, direction: str, space: Mapping[str, str]) -> None:
    """Before a sweep starts: refuse to resume a study recorded with another direction or space (a journal
    file that does not exist yet is not created)."""
    if "://" not in spec and not Path(spec).is_file():
        return
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(spec))
    except KeyError:  # no such study yet
        return
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name} in {shown(spec)} was started to {study.direction.name.lower()}, this search "
                          f"would {direction}; give it another hydra.sweeper.study_name or the study's objective")
    _same_space(study, space, spec)


def _same_space(study: optuna.Study, space: Mapping[str, str], spec: str) -> None:
    recorded = study.user_attrs.get(SPACE_ATTR)
    if recorded is not None and recorded != dict(space):
        raise ConfigError(f"study {study.study_name} in {shown(spec)} searches {recorded}, not {dict(space)}; "
                          "resume it with the same hydra.sweeper.params or start another study_name")


def check_space(study: optuna.Study, space: Mapping[str, str], spec: str, epochs: int) -> None:
    """Record the study's space (and a trial's epochs) on its first sweep; refuse a resume with another space."""
    _same_space(study, space, spec)
    if study.user_attrs.get(EPOCHS_ATTR) != epochs:
        study.set_user_attr(EPOCHS_ATTR, epochs)
    if study.user_attrs.get(SPACE_ATTR) is None:
        study.set_user_attr(SPACE_ATTR, dict(space))


def fail_stale(study: optuna.Study) -> list[int]:
    """Mark FAIL the RUNNING trials whose sweep process has ended (killed before it could); return their numbers."""
    stale = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(SWEEPER_ATTR)
        if owner is None or process_state(owner) != "alive":
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            stale.append(trial.number)
    if stale:
        log.warning("marked FAIL %d trial(s) a stopped sweep left RUNNING: %s", len(stale), stale)
    return stale


def claim(trial: optuna.Trial) -> None:
    trial.set_user_attr(SWEEPER_ATTR, process_tag())


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def best(study: optuna.Study) -> dict[str, Any] | None:
    """The best COMPLETE trial's number, value and params, or None."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    trial = study.best_trial
    return {"number": trial.number, "value": trial.value, "params": dict(trial.params)}


def epochs_of(study: optuna.Study, planned: int) -> dict[str, int]:
    """Epochs the finished trials trained, and the epochs pruning saved (each pruned trial's planned epochs,
    ``train.epochs`` when the space sets it, less those it trained)."""
    trained = saved = 0
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        ran = len(trial.intermediate_values)
        trained += ran
        if trial.state == TrialState.PRUNED:
            saved += int(trial.params.get("train.epochs", planned)) - ran
    return {"epochs_trained": trained, "epochs_saved": saved}
