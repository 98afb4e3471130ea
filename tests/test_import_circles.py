"""No module of ``src/mlpbench`` reaches itself through its imports.

A circle hidden by an import inside a function (or under ``TYPE_CHECKING``) still ties the modules
together: neither can be read, tested or changed without the other. The graph is read from the source
(tests/imports.py): module A points at every module it names and at the packages above those, except
the packages above A itself, which Python has run before A's first line.
"""
from __future__ import annotations

from pathlib import Path

from imports import SRC, import_targets, module_name, packages_above


def import_graph(src: Path = SRC, package: str = "mlpbench") -> dict[str, set[str]]:
    """{module: the modules importing it runs} for every module of ``package`` under ``src``."""
    graph = {}
    for path in sorted((src / package).rglob("*.py")):
        name = module_name(path, src)
        mine = {name, *packages_above(name)}
        edges = set()
        for target in import_targets(path, src, package):
            edges.add(target)
            edges.update(p for p in packages_above(target) if p not in mine)
        graph[name] = edges - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle ``[a, b, ..., a]`` through each group of modules that reach one another (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(_path_around(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_around(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A circle through the smallest name of ``group``, staying inside it (breadth-first, so the shortest)."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                todo.append(nxt)
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def test_no_module_of_mlpbench_imports_itself_through_others() -> None:
    found = [" -> ".join(c) for c in circles(import_graph())]
    assert not found, ("import circles in src/mlpbench; move what both sides need into a module below them:\n"
                       + "\n".join(found))


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return root


def test_the_check_sees_circles_through_functions_packages_and_relative_imports(tmp_path) -> None:
    src = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "def f():\n    from pkg.sub import b\n",  # inside a function
        "sub/__init__.py": "from .b import thing\n",  # relative, in a package's __init__
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n",
        "c.py": "import pkg.a\n",
        "d.py": "from pkg.sub.b import thing\n",  # runs sub/__init__, which does not lead back to d
    })
    graph = import_graph(src, "pkg")
    assert graph["pkg.d"] == {"pkg.sub", "pkg.sub.b"}
    assert circles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_a_package_importing_its_own_modules_is_no_circle(tmp_path) -> None:
    src = _package(tmp_path, {"__init__.py": "from pkg.a import x\n", "a.py": "from pkg import b\n", "b.py": ""})
    assert circles(import_graph(src, "pkg")) == []
