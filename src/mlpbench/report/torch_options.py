"""Torch's built-in optimizations, measured: the torch options study's runs (DVC stage
``torch_options``) as a table and plain sentences, each variant against eager float32 on its device.

The study's run file (``metrics/torch_options_run.json``) gives the run ids; every number comes from
MLflow. One sentence says that every other registered backend runs without these options.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import pandas as pd

from mlpbench import stats
from mlpbench.options import BACKENDS
from mlpbench.report import dataset
from mlpbench.report import format as fmt
from mlpbench.report.dataset import UNRECORDED, DataSet, MixedDatasetsError
from mlpbench.environment import LOAD_METRIC as LOAD
from mlpbench.report.render import Section
from mlpbench.report.runs import ReportError, column, load_runs
from mlpbench.torch_options.variants import (FIRST_EXTRA, NUMPY_RATIO, NUMPY_STEP, STEADY, STEP, STEP_RATIO,
                                            VARIANTS)

HEADING = "Torch's built-in optimizations, measured"
HEADERS = ("variant (device)", "optimizer", "seeds", "val acc", "test acc", "steady epoch",
           "vs eager float32 [95 % CI, seeds]", "step, timed in turn", "vs eager, steps [95 % CI, rounds]",
           "vs NumPy, steps [95 % CI, rounds]", "first-epoch extra", "load (1 min)")


def read_study(path: Path) -> dict:
    """The run file's ``runs`` (variant -> its first seed's run id), ``seed_runs`` (variant -> seed -> run id;
    the first seed alone for files written before seeds), ``skipped`` and ``setting``."""
    try:
        study = json.loads(Path(path).read_text())
        runs = study["runs"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ReportError(f"{path} is not the torch options study's run file ({err}); rerun "
                          "`dvc repro torch_options` (pipelines/torch_options.py)") from err
    if not runs or not all(isinstance(v, str) for v in runs.values()):
        raise ReportError(f"{path} names no runs; rerun `dvc repro torch_options`")
    seed_runs = study.get("seed_runs") or {name: {"0": run_id} for name, run_id in runs.items()}
    return {"runs": runs, "seed_runs": seed_runs, "skipped": study.get("skipped") or {},
            "setting": study.get("setting", "?")}


def variant_rows(runs: pd.DataFrame, ids: dict[str, str], seed_ids: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One row per variant in run order (its first seed's run), with over its seeds: ``val`` and ``test``
    (``stats.Estimate``), ``seeds``, and ``epoch_ratio``: its steady epoch over its baseline's, paired by seed."""
    by_id = runs.set_index("run_id")
    rows = by_id.loc[list(ids.values())].reset_index()

    def values(name: str, key: str) -> dict[str, float]:
        return {seed: float(by_id.loc[run_id, key]) for seed, run_id in seed_ids.get(name, {}).items()
                if run_id in by_id.index}

    out = []
    for name, (_, row) in zip(ids, rows.iterrows()):
        base = row["tags.baseline"]
        mine, theirs = values(name, STEADY), values(base, STEADY)
        shared = sorted(set(mine) & set(theirs))
        out.append({**row.to_dict(), "variant": name, "seeds": len(seed_ids.get(name, {})) or 1,
                    "val": stats.over_seeds(list(values(name, "final/val_acc").values()) or [row["final/val_acc"]]),
                    "test": stats.over_seeds(list(values(name, "test/acc").values()) or [row["test/acc"]]),
                    "epoch_ratio": stats.ratio([mine[s] for s in shared], [theirs[s] for s in shared])
                    if shared else None})
    return pd.DataFrame(out)


def step_ratio(r: pd.Series) -> stats.Estimate | None:
    """The variant's step time over its baseline's with the interval over the interleaved rounds."""
    return stats.Estimate.from_metrics(r, STEP_RATIO)


def step_ratio_numpy(r: pd.Series) -> str:
    """The variant's step time over NumPy's in words, "—" where the study did not time NumPy."""
    return relative(stats.Estimate.from_metrics(r, NUMPY_RATIO)).replace("takes", "took")


def relative(e: stats.Estimate | None) -> str:
    """A variant's time over eager float32's in words: "1.37× faster [1.32, 1.43]", "takes 1.21× as long [...]",
    "no clear difference (...)" where the interval holds 1; "—" without a ratio."""
    if e is None or not (e.mean and e.mean > 0):
        return fmt.MISSING
    spread = e.n >= 2 and e.low == e.low and e.low > 0
    if spread and e.low <= 1 <= e.high:
        return f"no clear difference: {fmt.times(e.mean, e.low, e.high)} the time"
    if e.mean < 1:
        return f"{fmt.times(1 / e.mean, *((1 / e.high, 1 / e.low) if spread else ()))} faster"
    return f"takes {fmt.times(e.mean, *((e.low, e.high) if spread else ()))} as long"


def first_extra(values: list[object]) -> list[str]:
    """The first epoch's extra time, one unit for the column; "—" where the study recorded 0 (it records no
    negative value: a first epoch no slower than a steady one)."""
    return fmt.seconds_column([v if isinstance(v, float) and v > 0 else float("nan") for v in values])


