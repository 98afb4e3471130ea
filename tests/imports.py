"""The project's imports read from its source with ``ast`` (nothing is imported).

Every import statement counts: at module level, inside functions and under ``TYPE_CHECKING``.
Used by test_dvc_deps (the files a stage's script can reach) and test_import_circles (no module
reaches itself).
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "mlpbench"


def module_file(name: str, src: Path = SRC, package: str = PACKAGE) -> Path | None:
    """The file of project module ``name`` (e.g. mlpbench.data.split), or None if not a project module."""
    if name.split(".")[0] != package:
        return None
    base = src.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_name(path: Path, src: Path = SRC) -> str:
    """``src/mlpbench/data/split.py`` -> ``mlpbench.data.split``; a package's __init__.py -> the package."""
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def packages_above(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages whose __init__ runs before module ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_targets(path: Path, src: Path = SRC, package: str = PACKAGE) -> set[str]:
    """The project modules one file's import statements name, each the deepest module named.

    ``from pkg import sub`` names ``pkg.sub`` when that is a module, else ``pkg`` (a name defined in
    its __init__); relative imports are resolved against the file's own package. Files outside
    ``src`` (the pipelines' scripts) can use absolute imports only.
    """
    own = module_name(path, src) if path.is_relative_to(src) else ""
    here = own if path.name == "__init__.py" else own.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if module_file(f"{base}.{alias.name}", src, package) else base)
    return {t for t in targets if module_file(t, src, package)}
