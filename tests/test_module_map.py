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
            submodules = {f"{target}.{alias.name}" for alias in node.names}
            # `from . import x` imports the submodule x (the package is already there);
            # `from .x import name` imports the module x.
            if not submodules <= set(modules):
                found.add(target)
            found.update(submodules)
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
    cycles = _cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in _modules().items()
    }
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert over == {}, f"over {MAX_LINES} lines: {over}"


def test_every_module_says_what_it_owns() -> None:
    missing = [
        name
        for name, path in _modules().items()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


# ---------------------------------------------------------------------- the flow layer

FLOWS = "trio_runners.flows"


def _core_imports_of(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module, name or None) for every import of ``name`` that reaches the core: the package
    ``trio_runners`` outside ``trio_runners.flows``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.extend((target, alias.name) for alias in node.names)
    return [
        (module, imported)
        for module, imported in found
        if module.split(".")[0] == "trio_runners"
        and module != FLOWS
        and not module.startswith(FLOWS + ".")
    ]


def _private_core_imports(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in modules.items():
        if name != FLOWS and not name.startswith(FLOWS + "."):
            continue
        for module, imported in _core_imports_of(name, path):
            if any(part.startswith("_") for part in module.split(".")):
                bad.append(f"{name} imports the private module {module}")
            elif imported is not None and imported.startswith("_"):
                bad.append(f"{name} imports the private name {imported} from {module}")
    return bad


def test_the_flow_layer_imports_only_public_names_of_the_core() -> None:
    modules = _modules()
    assert "trio_runners.flows._task_run" in modules  # the flow layer is where we look
    assert _core_imports_of("trio_runners.flows._task_run", modules["trio_runners.flows._task_run"])
    assert _private_core_imports(modules) == []


def test_the_private_import_check_finds_private_imports(tmp_path: Path) -> None:
    flows = tmp_path / "trio_runners" / "flows"
    flows.mkdir(parents=True)
    (flows / "__init__.py").write_text("from ._ok import x\n")
    (flows / "_ok.py").write_text("from ..abc import BaseTaskRunner\nfrom ._ok2 import _y\n")
    (flows / "_bad.py").write_text(
        "from .._base import BaseTaskRunner\nfrom ..abc import _hidden\n"
        "import trio_runners._calls\nfrom .. import _states\n"
    )
    modules = {
        "trio_runners.flows": flows / "__init__.py",
        "trio_runners.flows._ok": flows / "_ok.py",
        "trio_runners.flows._bad": flows / "_bad.py",
    }
    assert sorted(_private_core_imports(modules)) == [
        "trio_runners.flows._bad imports the private module trio_runners._base",
        "trio_runners.flows._bad imports the private module trio_runners._calls",
        "trio_runners.flows._bad imports the private name _hidden from trio_runners.abc",
        "trio_runners.flows._bad imports the private name _states from trio_runners",
    ]


def _on_self(node: ast.Attribute) -> bool:
    """``self._x``: a flow-layer object's own attribute (which may share a runner's name)."""
    return isinstance(node.value, ast.Name) and node.value.id == "self"


def test_the_flow_layer_touches_no_private_member_of_a_runner() -> None:
    """No ``<something>._invoke`` (or any private name of our runners) outside ``self``."""
    from trio_runners._remote import RemoteTaskRunner
    from trio_runners.task_runners import (
        ConcurrentTaskRunner,
        ProcessPoolTaskRunner,
        SequentialTaskRunner,
        ThreadPoolTaskRunner,
    )

    runners = [ConcurrentTaskRunner, ProcessPoolTaskRunner, SequentialTaskRunner]
    runners.append(ThreadPoolTaskRunner)
    private: set[str] = set()
    for cls in [*runners, RemoteTaskRunner]:
        for klass in cls.__mro__:
            if klass.__module__.startswith("trio_runners."):
                private.update(vars(klass))
    for cls in runners:
        private.update(vars(cls()))
    private = {n for n in private if n.startswith("_") and not n.startswith("__")}
    assert {"_invoke", "_slot_lent", "_table", "_execute"} <= private
    touched = {
        f"{name}: .{node.attr}"
        for name, path in _modules().items()
        if name.startswith(FLOWS)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in private and not _on_self(node)
    }
    assert touched == set()


def test_no_runner_module_imports_the_flow_layer() -> None:
    """The core knows nothing of the flow layer: only the package (which re-exports it) and
    the demo program, which uses it, import it."""
    graph = _graph()
    users = {
        name
        for name, imported in graph.items()
        if not name.startswith(FLOWS) and any(m.startswith(FLOWS) for m in imported)
    }
    assert users <= {"trio_runners", "trio_runners._demo"}
