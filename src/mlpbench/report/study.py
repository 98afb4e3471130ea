"""The report of an Optuna study (``pipelines/report.py --study NAME``): its trial counts by state, the
epochs pruning saved, the optimisation history (table and figure), Optuna's parameter importances, and the
best trial as a ready preset (``conf/experiment/``-style YAML). Every number comes from the study's storage.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from mlpbench.report.runs import ReportError
from mlpbench.search.study import EPOCHS_ATTR, SPACE_ATTR, best, counts, epochs_of, open_storage, shown


@dataclass(frozen=True)
class StudyFiles:
    markdown: Path
    figure: Path
    preset: Path | None


def load(spec: str, name: str) -> optuna.Study:
    if "://" not in spec and not Path(spec).is_file():
        raise ReportError(f"no study storage at {spec}; pass --storage (the search's hydra.sweeper.storage)")
    try:
        return optuna.load_study(study_name=name, storage=open_storage(spec))
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(spec), include_best_trial=False)]
        raise ReportError(f"no study {name!r} in {shown(spec)}; it holds: {', '.join(names) or 'none'}") from None


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importances over the COMPLETE trials; empty with fewer than two, or one parameter."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2 or len(study.best_trial.params) < 2:
        return {}
    try:
        return optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError):  # e.g. every trial has the same value
        return {}


def preset(study: optuna.Study, experiment: str) -> str | None:
    """The best trial's params as an experiment preset (``# @package _global_`` YAML), or None."""
    top = best(study)
    if top is None:
        return None
    tree: dict = {"preset": experiment}
    for key, value in top["params"].items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value) if isinstance(value, str) else value
    head = (f"# @package _global_\n# The best trial ({top['number']}, value {top['value']:.6g}) of Optuna study "
            f"{study.study_name}.\n#   python pipelines/train.py experiment={experiment}\n")
    return head + yaml.safe_dump(tree, sort_keys=False)


def history_figure(study: optuna.Study, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {TrialState.COMPLETE: "tab:blue", TrialState.PRUNED: "tab:orange"}
    done = [t for t in study.trials if t.state in colours and t.value is not None]
    for state, colour in colours.items():
        pts = [(t.number, t.value) for t in done if t.state == state]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=colour, label=state.name.lower(), s=18)
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    running = [pick(t.value for t in complete if t.number <= n.number) for n in complete]
    ax.step([t.number for t in complete], running, where="post", c="black", label="best so far")
    ax.set(xlabel="trial", ylabel="objective (pruned: its last reported epoch)", title=f"study {study.study_name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(study: optuna.Study, spec: str, imp: dict[str, float], figure: str, preset_file: str) -> str:
    n, top, ep = counts(study), best(study), epochs_of(study, int(study.user_attrs.get(EPOCHS_ATTR, 0)))
    lines = [f"# Optuna study {study.study_name}", "",
             f"Storage {shown(spec)}; {study.direction.name.lower()}; space {study.user_attrs.get(SPACE_ATTR, '?')}.", "",
             "| complete | pruned | failed | running | epochs trained | epochs saved by pruning |", "|---:|---:|---:|---:|---:|---:|",
             f"| {n.get('COMPLETE', 0)} | {n.get('PRUNED', 0)} | {n.get('FAIL', 0)} | {n.get('RUNNING', 0)} | "
             f"{ep['epochs_trained']} | {ep['epochs_saved']} |", ""]
    if top:
        lines += [f"Best: trial {top['number']}, value {top['value']:.6g}, params {top['params']}; "
                  f"as a preset: `{preset_file}`.", ""]
    lines += ["## Parameter importances (Optuna, fANOVA)", ""]
    lines += (["| parameter | importance |", "|---|---:|", *[f"| {k} | {v:.3f} |" for k, v in imp.items()], ""] if imp
              else ["Not computed: it needs two or more COMPLETE trials whose values differ, over two or more "
                    "parameters.", ""])
    lines += ["## Optimisation history", "", f"![history]({figure})", "",
              "| trial | state | value | epochs | params |", "|---:|---|---:|---:|---|"]
    for t in study.trials:
        value = "" if t.value is None or not math.isfinite(t.value) else f"{t.value:.4f}"
        lines.append(f"| {t.number} | {t.state.name} | {value} | {len(t.intermediate_values)} | {t.params} |")
    return "\n".join(lines) + "\n"


def build_study(spec: str, name: str, out: Path) -> StudyFiles:
    """Write ``study_<name>.md``, its history figure and ``study_<name>_best.yaml`` into ``out``."""
    study = load(spec, name)
    out.mkdir(parents=True, exist_ok=True)
    stem = "study_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    figure = history_figure(study, out / f"{stem}_history.png")
    text = preset(study, f"search_{name}")
    preset_path = out / f"{stem}_best.yaml" if text else None
    if text:
        preset_path.write_text(text)
    md = out / f"{stem}.md"
    md.write_text(markdown(study, spec, importances(study), figure.name, preset_path.name if text else ""))
    return StudyFiles(md, figure, preset_path)
