"""dvc.yaml's deps follow the imports: every project module a stage's script can reach is declared.

The reachable modules are derived from the code (every ``import`` statement, including those inside
functions, followed through ``src/mlpbench``), not listed by hand, so a new import that dvc.yaml
misses fails here instead of leaving `dvc status` "up to date" over stale results.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imports import SRC, import_targets, module_file, packages_above

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Project modules one file imports, with the packages above them (importing a.b.c runs a/__init__ and
    a/b/__init__ too)."""
    return {m for target in import_targets(path) for m in (*packages_above(target), target) if module_file(m)}


def dynamic_imports() -> dict[Path, list[Path]]:
    """Imports no import statement shows: ``backends.build`` imports each registered backend by name."""
    from mlpbench.options import BACKENDS

    return {SRC / "mlpbench" / "backends" / "build.py": [module_file(spec.module) for _, spec in BACKENDS.items()]}


def reachable_files(script: Path) -> set[Path]:
    """Every project file that running ``script`` can import, the script itself included."""
    extra = dynamic_imports()
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [module_file(m) for m in imported_modules(path)] + extra.get(path, [])
    return seen


def stage_scripts(stage: dict) -> list[Path]:
    return [ROOT / word for word in stage["cmd"].split() if word.startswith("pipelines/") and word.endswith(".py")]


def declared(stage: dict) -> list[Path]:
    return [ROOT / dep for dep in stage.get("deps", []) if "${" not in dep]


def covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in deps)


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_declared_dependency(name: str) -> None:
    stage = STAGES[name]
    scripts = stage_scripts(stage)
    assert scripts, f"stage {name} runs no pipelines/ script"
    deps = declared(stage)
    missing = sorted(str(p.relative_to(ROOT)) for s in scripts for p in reachable_files(s) if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {name!r} runs these files but does not list them in deps: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_project_module_a_stage_lists_is_one_it_runs(name: str) -> None:
    """A module listed but never imported reruns the stage for nothing when it changes."""
    stage = STAGES[name]
    files = {p for s in stage_scripts(stage) for p in reachable_files(s)}
    listed = [dep for dep in declared(stage) if dep.is_relative_to(SRC)]
    stale = [str(dep.relative_to(ROOT)) for dep in listed if not any(covered(f, [dep]) for f in files)]
    assert not stale, f"dvc.yaml stage {name!r} lists modules its script never imports: {stale}; remove them from deps"


def test_the_finder_follows_imports_inside_functions() -> None:
    # backends/__init__.py imports its backend modules only inside functions; they must be found.
    files = reachable_files(ROOT / "pipelines" / "train.py")
    assert SRC / "mlpbench" / "backends" / "torch_backend.py" in files
    assert SRC / "mlpbench" / "backends" / "numpy_nn" / "optim.py" in files
    assert SRC / "mlpbench" / "report" / "__init__.py" not in files
