"""What a sweep costs as it grows: joblib + SQLite, submitit (local) + team server, SLURM + team server.

    python benchmarks/bench_cluster.py                 # N = 4, 8, 16; all three set-ups
    python benchmarks/bench_cluster.py --jobs 4 --setups joblib+sqlite,slurm+server --json out.json

Each sweep trains N short jobs (``experiment=debug``, numpy, 2 epochs, ``train.seed=0..N-1``) on tiny
synthetic data and is timed from the command's start to its exit: config checks, parent run,
job start-up (Python, torch and MLflow imports), training, logging and the end of every run.
Then the per-epoch logging cost: one epoch's metrics (7 values, one ``log_metrics`` call, as the
training loop logs them) timed 50 times against a SQLite file and against the server.

Needs root with slurm-wlm, munge and postgresql (as .ci/run installs them): the one-node cluster and
the server are started here through scripts/ and stopped at the end, on 127.0.0.1. Set-ups whose
services are missing are reported as skipped. It measures, it does not assert.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import free_port, write_learnable_data  # noqa: E402  (the tests' tiny data, a free port)

SETUPS = ("joblib+sqlite", "local+server", "slurm+server")


def start(script: str, folder: Path, env: dict[str, str]) -> None:
    subprocess.run([str(ROOT / "scripts" / script), "start", str(folder)], env=env, check=True,
                   capture_output=True, text=True)


def sweep(setup: str, n: int, root: Path, env: dict[str, str]) -> float:
    data = root / "data"
    launcher = {"joblib+sqlite": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                                  f"tracking.uri=sqlite:///{root / 'mlflow.db'}"],
                "local+server": ["hydra/launcher=local", "hydra.launcher.cpus_per_task=1", "tracking=server"],
                "slurm+server": ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                                 "tracking=server"]}[setup]
    cmd = [sys.executable, str(ROOT / "pipelines" / "train.py"), "-m", *launcher, "experiment=debug",
           "backend=numpy", "model.hidden_sizes=[16]", "train.batch_size=32", f"train.seed=range(0,{n})",
           "data=mnist", f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
           f"hydra.sweep.dir={root / 'multirun' / f'{setup}-{n}'}"]
    if setup == "joblib+sqlite":
        env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{setup} N={n} failed:\n{done.stderr[-3000:]}")
    return took


def logging_cost(uri: str, calls: int = 50) -> float:
    """Median seconds of one epoch's ``log_metrics`` call."""
    from mlpbench import tracking

    experiment_id = tracking.prepare(uri, "bench-logging")
    times = []
    with tracking.TrackedRun(uri, experiment_id, "logging cost", {}, {}) as run:
        for step in range(1, calls + 1):
            metrics = {k: 0.5 for k in ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "time/epoch_s",
                                        "time/samples_per_s")}
            began = time.perf_counter()
            run.log_metrics(metrics, step=step)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="4,8,16", help="sweep sizes, comma-separated")
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    sizes, setups = [int(n) for n in args.jobs.split(",")], args.setups.split(",")
    work = Path(tempfile.mkdtemp(prefix="mlpbench-bench-"))
    work.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    env.update(SLURMCTLD_PORT=str(free_port()), SLURMD_PORT=str(free_port()), MLFLOW_PORT=str(free_port()),
               PG_PORT=str(free_port()), MLFLOW=str(Path(sys.executable).with_name("mlflow")))
    started, results = [], {"sweep_wall_s": {}, "log_epoch_ms": {}}
    try:
        if any(s.endswith("+server") for s in setups):
            start("mlflow-team-server", work / "server", env)
            started.append(("mlflow-team-server", work / "server"))
            env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
        if "slurm+server" in setups:
            start("slurm-single-node", work / "slurm", env)
            started.append(("slurm-single-node", work / "slurm"))
            env["SLURM_CONF"] = str(work / "slurm" / "slurm.conf")
        for setup in setups:
            for n in sizes:
                root = write_learnable_data(work / f"{setup}-{n}")
                took = sweep(setup, n, root, env)
                results["sweep_wall_s"][f"{setup} N={n}"] = round(took, 1)
                print(f"{setup:14s} N={n:3d}: {took:6.1f} s  ({took / n:.1f} s a job)", flush=True)
        for name, uri in (("sqlite", f"sqlite:///{work / 'logging.db'}"), ("server", env.get("MLFLOW_TRACKING_URI"))):
            if uri:
                results["log_epoch_ms"][name] = round(logging_cost(uri) * 1000, 2)
                print(f"one epoch's log_metrics, {name}: {results['log_epoch_ms'][name]:.2f} ms (median of 50)")
    finally:
        for script, folder in reversed(started):
            subprocess.run([str(ROOT / "scripts" / script), "stop", str(folder)], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
