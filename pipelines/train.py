"""Train one configuration (Hydra app; DVC stages train@{numpy,torch} and tutorial@{...}).

    python pipelines/train.py backend=torch optim.lr=0.01
    python pipelines/train.py -m backend=numpy,torch model.hidden_sizes=[64],[256]
    python pipelines/train.py -m hydra/launcher=joblib backend=numpy,torch   # in parallel
    python pipelines/train.py -m hydra/launcher=slurm tracking=server backend=numpy,torch   # SLURM jobs
    python pipelines/train.py -m hparams_search=default   # an Optuna study (README: Search)

DVC runs it with ``--config-dir . --config-name params`` so that the composed params.yaml (which
`dvc exp run -S` rewrites) is the configuration, not conf/ directly. The tutorial stages compose conf/
with ``experiment=tutorial`` and take the settings every run shares from params.yaml with
``--shared-from-params KEY,KEY,...`` (the first argument), read here rather than pasted into the
stage's shell command.
"""
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from mlpbench.config import ConfigError
from mlpbench.config.store import register_configs
from mlpbench.data import DataFileError
from mlpbench.params import take_from_params
from mlpbench.progress import watched
from mlpbench.signals import Terminated, stop_child_processes
from mlpbench.training import NonFiniteLossError

if watched():  # the imports below (MLflow, SciPy) take several seconds before anything else can speak
    print("loading MLflow and SciPy ...", file=sys.stderr, flush=True)

from mlpbench.run.outcome import run_lines  # noqa: E402
from mlpbench.run.seeds import train_and_track  # noqa: E402
from mlpbench.search.trial import Reporter, TrialPruned, outcome, pruned_outcome, read_trial  # noqa: E402
from mlpbench.sweep import job_swept, parent_run_id  # noqa: E402
from mlpbench.tracking import resolve_tracking_uri  # noqa: E402
from mlpbench.tracking.health import StoreError  # noqa: E402
from mlpbench.tracking.journal import StoreFailed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("mlpbench")
DEBUG_ENV = "MLPBENCH_DEBUG"  # set: a stopped run shows its traceback
SHARED_FLAG = "--shared-from-params"
SHARED: list[str] = []  # the keys --shared-from-params names
register_configs()  # the schema conf/config.yaml names in its defaults


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | dict:
    """A run's validation accuracy; a search trial's outcome for the sweeper (``mlpbench.search.trial``)."""
    hc = HydraConfig.get()
    trial = read_trial(Path(hc.sweep.dir), hc.job.num) if hc.mode.name == "MULTIRUN" else None
    n_jobs = int(OmegaConf.select(hc, "launcher.n_jobs", default=1) or 1) if hc.mode.name == "MULTIRUN" else 1
    if n_jobs < 0:  # joblib: -1 means all cores
        n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    # submitit launchers (hydra/launcher=slurm, local): each job has its own CPUs
    cpus = OmegaConf.select(hc, "launcher.cpus_per_task", default=None) if hc.mode.name == "MULTIRUN" else None
    values = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    try:
        values = take_from_params(values, ROOT / "params.yaml", SHARED) if SHARED else values
        summary = train_and_track(values, ROOT, Path(hc.runtime.output_dir), n_jobs=n_jobs,
                                  parent_run_id=parent_run_id(hc), swept=job_swept(hc), cpus=cpus,
                                  job=hc.job.num if hc.mode.name == "MULTIRUN" else None,
                                  on_epoch=Reporter(trial) if trial else None, extra_tags=trial.tags() if trial else None)
    except TrialPruned as err:  # its run ended FINISHED, tagged trial_state=PRUNED
        log.info("trial %d pruned at epoch %d", trial.number, err.epoch)
        return pruned_outcome(err)
    except (ConfigError, DataFileError, NonFiniteLossError, FileNotFoundError, StoreError) as err:
        log.error("%s", err)
        if trial:  # an error the sweeper records as the trial's FAIL; the study goes on
            raise RuntimeError(f"train failed: {err}") from None
        sys.exit(f"train failed: {err}")
    except StoreFailed as err:
        log.error("%s", err.describe())
        if trial:
            raise RuntimeError(f"train failed: {err.describe()}") from None
        sys.exit(f"train failed: {err.describe()}")
    except (KeyboardInterrupt, Terminated) as err:
        if os.environ.get(DEBUG_ENV) or hc.mode.name == "MULTIRUN":  # a sweep's own hook reports it
            raise
        print(f"train stopped ({str(err) or 'Ctrl-C'}); its MLflow run ended KILLED, no output files written "
              f"(set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        raise SystemExit(130 if isinstance(err, KeyboardInterrupt) else 143) from None
    track = values["tracking"]
    uri = resolve_tracking_uri(ROOT, track["uri"], server=track["server"])
    print("\n".join(run_lines(summary, uri, track["ui_url"], ROOT)), flush=True)
    return outcome(trial, summary) if trial else summary["val_acc"]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == SHARED_FLAG:
        SHARED.extend(sys.argv.pop(2).split(","))
        sys.argv.pop(1)
    try:
        main()
    except (KeyboardInterrupt, Terminated):  # a stopped sweep: no worker may start its next job
        stop_child_processes()
        raise
