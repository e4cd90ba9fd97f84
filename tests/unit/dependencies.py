"""Which distributions a source tree imports, and whether pyproject.toml declares them.

The rule, for every ``import`` and ``from ... import`` in a tree (read with ``ast``, never
run):

- An **eager** import runs when its module is imported: at module level, in a class body, or
  under a plain ``if``/``with``/``try``. It must be the standard library, the project itself
  (a module or package beside the importing file or in a folder above it, up to the root), or
  a declared distribution.
- A **lazy** import runs only when some code asks for it: inside a function, in an
  ``if TYPE_CHECKING:`` block, or in a ``try:`` whose handler catches ``ImportError``. It may
  also name an *optional* distribution, which the caller lists with the reason it need not be
  installed (hubcore imports trio only inside a trio run, where trio is installed already).
  Lazy imports are checked too, so an optional one is a decision written down, not an
  accident.

Import names map to distributions with :func:`importlib.metadata.packages_distributions`
(``PIL`` is pillow); a name that no installed distribution provides is taken as its own
distribution name, so an import of something not even installed is still reported.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


@dataclass(frozen=True)
class Import:
    """One import statement's top-level module, where it is, and whether it is lazy."""

    module: str
    path: Path
    line: int
    lazy: bool


def normalize(distribution: str) -> str:
    """The comparable form of a distribution name (``Pytest_XDist`` -> ``pytest-xdist``)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def imports_of(root: Path) -> list[Import]:
    """Every import in the ``.py`` files under ``root``, except relative ones."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        found.extend(_walk(tree.body, path, lazy=False))
    return found


def _walk(body: Iterable[ast.stmt], path: Path, *, lazy: bool) -> Iterator[Import]:
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name.split(".")[0], path, node.lineno, lazy)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield Import(node.module.split(".")[0], path, node.lineno, lazy)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(node.body, path, lazy=True)
        elif isinstance(node, ast.If):
            yield from _walk(node.body, path, lazy=lazy or _is_type_checking(node.test))
            yield from _walk(node.orelse, path, lazy=lazy)
        elif isinstance(node, ast.Try | ast.TryStar):
            guarded = any(_catches_import_error(h.type) for h in node.handlers)
            yield from _walk(node.body, path, lazy=lazy or guarded)
            for block in (*(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _walk(block, path, lazy=lazy)
        else:  # class bodies, with, for, while, match: same laziness as around them
            for field in ("body", "orelse", "finalbody"):
                yield from _walk(getattr(node, field, ()), path, lazy=lazy)
            for case in getattr(node, "cases", ()):
                yield from _walk(case.body, path, lazy=lazy)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.expr | None) -> bool:
    names = handler.elts if isinstance(handler, ast.Tuple) else [handler]
    return any(isinstance(n, ast.Name) and n.id in _IMPORT_ERRORS for n in names)


def is_local(item: Import, root: Path) -> bool:
    """Whether the import names the project's own code: beside the file or in a folder above
    it, up to ``root`` (a procfile's ``services``, ``tests.conftest``, ``hubcore``)."""
    folder = item.path.parent
    while True:
        if (folder / f"{item.module}.py").is_file() or (folder / item.module).is_dir():
            return True
        if folder == root or root not in folder.parents:
            return False
        folder = folder.parent


@cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(module: str) -> set[str]:
    """The normalized distributions that provide the top-level ``module``."""
    return {normalize(d) for d in _providers().get(module, [module])}


def requirements(pyproject: Path, *extras: str) -> list[Requirement]:
    """The direct requirements pyproject declares: the base dependencies and those of
    ``extras``, following the project's references to its own extras (``hubcore[example]``).

    :raises KeyError: an extra that pyproject does not define.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    found: list[Requirement] = []
    todo: list[str | None] = [None, *extras]
    seen: set[str | None] = set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra is not None and extra not in optional:
            raise KeyError(f"{pyproject} has no extra {extra!r}")
        for line in project["dependencies"] if extra is None else optional[extra]:
            requirement = Requirement(line)
            if normalize(requirement.name) == normalize(project["name"]):
                todo.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def declared(pyproject: Path, *extras: str) -> set[str]:
    """The normalized names of :func:`requirements`."""
    return {normalize(r.name) for r in requirements(pyproject, *extras)}


def undeclared(
    root: Path,
    tree: Path,
    allowed: set[str],
    optional: Mapping[str, str] | None = None,
    *,
    eager_optional: bool = False,
) -> list[str]:
    """One line per import under ``tree`` that is neither stdlib, local nor in ``allowed``
    (nor, for a lazy import, in ``optional``), saying where it is and what it needs.

    :param eager_optional: ``optional`` modules may be imported at module level too (for
        modules that only run when the optional package is there, such as a bench server).
    """
    problems = []
    for item in imports_of(tree):
        if item.module in sys.stdlib_module_names or is_local(item, root):
            continue
        providers = distributions_of(item.module)
        if providers & allowed or (
            (item.lazy or eager_optional) and item.module in (optional or {})
        ):
            continue
        where = item.path.relative_to(root)
        kind = "lazily imports" if item.lazy else "imports"
        problems.append(
            f"{where}:{item.line} {kind} {item.module} (distribution "
            f"{' or '.join(sorted(providers))}), which pyproject.toml does not declare here"
        )
    return problems


def unused(root: Path, trees: Iterable[Path], declarations: set[str]) -> set[str]:
    """The distributions of ``declarations`` that nothing under ``trees`` imports."""
    imported = {
        dist
        for tree in trees
        for item in imports_of(tree)
        if not is_local(item, root)
        for dist in distributions_of(item.module)
    }
    return declarations - imported
