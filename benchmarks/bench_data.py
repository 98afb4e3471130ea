"""Wall time of the data stages' work on the real MNIST: normalise (gunzip, parse and scale the
70,000 images, write .npy) then split (stratified 48,000/12,000 index files).

Reads the four .gz files straight from the offline mirror folder (``--mirror``, else
``MLPBENCH_DATA_MIRROR``, else ``../shared/data/mnist`` beside the project) and writes into a fresh
temporary folder per repeat. Imports happen before timing. Prints best and median of the repeats
and PASS/FAIL against the target (on the median); it measures, it does not assert.

Usage: python benchmarks/bench_data.py [--mirror DIR] [--repeats 3] [--target 2.0]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlpbench import config
from mlpbench.compose import compose
from mlpbench.config.data import load_data
from mlpbench.data.normalise import normalise, raw_names
from mlpbench.data.split import split

ROOT = Path(__file__).resolve().parents[1]
MIRROR_ENV = "MLPBENCH_DATA_MIRROR"


def time_once(mirror: Path, data: config.DataConfig) -> tuple[float, float, int]:
    """(normalise seconds, split seconds, images written) for one run into a fresh temp folder."""
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        processed, split_dir = Path(tmp) / "processed", Path(tmp) / "split"
        start = time.perf_counter()
        manifest = normalise(mirror, processed, data)
        middle = time.perf_counter()
        split(processed / "train_labels.npy", split_dir, data.split.val_fraction, data.split.seed, data.num_classes)
        end = time.perf_counter()
    images = manifest["train_images"]["shape"][0] + manifest["test_images"]["shape"][0]
    return middle - start, end - middle, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get(MIRROR_ENV) or str(ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror),
                        help=f"folder with the four MNIST .gz files (default: ${MIRROR_ENV} or %(default)s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=2.0, help="seconds for normalise + split")
    args = parser.parse_args()

    data = load_data(compose(ROOT, ["data=mnist"]))
    missing = [n for pair in raw_names(data).values() for n in pair if not (args.mirror / n).is_file()]
    if missing:
        print(f"{args.mirror}: missing {', '.join(missing)}; pass --mirror or set {MIRROR_ENV}",
              file=sys.stderr)
        return 2

    runs = [time_once(args.mirror, data) for _ in range(args.repeats)]
    images = runs[0][2]
    totals = [n + s for n, s, _ in runs]
    print(f"bench_data: normalise + split of {images:,} images from {args.mirror}")
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, {args.repeats} repeats\n")
    print(f"{'stage':<12}{'best s':>9}{'median s':>10}")
    for name, values in (("normalise", [r[0] for r in runs]), ("split", [r[1] for r in runs]),
                         ("total", totals)):
        print(f"{name:<12}{min(values):>9.3f}{statistics.median(values):>10.3f}")
    median = statistics.median(totals)
    verdict = "PASS" if median <= args.target else "FAIL"
    print(f"\n{verdict}: median {median:.3f} s vs target <= {args.target:g} s "
          f"({images / median:,.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
