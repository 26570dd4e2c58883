"""The shape the house style asks of edgeres/: small modules, functions that fit on a screen, no import circles,
and package __init__ files without logic. Read from the sources with ast; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "edgeres"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60  # from `def` to the last line: click's option decorators are declarations, not body


def _sources() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every edgeres module `module` imports, at module level or inside functions, and the packages above them."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(known)
    return {m for m in found if m != module and not module.startswith(m + ".")}


def test_modules_and_functions_are_small():
    too_long = []
    for module, path in _sources().items():
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{module}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, too_long


def test_no_import_circles():
    known = _sources()
    graph = {module: _imports(module, path, known) for module, path in known.items()}
    circles = []
    for start in graph:  # a module that reaches itself again through its imports is in a circle
        seen, frontier = set(), list(graph[start])
        while frontier:
            module = frontier.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                frontier += graph[module]
    assert not circles, sorted(circles)


def test_package_inits_hold_no_logic():
    """An __init__.py re-exports (imports, __all__, a docstring); functions, classes and statements live in
    modules named for what they hold. edgeres/__init__.py is the one exception: its lazy attribute table."""
    allowed = (ast.Import, ast.ImportFrom, ast.Expr, ast.Assign, ast.AnnAssign, ast.If)
    for path in PACKAGE.rglob("__init__.py"):
        if path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stray = [type(node).__name__ for node in tree.body if not isinstance(node, allowed)]
        assigned = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
        assert not stray and set(assigned) <= {"__all__"}, f"{path.relative_to(ROOT)}: {stray or assigned}"
