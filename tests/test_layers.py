"""The package's shape: layers whose imports point down, no import cycle, a short top level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mibound

PACKAGE = Path(mibound.__file__).parent
ROOT = PACKAGE.parent

#: One-release alias modules at the top level (each a few lines standing for a moved module).
ALIASES = {"encoders.py", "views.py", "colorspaces.py", "tasks.py"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of mibound it imports``: every import statement, also inside functions.

    A module's import of a package that contains it (its own ``__init__``) is not counted; an
    import of a name from a package resolves to the submodule when the name is one.
    """
    files = {(_module(p)): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in files else target for a in node.names}
        graph[mod] = {d for d in deps if d in files and d != mod and not mod.startswith(d + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layer_contract_holds():
    pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install 'mibound[test]'")
    r = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_the_top_level_has_at_most_thirteen_entries_besides_aliases():
    entries = {p.name for p in PACKAGE.iterdir() if p.name not in ("__pycache__",) and not p.name.startswith(".")}
    entries -= {"__init__.py", "__main__.py", "py.typed"}
    for alias in ALIASES & entries:  # an alias module is a few lines standing for the module it names
        assert len((PACKAGE / alias).read_text().splitlines()) <= 15, alias
    # 13: monitor/ (issue 22) is the contrastive-training monitor, a user-facing room of its own
    assert len(entries - ALIASES) <= 13, sorted(entries - ALIASES)


def test_no_module_calls_a_private_method_of_a_class_from_another_module():
    """``obj._name(`` where ``_name`` is a method defined only in classes of other modules."""
    methods: dict[str, set[str]] = {}  # private method name -> modules defining it in a class
    trees = {}
    for path in PACKAGE.rglob("*.py"):
        tree = trees[path] = ast.parse(path.read_text())
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for f in cls.body:
                if isinstance(f, ast.FunctionDef) and f.name.startswith("_") and not f.name.startswith("__"):
                    methods.setdefault(f.name, set()).add(_module(path))
    calls = []
    for path, tree in trees.items():
        here = _module(path)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in methods and here not in methods[node.func.attr]
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("self", "cls", "super"))):
                calls.append(f"{here}:{node.lineno} .{node.func.attr}()")
    assert calls == [], calls
