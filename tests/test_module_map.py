"""The module map stays as docs/contributing.md draws it: small modules, no import cycle.

Both promises are checked on the source (parsed with `ast`, nothing imported): every import
between two modules of ``trio_runners`` counts, at module level or inside a function, and
including those under ``if TYPE_CHECKING:``; a cycle of any of them fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "trio_runners"

#: The most lines a module may have.
MAX_LINES = 400

#: Modules still over `MAX_LINES`, each with the issue that shrinks it. Remove an entry as soon
#: as its module is under the limit (the test says so).
OVERSIZED = {
    # testing/ is reshaped by issue 13, item 6 (run_schedule becomes a class).
    "trio_runners.testing._driver",
}

#: Import cycles outside the core that others are removing, each with the issue that does it.
#: Remove an entry as soon as its cycle is gone (the test says so).
KNOWN_CYCLES = {
    # The conformance kit: its state machine and RunnerConformance (issue 13, item 6).
    frozenset(
        {
            "trio_runners.testing",
            "trio_runners.testing._conformance",
            "trio_runners.testing._machine",
        }
    ),
}


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import x` / `from .pkg import mod` import the submodule itself.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules and module != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_among_the_modules() -> None:
    graph = _graph()
    assert "trio_runners._base" in graph  # the parser sees the package
    assert "trio_runners._calls" in graph["trio_runners._base"]  # and its imports
    # A package's __init__ re-exports its modules: an import of the package from one of its
    # own modules would be a cycle, and is reported as one.
    cycles = {frozenset(cycle) for cycle in _cycles(graph)}
    assert cycles <= KNOWN_CYCLES, f"import cycles: {[sorted(c) for c in cycles - KNOWN_CYCLES]}"
    gone = KNOWN_CYCLES - cycles
    assert not gone, f"no longer cycles, remove from KNOWN_CYCLES: {[sorted(c) for c in gone]}"


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in _modules().items()
    }
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert set(over) <= OVERSIZED, f"over {MAX_LINES} lines: {over}"
    shrunk = {name for name in OVERSIZED if sizes.get(name, 0) <= MAX_LINES}
    assert not shrunk, f"now within {MAX_LINES} lines, remove from OVERSIZED: {shrunk}"


def test_every_module_says_what_it_owns() -> None:
    missing = [
        name
        for name, path in _modules().items()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []
