"""The shape of the code: no import circles, and each layer imports only the layers below it.

ruff (TID251, the ruff.toml in handlers/, services/ and domain/) bans the framework and the database in the
inner layers file by file; this test checks the whole graph, imports inside functions included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "domain", "services", "delivery", "handlers", "console", "storage", "testkit")

# Which first-party packages a package may import (runtime imports, TYPE_CHECKING blocks aside).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "services": {"domain", "delivery"},
    "delivery": {"domain", "storage"},
    "storage": {"domain", "delivery"},
    "handlers": {"domain", "services", "bot"},
    # The web console is a second front end beside handlers/: it calls the same use cases.
    "console": {"domain", "services", "bot"},
    "bot": {"domain", "services", "delivery", "storage", "handlers", "console"},
    # The test kit drives the whole bot from outside; nothing of the bot imports it.
    "testkit": {"bot", "domain", "services", "delivery", "handlers", "console", "storage"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str) -> Iterator[str]:
    """First-party modules imported at run time (anywhere in the file, TYPE_CHECKING blocks excepted)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                base = ".".join([*pkg, base] if base else pkg)
            for alias in node.names:
                yield f"{base}.{alias.name}"  # "from pkg import module" imports the module
            yield base
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
             if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in _imports(ast.parse(path.read_text(encoding="utf-8")), name):
            if imported in files and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_import_only_what_is_below_them() -> None:
    wrong = []
    for module, targets in _graph().items():
        package = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []
