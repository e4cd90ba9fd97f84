"""Checking a service's ``"module:Attr"`` import path without importing anything.

The procfile loader uses this to fail at load time, at the procfile line, for a path that
would only fail later in a worker process. Modules are located through the path finder one
level at a time and read with ``ast``: no service code runs in the supervisor.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubcore._errors import reason

__all__ = ("front_of_sys_path", "import_problem", "valid_import_path")


def valid_import_path(import_path: object) -> bool:
    if not isinstance(import_path, str) or import_path.count(":") != 1:
        return False
    module, attr = import_path.split(":")
    return attr.isidentifier() and all(part.isidentifier() for part in module.split("."))


def import_problem(root: Path, import_path: str) -> str | None:
    """Say why ``import_path`` does not resolve from ``root``, or return None if it does."""
    module, attr = import_path.split(":")
    spec = _find_module(root, module)
    if spec is None:
        return f"cannot find module {module!r} (looked in {root} first, then sys.path)"
    if not (spec.has_location and spec.origin and spec.origin.endswith(".py")):
        return None  # compiled, built-in or namespace module: it can't be read, so trust it
    try:
        tree = ast.parse(Path(spec.origin).read_bytes(), filename=spec.origin)
    except SyntaxError as exc:
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    except OSError as exc:
        return f"cannot read {spec.origin}: {reason(exc)}"
    names = _top_level_names(tree)
    if names is None or attr in names:
        return None
    if spec.submodule_search_locations and _find_module(root, f"{module}.{attr}"):
        return None  # "package:submodule"
    return f"{module} has no attribute {attr!r}"


def _find_module(root: Path, module: str) -> importlib.machinery.ModuleSpec | None:
    """Locate ``module`` on the file system, executing neither it nor its parent packages.

    ``importlib.util.find_spec`` would import the parent packages, and would answer from
    ``sys.modules`` when another package of the same name (another procfile's ``services``)
    was imported before. The path finder is asked one level at a time instead.
    """
    search: list[str] = [str(root), *sys.path]
    spec: importlib.machinery.ModuleSpec | None = None
    for depth, part in enumerate(module.split(".")):
        name = f"{spec.name}.{part}" if spec else part
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None:
            return _find_spec_importing(root, module) if depth == 0 else None
        search = list(spec.submodule_search_locations or [])
        if not search and name != module:
            return None  # a plain module has no submodules
    return spec


def _find_spec_importing(root: Path, module: str) -> importlib.machinery.ModuleSpec | None:
    """Ask the whole import system (built-ins, frozen and installed meta-path finders)."""
    with front_of_sys_path(root):
        saved_modules = set(sys.modules)
        try:
            return importlib.util.find_spec(module)
        except Exception:  # the parent package itself failed to import: not resolvable either
            return None
        finally:
            for name in set(sys.modules) - saved_modules:
                del sys.modules[name]


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Return the names a module binds at top level, or None if it can't be known statically."""
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == "__getattr__":
                return None  # module __getattr__ can provide any name
            names.add(node.name)
            continue  # their bodies are not top level
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return None
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        pending.extend(ast.iter_child_nodes(node))
    # ``global X`` inside a function binds X at top level when the function runs.
    names.update(n for g in ast.walk(tree) if isinstance(g, ast.Global) for n in g.names)
    return names


@contextmanager
def front_of_sys_path(folder: Path) -> Iterator[None]:
    """Put ``folder`` first on ``sys.path`` for the block, then restore ``sys.path``."""
    saved = sys.path[:]
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path[:] = saved