def table(rows: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    """One row per variant (torch's runs only: the options are torch's own); times in one unit per column."""
    steady, step = (fmt.seconds_column(list(rows[k])) for k in (STEADY, STEP))
    extra = first_extra(list(rows[FIRST_EXTRA]))
    torch_rows = []
    for i, (_, r) in enumerate(rows.iterrows()):
        base = r["variant"] == r["tags.baseline"]
        torch_rows.append([
            f"{r['tags.variant_label']} ({r['tags.backend_device']})", fmt.text(r.get("tags.backend_optimizer_impl")),
            str(r["seeds"]), fmt.estimate_pct(r["val"]), fmt.estimate_pct(r["test"]), steady[i],
            "baseline" if base else relative(r["epoch_ratio"]), step[i],
            "baseline" if base else relative(step_ratio(r)), relative(stats.Estimate.from_metrics(r, NUMPY_RATIO)),
            extra[i], _load(r.get(LOAD))])
    return pd.DataFrame(torch_rows, columns=list(HEADERS))


def run_refs(rows: pd.DataFrame, ui_url: str | None) -> str:
    """The MLflow run of each variant, one sentence (kept out of the table so that it fits a page)."""
    refs = [f"{r['tags.variant_label']} ({r['tags.backend_device']}) {fmt.run_ref(ui_url, r['experiment_id'], r['run_id'])}"
            for _, r in rows.iterrows()]
    return f"MLflow runs (first seed): {'; '.join(refs)}."


def other_backends() -> str | None:
    """One sentence for every registered backend but torch; None when torch is the only one."""
    others = [spec.short for name, spec in BACKENDS.items() if name != "torch"]
    if not others:
        return None
    names = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
    return (f"These options are torch's own: {names} {'has' if len(others) == 1 else 'have'} none of them (a run "
            "that sets torch.* with another backend is refused), so the table holds torch's runs only.")


COMPILE_FINDINGS = (
    "What was tried to make torch.compile pay on this CPU (benchmarks/bench_compile.py; its runs in "
    "benchmarks/results/compile.json and benchmarks/README.md): the model compiled as it was, with dynamic=False, "
    "with max-autotune and reduce-overhead, the whole step (loss, backward and optimizer included) and forward "
    "with loss. None was reliably faster than eager (1.1-1.3× its step time, timed in turn); the variant uses "
    "dynamic=False, the best of them, because by default an epoch's short last batch makes dynamo recompile a "
    "dynamic-shape graph that every later batch runs. The model compiles to one graph without breaks; the whole "
    "step breaks at loss.backward(). The profile shows why: the GEMMs stay MKL's calls as in eager, and Inductor's "
    "fused ReLU-dropout kernel still draws a random float per element, as bernoulli_ does, so the largest cost "
    "outside the GEMMs remains, while the compiled graphs add their own.")


def _load(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) and value == value else fmt.MISSING


def busy(rows: pd.DataFrame) -> str | None:
    """A warning when the load average exceeded the CPU cores while the variants trained."""
    loads = pd.to_numeric(column(rows, LOAD), errors="coerce")
    cores = pd.to_numeric(column(rows, "tags.cpu_count"), errors="coerce")
    if not (loads > cores).any():
        return None
    return (f"The machine was busy while the study ran (1-minute load average up to {loads.max():.1f} on "
            f"{cores.max():.0f} CPU cores): the epoch times share the CPUs with other work; the steps timed in turn "
            "are the fairer comparison, and a quiet machine may give other ratios.")


def verdict(ratio: stats.Estimate | None) -> str:
    """helped / hurt where the step ratio's interval lies below / above 1, else no clear difference."""
    if ratio is None or not ratio.high == ratio.high:
        return "cannot be judged (no interval)"
    if ratio.high < 1:
        return "helped"
    return "hurt" if ratio.low > 1 else "made no clear difference"


def sentence(r: pd.Series, base: pd.Series) -> str:
    """E.g. "bf16 autocast on cpu helped: a training step took 15.3 ms against 22.2 ms for eager float32
    (0.69× [0.66, 0.72], timed in turn), a steady epoch 0.80 s against 1.10 s (0.73×); validation ..."."""
    steps = step_ratio(r)
    text = (f"{r['tags.variant_label']} on {r['tags.backend_device']} {verdict(steps)}: a training "
            f"step took {fmt.seconds(r[STEP])} against {fmt.seconds(base[STEP])} for eager float32 "
            f"({relative(steps)}, timed in turn), a steady epoch {fmt.seconds(r[STEADY])} against "
            f"{fmt.seconds(base[STEADY])} ({relative(r['epoch_ratio'])}); validation accuracy "
            f"{fmt.estimate_pct(r['val'])} against {fmt.estimate_pct(base['val'])}")
    diff = r["val"].mean - base["val"].mean
    text += (f" ({fmt.points(diff)}{', one seed: no interval' if r['seeds'] < 2 else ''}).")
    numpy = stats.Estimate.from_metrics(r, NUMPY_RATIO)
    if numpy is not None and r.get(NUMPY_STEP) == r.get(NUMPY_STEP):
        text += (f" Against NumPy's step ({fmt.seconds(r[NUMPY_STEP])}, timed in turn) it "
                 f"{step_ratio_numpy(r)}; eager float32 {step_ratio_numpy(base)}.")
    if r.get("params.torch.compile") == "True":
        text += f" Its first epoch took {fmt.seconds(r[FIRST_EXTRA])} longer than a steady one: compilation."
    return text


def _label(name: str) -> str:
    """E.g. "bf16 autocast on cuda"; the name itself if it is not a registered variant."""
    return f"{VARIANTS[name].label} on {VARIANTS[name].device}" if name in VARIANTS else name


def study_dataset(runs: pd.DataFrame, run_file: Path, data: DataSet | None) -> DataSet:
    """The study's data set; ``MixedDatasetsError`` when it is not ``data``, the compared runs' (None: any)."""
    found = dataset.of(runs, f"rerun `dvc repro torch_options` ({run_file})")
    if data is not None and found.name != data.name:
        raise MixedDatasetsError(f"the torch options study {run_file} trained on {found.name or UNRECORDED}, the "
                                 f"compared runs on {data.name or UNRECORDED}; rerun `dvc repro torch_options` with "
                                 "the compared runs' data set, or pass --torch-options a study of that data set")
    return found


def section(uri: str, run_file: Path, ui_url: str | None = None, local: Mapping[str, str] | None = None,
            data: DataSet | None = None) -> list[Section]:
    """The section from the study's run file; nothing when the file does not exist.

    local: run id -> its id in the store, for runs restored from an export (``report.runs.restore_runs``).
    data: the data set of the report's other runs; a study of another one raises ``MixedDatasetsError``.
    """
    if not Path(run_file).is_file():
        return []
    study = read_study(run_file)
    local = local or {}
    ids = {variant: local.get(run_id, run_id) for variant, run_id in study["runs"].items()}
    seed_ids = {variant: {seed: local.get(run_id, run_id) for seed, run_id in per_seed.items()}
                for variant, per_seed in study["seed_runs"].items()}
    every = list(dict.fromkeys([*ids.values(), *(r for per_seed in seed_ids.values() for r in per_seed.values())]))
    runs = load_runs(uri, every, sources=[run_file])
    title = study_dataset(runs, run_file, data).title
    rows = variant_rows(runs, ids, seed_ids)
    by_variant = rows.set_index("variant")
    bullets = [warning] if (warning := busy(rows)) else []
    bullets += [sentence(r, by_variant.loc[r["tags.baseline"]]) for _, r in rows.iterrows()
                if r["variant"] != r["tags.baseline"] and r["tags.baseline"] in by_variant.index]
    bullets += [f"{_label(name)} did not run: {why}." for name, why in study["skipped"].items()]
    bullets += [COMPILE_FINDINGS] if "compile" in ids else []
    epochs = fmt.text(rows["params.train.epochs"].iloc[0])
    seeds = int(rows["seeds"].max())
    text = (f"The torch backend trained on {title} with each of torch's own optimizations against eager float32: same "
            f"config and {'seed' if seeds == 1 else f'{seeds} seeds'} (per seed the same initial weights, batches and "
            f"dropout masks), {epochs} epochs each "
            f"({study['setting']} setting of `dvc repro torch_options`), all in one process. 'PyTorch tuned' is not one "
            "of torch's switches but the step a PyTorch engineer would write for speed with the same mathematics "
            "(src/mlpbench/torch_options/tuned.py: two-bit dropout masks, ReLU and dropout in one mask, the first "
            "layer's bias in its GEMMs, no autograd graph, one flat parameter for a fused optimizer); NumPy's step "
            "is timed in turn with the variants as the reference.",)
    notes = ("A steady epoch is the median over the epochs after the first (training steps only); 'vs eager "
             "float32' compares it with eager float32's on the same device and seed (with one seed, no interval). "
             "After training, every variant's step is timed on the same batch, the variants in turn over seven "
             "rounds, each timing after a pause in which the threads of the one before stop spinning: a change "
             "of the machine's load slows them alike, so "
             "'vs eager, steps', the geometric mean of the rounds' ratios with its 95 % interval, is the ratio "
             "that tells whether a variant helped; where the interval holds 1.00× it made no clear difference. "
             "Accuracies are means over the seeds (± their 95 % interval with two or more). The first-"
             "epoch extra is how much longer the first epoch (steps and evaluation) took than the later ones: "
             "torch.compile's compilation, which a warm compile cache on the machine shortens; — where the first "
             "epoch was no slower than the later ones (the study records 0 then, not by how much). The variants "
             "train one after another, so a machine whose load (the 1-minute load average as each variant's "
             "training ended, against its CPU cores) changed between them shifts the epoch ratios.",
             *filter(None, [other_backends()]), run_refs(rows, ui_url))
    return [Section(HEADING, text=text, table=table(rows, ui_url), notes=notes, bullets=tuple(bullets))]
