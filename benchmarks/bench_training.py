"""Training speed, accuracy and memory of both backends on real MNIST, side by side in one run.

    python benchmarks/bench_training.py                      # the default configuration
    python benchmarks/bench_training.py experiment=tutorial  # any Hydra overrides of conf/

For each backend a fresh subprocess trains the composed configuration (so peak memory is its own)
and reports validation/test accuracy, training time, per-epoch times and peak RSS. Then single
epochs of NumPy, torch and the "GEMM floor" (only the matrix multiplications a NumPy epoch
performs: forward, and backward without the first layer's input gradient) are timed in turn,
each in a fresh process after a warm-up epoch, for several rounds; the speed ratios are the
medians of those interleaved measurements. Targets (issue "Backends"): both backends >= 98.0 % val and
test accuracy, <= 30 s of training each, val gap <= 0.2 points, NumPy epoch <= 0.8 x torch epoch,
NumPy epoch <= 1.3 x GEMM floor, peak memory <= 1.5 GB. Prints PASS/FAIL per target; it measures,
it does not assert.

Data: ``data/processed`` + ``data/split`` if `dvc repro split` has run, else they are built in a
temporary folder from the offline mirror (``MLPBENCH_DATA_MIRROR`` or ``../shared/data/mnist``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def prepare_data(tmp: Path) -> tuple[Path, Path]:
    processed, split_dir = ROOT / "data" / "processed", ROOT / "data" / "split"
    if (processed / "train_images.npy").is_file() and (split_dir / "train_idx.npy").is_file():
        return processed, split_dir
    from mlpbench.data.normalise import normalise
    from mlpbench.data.split import split

    mirror = Path(os.environ.get("MLPBENCH_DATA_MIRROR") or ROOT.parent / "shared" / "data" / "mnist")
    if not (mirror / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"no data: run `dvc repro split` or set MLPBENCH_DATA_MIRROR (looked in {mirror})")
    normalise(mirror, tmp / "processed")
    split(tmp / "processed" / "train_labels.npy", tmp / "split", 0.2, 42)
    return tmp / "processed", tmp / "split"


def worker(backend: str, processed: Path, split_dir: Path, overrides: list[str]) -> dict:
    """Train one backend (in this process) and return its measurements."""
    from mlpbench.backends import build_backend
    from mlpbench.compose import compose
    from mlpbench.config import run_config_from_dict
    from mlpbench.data.loading import load_dataset
    from mlpbench.training import fit

    cfg = run_config_from_dict(compose(ROOT, [*overrides, f"backend={backend}"]))
    data = load_dataset(processed, split_dir, cfg.train.dtype)
    result = fit(build_backend(cfg), data, cfg.train)
    epochs = [m.epoch_time for m in result.history]
    return {
        "backend": backend, "val_acc": result.history[-1].val_acc, "test_acc": result.test_acc,
        "train_acc": result.history[-1].train_acc, "total_s": result.total_time, "train_s": sum(epochs),
        "epoch_s": epochs, "epoch_median_s": statistics.median(epochs),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batch_size": cfg.train.batch_size, "hidden_sizes": list(cfg.model.hidden_sizes),
        "dtype": cfg.train.dtype, "n_train": len(data.y_train), "threads": cfg.train.threads,
    }


def gemm_epoch(x: np.ndarray, batch: int, hidden: list[int]) -> Callable[[], None]:
    """One epoch of only the matrix multiplications a NumPy epoch performs (preallocated outputs)."""
    rng = np.random.default_rng(0)
    sizes = [x.shape[1], *hidden, 10]
    ws = [rng.standard_normal((a, b)).astype(x.dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [np.empty((batch, s), x.dtype) for s in sizes]
    grads = [np.empty((batch, s), x.dtype) for s in sizes]
    dws = [np.empty_like(w) for w in ws]

    def epoch() -> None:
        for start in range(0, len(x) - batch + 1, batch):
            acts[0] = x[start : start + batch]
            for i, w in enumerate(ws):
                np.matmul(acts[i], w, out=acts[i + 1])
            grads[-1][...] = acts[-1]
            for i in reversed(range(len(ws))):
                np.matmul(acts[i].T, grads[i + 1], out=dws[i])
                if i > 0:
                    np.matmul(grads[i + 1], ws[i].T, out=grads[i])

    return epoch


def time_epoch(kind: str, processed: Path, split_dir: Path, overrides: list[str]) -> float:
    """Seconds of one epoch of ``kind`` (numpy, torch or gemm_floor), after one warm-up epoch."""
    from mlpbench.backends import build_backend
    from mlpbench.compose import compose
    from mlpbench.config import run_config_from_dict
    from mlpbench.data.loading import load_dataset
    from mlpbench.training.engine import train_epoch

    backend_name = "numpy" if kind == "gemm_floor" else kind
    cfg = run_config_from_dict(compose(ROOT, [*overrides, f"backend={backend_name}"]))
    data = load_dataset(processed, split_dir, cfg.train.dtype)
    if kind == "gemm_floor":
        epoch = gemm_epoch(data.x_train, cfg.train.batch_size, list(cfg.model.hidden_sizes))
    else:
        backend, rng = build_backend(cfg), np.random.default_rng(cfg.train.seed)
        handle = backend.load(data.x_train, data.y_train)
        epoch = lambda: train_epoch(backend, handle, len(data.y_train), cfg.train, rng, 1, None)  # noqa: E731
    epoch()
    t0 = time.perf_counter()
    epoch()
    return time.perf_counter() - t0


def interleaved_epochs(processed: Path, split_dir: Path, overrides: list[str], rounds: int) -> dict:
    """Median epoch seconds of numpy, torch and the GEMM floor, measured in turn.

    Each measurement is a fresh process (no thread pools left over from the other library), and
    the three alternate within every round, so the ratios hold when the machine's speed drifts.
    """
    times: dict[str, list[float]] = {"numpy": [], "torch": [], "gemm_floor": []}
    for _ in range(rounds):
        for kind in times:
            out = subprocess.run([sys.executable, __file__, *overrides, "--time-epoch", kind, "--data",
                                  str(processed), str(split_dir)], check=True, capture_output=True, text=True)
            times[kind].append(float(out.stdout.strip().splitlines()[-1]))
    return {kind: statistics.median(t) for kind, t in times.items()} | {"rounds": rounds}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: dict[str, dict], epochs: dict) -> dict:
    npy, trc = results["numpy"], results["torch"]
    ratio_torch = epochs["numpy"] / epochs["torch"]
    ratio_floor = epochs["numpy"] / epochs["gemm_floor"]
    gap = abs(npy["val_acc"] - trc["val_acc"]) * 100
    print(f"{'backend':8} {'val acc':>8} {'test acc':>8} {'train s':>8} {'epoch s (median)':>17} {'peak MB':>8}")
    for r in (npy, trc):
        print(f"{r['backend']:8} {r['val_acc']:8.4f} {r['test_acc']:8.4f} {r['train_s']:8.2f} "
              f"{r['epoch_median_s']:17.3f} {r['peak_rss_mb']:8.0f}")
    print(f"interleaved, median of {epochs['rounds']} rounds: numpy {epochs['numpy']:.3f} s/epoch, "
          f"torch {epochs['torch']:.3f} s/epoch, GEMM floor {epochs['gemm_floor']:.3f} s/epoch")
    checks = [
        ("val acc >= 98.0 % (both)", min(npy["val_acc"], trc["val_acc"]) >= 0.98),
        ("test acc >= 98.0 % (both)", min(npy["test_acc"], trc["test_acc"]) >= 0.98),
        ("training <= 30 s (each)", max(npy["total_s"], trc["total_s"]) <= 30),
        (f"val gap {gap:.2f} points <= 0.2", gap <= 0.2),
        (f"numpy/torch epoch {ratio_torch:.2f} <= 0.8", ratio_torch <= 0.8),
        (f"numpy/GEMM floor {ratio_floor:.2f} <= 1.3", ratio_floor <= 1.3),
        ("peak memory <= 1.5 GB (each)", max(npy["peak_rss_mb"], trc["peak_rss_mb"]) <= 1536),
    ]
    for name, ok in checks:
        print(f"  {verdict(ok)}  {name}")
    return {"results": results, "interleaved_epoch_s": epochs, "numpy_over_torch": ratio_torch,
            "numpy_over_gemm_floor": ratio_floor, "val_gap_points": gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/, e.g. train.epochs=5")
    parser.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--time-epoch", choices=["numpy", "torch", "gemm_floor"], help=argparse.SUPPRESS)
    parser.add_argument("--data", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, *args.data, args.overrides)))
        return
    if args.time_epoch:
        print(time_epoch(args.time_epoch, *args.data, args.overrides))
        return
    with tempfile.TemporaryDirectory() as tmp:
        processed, split_dir = prepare_data(Path(tmp))
        results = {}
        for backend in ("numpy", "torch"):
            out = subprocess.run([sys.executable, __file__, *args.overrides, "--worker", backend, "--data",
                                  str(processed), str(split_dir)], check=True, capture_output=True, text=True)
            results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
        epochs = interleaved_epochs(processed, split_dir, args.overrides, args.rounds)
    summary = report(results, epochs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
