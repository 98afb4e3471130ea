"""The default training step op by op for both backends, and PyTorch as commonly written against PyTorch tuned
and NumPy, in one process.

    python benchmarks/bench_attribution.py [OVERRIDE ...] [--rounds 15] [--json benchmarks/results/attribution.json]

On the default configuration (784-512-256-10, ReLU, dropout 0.25, Nesterov SGD, batch 768, float32, CPU) with
random data of MNIST's shape:

1. ``mlpbench.training.attribution.attribute`` for NumPy, PyTorch eager (what every default run logs as
   ``attribution/<group>_ms``) and PyTorch tuned: ms per step per op group, their sum and the plain step timed in
   turn with them;
2. training steps of PyTorch eager, PyTorch tuned (``torch_options.tuned``), PyTorch eager with
   ``torch.compile`` of the model and NumPy timed in turn (ABAB..., ``training.speed.interleaved``), each
   round's ratios to eager and to NumPy, as medians with their range.

It measures; it does not assert. The last measured results are in the README.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


OVERRIDES: list[str] = []  # Hydra overrides of conf/ from the command line, for every backend built


def config(backend: str, **torch_options):
    from mlpbench.compose import compose
    from mlpbench.config.load import load

    cfg = load(compose(ROOT, [f"backend={backend}", *OVERRIDES]))
    return dataclasses.replace(cfg, torch=dataclasses.replace(cfg.torch, **torch_options))


def build(backend: str, tuned: bool = False, **torch_options):
    from mlpbench.backends.base import initial_params

    cfg = config(backend, **torch_options)
    params = initial_params(cfg, 784, 10)
    if tuned:
        from mlpbench.torch_options.tuned import TunedTorchBackend
        return TunedTorchBackend(cfg, params)
    from mlpbench.backends.build import build_backend
    return build_backend(cfg, 784, 10)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main() -> None:
    from mlpbench.training.attribution import attribute
    from mlpbench.training.speed import interleaved

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/, e.g. train.threads=1")
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds of the steps (default 15)")
    parser.add_argument("--attribution-rounds", type=int, default=21)
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    OVERRIDES.extend(args.overrides)
    rng = np.random.default_rng(0)
    batch = config("numpy").train.batch_size
    x, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    out: dict = {"batch": batch, "overrides": args.overrides, "attribution": {}}
    for name, make in (("numpy", lambda: build("numpy")), ("torch", lambda: build("torch")),
                       ("tuned", lambda: build("torch", tuned=True, optimizer_impl="fused"))):
        a = attribute(make(), x, y, batch, steps=3, rounds=args.attribution_rounds)
        out["attribution"][name] = {"group_ms": a.group_ms, "sum_ms": a.total_ms, "step_ms": a.step_ms,
                                    "coverage": a.coverage, "top_ops": a.ops[:15]}
        print(f"{name}: step {a.step_ms:.2f} ms, groups sum {a.total_ms:.2f} ms ({a.coverage:.3f}): "
              + ", ".join(f"{g} {v:.2f}" for g, v in a.group_ms.items()), file=sys.stderr, flush=True)
    backends = {"eager": build("torch"), "tuned": build("torch", tuned=True, optimizer_impl="fused"),
                "numpy": build("numpy")}
    if not args.skip_compile:
        backends["compile"] = build("torch", compile=True)
    every = np.arange(batch)
    calls = {}
    for name, b in backends.items():
        data = b.load(x, y)
        calls[name] = (lambda b, data: lambda: b.train_step(data, every))(b, data)
    times = interleaved(calls, args.rounds, min_time_s=0.1)
    out["steps_ms"] = {name: spread([1e3 * t for t in ts]) for name, ts in times.items()}
    out["over_eager"] = {n: spread([a / b for a, b in zip(ts, times["eager"])]) for n, ts in times.items()}
    out["over_numpy"] = {n: spread([a / b for a, b in zip(ts, times["numpy"])]) for n, ts in times.items()}
    emit(out, args.json)


def emit(results: dict, path: Path | None) -> None:
    """The results as JSON on stdout, and in ``path`` when given."""
    text = json.dumps(results, indent=2)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


if __name__ == "__main__":
    main()
