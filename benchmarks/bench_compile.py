"""torch.compile on the default net's training step, attempt by attempt, against eager in one process.

    python benchmarks/bench_compile.py                       # every attempt, results as JSON on stdout
    python benchmarks/bench_compile.py --json benchmarks/results/compile.json --rounds 7

The default configuration (784-512-256-10, ReLU, dropout 0.25, Nesterov SGD, batch 768) on random data of
MNIST's shape, float32 on the CPU. Each attempt is a way a PyTorch engineer would compile the step:

- ``module``: ``torch.compile(model)``, the project's ``compile`` variant until now;
- ``module_static``: the same with ``dynamic=False`` (the short last batch of an epoch then compiles its own graph
  instead of a dynamic-shape one);
- ``module_max_autotune``: ``mode="max-autotune-no-cudagraphs"``, ``dynamic=False`` (Inductor benchmarks GEMM
  choices);
- ``module_reduce_overhead``: ``mode="reduce-overhead"``, ``dynamic=False``;
- ``step``: forward, loss, backward and the optimizer's step in one compiled function (``dynamic=False``);
- ``forward_loss``: forward and loss compiled together, backward and optimizer eager (``dynamic=False``).

For each: the first call's seconds (compilation), the step's median seconds timed in turn with eager
(``mlpbench.training.speed.interleaved``, ABAB...) and their ratio per round, where the step's time goes
(torch.profiler over 10 steps, in the op groups of ``mlpbench.training.attribution``, and its largest operators),
``torch._dynamo.explain``'s graph count, graph breaks and their reasons, and how many graphs a short last batch
(100 rows) adds (recompiles).
It measures; it does not assert. Results in benchmarks/results/compile.json (see the README).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bench_attribution import emit  # noqa: E402  (benchmarks/, the script's own folder)
from mlpbench.backends.torch_backend import MLP  # noqa: E402
from mlpbench.backends.torch_profile import op_attribution  # noqa: E402
from mlpbench.training.speed import interleaved  # noqa: E402

SIZES, BATCH, SHORT = (784, (512, 256), 10), 768, 100


def make(seed: int = 0):
    torch.manual_seed(seed)
    model = MLP(SIZES[0], SIZES[1], SIZES[2], dropout=0.25)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, nesterov=True)
    return model, opt, nn.CrossEntropyLoss()


def batch(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(rows, SIZES[0], generator=gen), torch.randint(0, SIZES[2], (rows,), generator=gen)


def eager_step(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def attempts() -> dict:
    """Attempt name -> (model, optimizer, step(x, y), what explain should look at)."""
    out = {}
    model, opt, loss_fn = make()
    out["eager"] = (eager_step(model, opt, loss_fn), None)
    for name, kwargs in (("module", {}), ("module_static", {"dynamic": False}),
                         ("module_max_autotune", {"dynamic": False, "mode": "max-autotune-no-cudagraphs"}),
                         ("module_reduce_overhead", {"dynamic": False, "mode": "reduce-overhead"})):
        model, opt, loss_fn = make()
        compiled = torch.compile(model, **kwargs)
        out[name] = (eager_step(compiled, opt, loss_fn), (model, kwargs))
    model, opt, loss_fn = make()
    whole = eager_step(model, opt, loss_fn)
    out["step"] = (torch.compile(whole, dynamic=False), (whole, {"dynamic": False}))
    model, opt, loss_fn = make()

    def forward_loss(x, y):
        return loss_fn(model(x), y)

    compiled_fl = torch.compile(forward_loss, dynamic=False)

    def split_step(x, y):
        opt.zero_grad()
        loss = compiled_fl(x, y)
        loss.backward()
        opt.step()
        return loss
    out["forward_loss"] = (split_step, (forward_loss, {"dynamic": False}))
    return out


def explain(target, args) -> dict:
    fn, _ = target
    torch._dynamo.reset()
    result = torch._dynamo.explain(fn)(*args)
    return {"graphs": result.graph_count, "graph_breaks": result.graph_break_count,
            "break_reasons": sorted({str(b.reason).splitlines()[0] for b in result.break_reasons}),
            "ops_per_graph": [len(ops) for ops in result.ops_per_graph]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="attempt names (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    x, y = batch(BATCH)
    xs, ys = batch(SHORT, seed=1)
    found = attempts()
    names = [n for n in found if n == "eager" or not args.only or n in args.only]
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": BATCH, "attempts": {}}
    calls = {}
    for name in names:
        step = found[name][0]
        start = time.perf_counter()
        step(x, y)
        first = time.perf_counter() - start
        before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        step(xs, ys)  # the short last batch of an epoch
        step(x, y)
        results["attempts"][name] = {"first_call_s": first,
                                     "graphs_added_by_short_batch": torch._dynamo.utils.counters["stats"]
                                     ["unique_graphs"] - before}
        calls[name] = (lambda s: lambda: s(x, y))(step)
        print(f"{name}: first call {first:.1f} s", file=sys.stderr, flush=True)
    times = interleaved(calls, args.rounds, min_time_s=0.2)
    for name in names:
        mine = times[name]
        ratios = [a / b for a, b in zip(mine, times["eager"])]
        results["attempts"][name] |= {"step_ms_median": 1e3 * statistics.median(mine), "step_ms_min": 1e3 * min(mine),
                                      "step_ms_max": 1e3 * max(mine), "over_eager_median": statistics.median(ratios),
                                      "over_eager_min": min(ratios), "over_eager_max": max(ratios)}
    for name in names:  # where each attempt's step spends its time: torch.profiler, grouped as the runs do
        profile = op_attribution(calls[name], 10)
        results["attempts"][name]["profile_ms"] = {g: 1e3 * s for g, s in profile.group_s.items()}
        results["attempts"][name]["top_ops"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in op.items()}
                                                for op in profile.ops[:12]]
    for name in names:
        target = found[name][1]
        if target is not None:
            fn, kwargs = target
            try:
                results["attempts"][name]["explain"] = explain((fn, kwargs), (x,) if isinstance(fn, nn.Module)
                                                               else (x, y))
            except Exception as err:  # explain is best effort: record why it could not run
                results["attempts"][name]["explain"] = {"error": f"{type(err).__name__}: {err}"[:300]}
    emit(results, args.json)


if __name__ == "__main__":
    main()
