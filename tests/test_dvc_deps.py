"""dvc.yaml's deps follow the imports: every project module a stage's script can reach is declared.

The reachable modules are derived from the code (every ``import`` statement, including those inside
functions, followed through ``src/mlpbench``), not listed by hand, so a new import that dvc.yaml
misses fails here instead of leaving `dvc status` "up to date" over stale results.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "mlpbench"


def module_file(name: str) -> Path | None:
    """The file of project module ``name`` (e.g. mlpbench.data.split), or None if not a project module."""
    if name.split(".")[0] != PACKAGE:
        return None
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Project modules named by the import statements of one file (absolute and relative)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0] \
        if path.is_relative_to(SRC) else ""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # from pkg import submodule
    found = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            if module_file(".".join(parts[:i])):
                found.add(".".join(parts[:i]))
    return found


def dynamic_imports() -> dict[Path, list[Path]]:
    """Imports no import statement shows: ``backends.build`` imports each registered backend by name."""
    from mlpbench.backends import BACKENDS

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


def test_the_finder_follows_imports_inside_functions() -> None:
    # backends/__init__.py imports its backend modules only inside functions; they must be found.
    files = reachable_files(ROOT / "pipelines" / "train.py")
    assert SRC / "mlpbench" / "backends" / "torch_backend.py" in files
    assert SRC / "mlpbench" / "backends" / "numpy_nn" / "optim.py" in files
    assert SRC / "mlpbench" / "report" / "__init__.py" not in files
