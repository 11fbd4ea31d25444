"""No import cycles between the project's modules, read from the source.

Every import counts, wherever it stands: at the top, inside a function (the usual way a cycle is
hidden: it only breaks when that function runs first) or under ``TYPE_CHECKING``. ``from a.b
import c`` is an import of the module ``a.b.c`` when there is one, else of ``a.b``; a package's
``__init__`` is not imported on its submodules' behalf (Python runs it first either way, and
``a/__init__.py`` listing its modules is no cycle). Relative imports are resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.project_modules import PACKAGES as PROJECT_PACKAGES
from tests.project_modules import ROOT, project_modules

PACKAGES = (*PROJECT_PACKAGES, "benchmarks")


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """Return ``{imported project module: first line}`` for every import in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        if name in modules and name != module:
            found.setdefault(name, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, node.lineno)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Return module -> {module it imports: line}."""
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (each sorted), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        # Tarjan's algorithm, iterative: (node, its neighbours not yet walked).
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, neighbours = work[-1]
            step = next(neighbours, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = counter
                    counter += 1
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, {})))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def describe(group: list[str], graph: dict[str, dict[str, int]]) -> str:
    """Return the imports inside one cycle, e.g. ``a imports b (line 3); b imports a (line 9)``."""
    inside = set(group)
    return "; ".join(
        f"{a} imports {b} (line {line})"
        for a in group
        for b, line in sorted(graph[a].items())
        if b in inside
    )


def test_no_import_cycles_between_project_modules() -> None:
    graph = import_graph(project_modules(ROOT, PACKAGES))
    assert len(graph) > 100, "the scan found too few modules"
    found = cycles(graph)
    assert found == [], "import cycles: " + " | ".join(describe(g, graph) for g in found)


def test_the_check_finds_a_cycle_held_by_an_import_inside_a_function(tmp_path: Path) -> None:
    package = tmp_path / "pipeline"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pipeline import a\n")
    (package / "a.py").write_text("import os\nfrom pipeline.sub.b import thing\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "def thing():\n    from .. import c\n    return c\n"  # relative, inside a function
    )
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pipeline import a\n"
    )
    (package / "d.py").write_text("import pipeline.a\nfrom pipeline import sub\n")
    graph = import_graph(project_modules(tmp_path, ("pipeline",)))
    assert graph["pipeline.sub.b"] == {"pipeline.c": 2}
    assert graph["pipeline.d"] == {"pipeline.a": 1, "pipeline.sub": 2}
    assert cycles(graph) == [["pipeline.a", "pipeline.c", "pipeline.sub.b"]]
    assert describe(cycles(graph)[0], graph) == (
        "pipeline.a imports pipeline.sub.b (line 2); pipeline.c imports pipeline.a (line 3); "
        "pipeline.sub.b imports pipeline.c (line 2)"
    )
    # The package's __init__ importing its own module is no cycle.
    assert graph["pipeline"] == {"pipeline.a": 1}
