"""The package's wings keep their rules: each imports only the wings below it, and no two
modules import each other, directly or around a loop (imports inside functions and under
``TYPE_CHECKING`` count too: they are dependencies all the same).

    cli, ctl/            the commands: anything
    service/             policy, observe, config, wire, errors (and the package's version)
    policy/              srs, wire, config, observe, errors
    observe/             wire, config, errors
    config/              errors
    srs/, wire/          nothing of pysrsd (wire: errors)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "pysrsd"
ALLOWED = {
    "srs": {"srs"},
    "wire": {"wire", "errors"},
    "config": {"config", "errors"},
    "observe": {"observe", "wire", "config", "errors"},
    "policy": {"policy", "srs", "wire", "config", "observe", "errors"},
    "service": {"service", "policy", "observe", "config", "wire", "errors", ""},
    "errors": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """The pysrsd modules ``path`` imports, anywhere in it."""
    found: set[str] = set()
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pysrsd")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pysrsd"):
            base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found


def wing(module: str) -> str:
    """``srs`` for pysrsd.srs.engine, ``errors`` for pysrsd.errors, ``""`` for the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("module", sorted(GRAPH), ids=str)
def test_a_wing_imports_only_the_wings_below_it(module: str) -> None:
    rules = ALLOWED.get(wing(module))
    if rules is None:  # cli, ctl, the package itself: the top
        return
    wrong = sorted(name for name in GRAPH[module] if wing(name) not in rules)
    assert not wrong, f"{module} may import only {sorted(rules)}, imports {wrong}"


def test_no_two_modules_depend_on_each_other() -> None:
    """No cycle in the import graph (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH.get(node, ()):
            if nxt not in GRAPH or nxt == node:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"modules that depend on each other: {cycles}"


def test_the_rules_see_every_wing() -> None:
    """A new wing gets its rule here: a folder the test does not know fails it."""
    wings = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert wings - {"ctl"} == ALLOWED.keys() - {"errors"}
