"""Imports run one way: each part of hubcore imports only the parts below it.

The map is the one docs/design.md opens with; this test keeps the code to it. Imports under
``if TYPE_CHECKING:`` count too: a type named across layers is a dependency all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What each part may import from hubcore, besides itself. A part is a module or a folder.
ALLOWED: dict[str, set[str]] = {
    "_errors": set(),
    "_env": set(),
    "_changes": set(),
    "_directory": {"_changes"},
    "protocol": {"_errors"},
    "transport": {"_errors"},
    "_rundir": {"_errors"},
    "rpc": {"_errors", "protocol", "transport"},
    "_hub": {"_errors", "_changes", "_directory", "_rundir", "protocol", "transport", "rpc"},
    "client": {
        "_errors",
        "_env",
        "_changes",
        "_directory",
        "_rundir",
        "protocol",
        "transport",
        "rpc",
    },
    # the procfile and the supervisor: nothing from the connection layers
    "app": {"_errors", "_env", "_changes"},
    # ... but these two wire the app to the hub and the client
    "app/_app": {"_errors", "_env", "_changes", "_rundir", "_hub", "client", "rpc", "app"},
    "app/_service": {"_errors", "client", "app"},
    "sync": {"_errors", "_directory", "protocol", "client", "rpc"},
    # the picture of call records: reads records, nothing else
    "trace": {"rpc"},
    "worker": {"_errors", "_env", "client", "app"},
    "demo": {"_env", "__init__"},
    "cli": {
        "_errors",
        "_env",
        "_directory",
        "_rundir",
        "_hub",  # `hubcore hub` serves one
        "client",
        "app",
        "protocol",
        "sync",
        "trace",  # `hubcore trace view`, `hubcore dev --trace`
    },
    "__init__": {"*"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(ROOT / "hubcore").with_suffix("")
    key = rel.as_posix()
    if key in ALLOWED:
        return key
    return rel.parts[0]


def _target(module: str) -> str | None:
    if module == "hubcore":
        return "__init__"
    if not module.startswith("hubcore."):
        return None
    parts = module.split(".")[1:]
    return parts[0]


def _imports(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "hubcore":  # from hubcore import _env
                found += [(node.lineno, f"hubcore.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


FILES = sorted((ROOT / "hubcore").rglob("*.py"))


def _wrong_imports(part: str, source: str) -> list[str]:
    allowed = ALLOWED[part] | {part.split("/")[0]}
    if "*" in allowed:
        return []
    return [
        f"line {line}: {module}"
        for line, module in _imports(source)
        if (target := _target(module)) is not None and target not in allowed
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_run_one_way(path: Path) -> None:
    part = _part(path)
    wrong = _wrong_imports(part, path.read_text())
    assert wrong == [], f"{part} may import only {sorted(ALLOWED[part])}"


def test_an_upward_import_is_caught() -> None:
    """The check itself can fail: a supervisor that imports the client, even for a type."""
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hubcore.client\n"
    supervisor = _part(ROOT / "hubcore" / "app" / "_supervisor.py")
    assert _wrong_imports(supervisor, source) == ["line 3: hubcore.client"]
    assert _wrong_imports("protocol", "from hubcore import _hub\n") == ["line 1: hubcore._hub"]


def test_pytest_hub_uses_only_public_hubcore_names() -> None:
    private = []
    for path in sorted((ROOT / "pytest_hub").rglob("*.py")):
        for line, module in _imports(path.read_text()):
            if module.startswith("hubcore") and any(p.startswith("_") for p in module.split(".")):
                private.append(f"{path.name}:{line}: {module}")
    assert private == []
