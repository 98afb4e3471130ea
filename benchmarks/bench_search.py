"""What pruning buys a search: the same Optuna study with the median pruner and without, on tiny data.

    python benchmarks/bench_search.py                       # 12 trials of 6 epochs, sampler seeds 0 and 1
    python benchmarks/bench_search.py --trials 20 --epochs 8 --seeds 0,1,2 --json out.json

Each study (TPE, the same sampler seed for both arms, objective val_loss: on the tiny data every good trial
reaches 100 % validation accuracy, so the loss is what tells them apart) searches optim.lr (log interval)
and model.dropout through ``pipelines/train.py -m hydra/sweeper=optuna``, serially, on tiny synthetic data
made here (the tests' ``write_learnable_data``, 2,000 training rows, its class bands dimmed under noise
so that no trial reaches a perfect score). Printed per seed and arm: the epochs
the finished trials trained, the epochs pruning saved, the best value, the wall time of the command. With
pruning the sampler sees other values after the first pruned trial, so the two arms' trials differ from
there on: compare the best values across seeds, not one pair. It measures, it does not assert.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import TEST_DATA, write_learnable_data  # noqa: E402  (the tests' tiny data)


def dim(root: Path, signal: float = 0.3, seed: int = 0) -> Path:
    """Mix the tiny images with noise (signal share ``signal``), keeping the manifest's hashes true."""
    import numpy as np

    from mlpbench.io import array_sha256

    processed, rng = root / "data" / "processed", np.random.default_rng(seed)
    manifest = json.loads((processed / "manifest.json").read_text())
    for part in ("train", "test"):
        images = np.load(processed / f"{part}_images.npy")
        images = (signal * images + (1 - signal) * rng.random(images.shape)).astype(np.float32)
        np.save(processed / f"{part}_images.npy", images)
        manifest[f"{part}_images"]["sha256"] = array_sha256(images)
    (processed / "manifest.json").write_text(json.dumps(manifest))
    return root


def study_arm(root: Path, name: str, pruner: str, seed: int, trials: int, epochs: int) -> dict:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from mlpbench.search.study import epochs_of

    data, journal = root / "data", root / f"{name}.journal"
    cmd = [sys.executable, str(ROOT / "pipelines" / "train.py"), "-m", "hydra/sweeper=optuna", TEST_DATA,
           f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
           f"tracking.uri=sqlite:///{root / 'mlflow.db'}", f"hydra.sweep.dir={root / name}",
           f"hydra.sweeper.storage={journal}", f"hydra.sweeper.study_name={name}", f"hydra.sweeper.pruner={pruner}",
           f"hydra.sweeper.seed={seed}", f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.objective=val_loss",
           "hydra.sweeper.pruner_startup_trials=3", "hydra.sweeper.pruner_warmup_epochs=1",
           "model.hidden_sizes=[32]", "train.batch_size=64", "train.threads=1", "train.seeds=1", f"train.epochs={epochs}",
           "optim.lr=tag(log,interval(0.0005,0.5))", "model.dropout=interval(0.0,0.5)"]
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "CI": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the {name} study failed:\n{done.stderr[-3000:]}")
    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))
    states = [t.state.name for t in study.trials]
    return {"pruner": pruner, "seed": seed, "best": study.best_value, "wall_s": wall,
            "pruned": states.count("PRUNED"), "complete": states.count("COMPLETE"), **epochs_of(study, epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", default="0,1", help="sampler seeds, one study per arm each")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = dim(write_learnable_data(Path(tmp), n_train=2000, n_test=500))
        for seed in (int(s) for s in args.seeds.split(",")):
            for pruner in ("median", "none"):
                row = study_arm(root, f"{pruner}-{seed}", pruner, seed, args.trials, args.epochs)
                rows.append(row)
                print(f"seed {seed} pruner {pruner:6}: {row['complete']:2d} complete, {row['pruned']:2d} pruned, "
                      f"{row['epochs_trained']:3d} epochs trained, {row['epochs_saved']:3d} saved, "
                      f"best val_loss {row['best']:.4f}, {row['wall_s']:.1f} s", flush=True)
    for pruner in ("median", "none"):
        mine = [r for r in rows if r["pruner"] == pruner]
        print(f"{pruner:6}: epochs {statistics.mean(r['epochs_trained'] for r in mine):.1f} (mean of {len(mine)}), "
              f"best val_loss {', '.join(format(r['best'], '.4f') for r in mine)}, "
              f"wall {statistics.mean(r['wall_s'] for r in mine):.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
