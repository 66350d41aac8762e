"""The loading chain imports downward only: no module of it reaches back up.

validate (value checks, used while converting) once imported the engine to
check whole sources, and the engine imports load: a circle, hidden in a
function-level import. The graph here counts every import, lazy ones too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "executor"
LOADING = {
    "executor.sources",
    "executor.load",
    "executor.compose",
    "executor.convert",
    "executor.build",
    "executor.schema",
    "executor.validate",
    "executor.cloudconfig",
    "executor.model",
    "executor.engine",
    "executor.sourcecheck",
    "executor.modules",
}


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[module] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def test_no_module_of_the_loading_chain_imports_itself_back() -> None:
    graph = _imports()
    assert set(graph) >= LOADING
    circles = {m for m in LOADING if m in _reaches(graph, m)}
    assert circles == set()


def test_the_value_checks_do_not_import_the_engine_or_the_loader() -> None:
    below = _reaches(_imports(), "executor.validate")
    assert not below & {"executor.engine", "executor.load", "executor.convert"}
