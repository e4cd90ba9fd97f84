"""Public names read as public: every public module says what it exports, and nothing private
leaks into it (after anyio's ``tests/test_all_attributes.py``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import hubcore
import pytest_hub

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _modules(package: ModuleType) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        names.append(info.name)
    return names


def _public(module_name: str) -> bool:
    return not any(part.startswith("_") for part in module_name.split("."))


PUBLIC = [m for p in (hubcore, pytest_hub) for m in _modules(p) if _public(m)]
EVERY = [m for p in (hubcore, pytest_hub) for m in _modules(p) if not m.endswith("__main__")]


def test_the_public_modules_are_the_documented_ones() -> None:
    assert set(PUBLIC) >= {"hubcore", "hubcore.sync", "pytest_hub", "pytest_hub.plugin"}
    assert "pytest_hub.fixtures" not in PUBLIC


@pytest.mark.parametrize("name", EVERY)
def test_every_module_has_a_tuple_all_of_names_it_has(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, tuple), f"{name}.__all__ must be a tuple"
    assert list(exported) == sorted(set(exported), key=exported.index), f"{name}: duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("name", PUBLIC)
def test_a_public_module_exports_no_private_name(name: str) -> None:
    module = importlib.import_module(name)
    assert [n for n in module.__all__ if n.startswith("_")] == []


@pytest.mark.parametrize(("package", "names"), [(hubcore, hubcore.__all__)])
def test_public_names_say_they_live_in_the_package(package: ModuleType, names: tuple[str]) -> None:
    """``hubcore.Proxy``, not ``hubcore.client._proxy.Proxy``, in reprs and tracebacks."""
    for name in names:
        value = getattr(package, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == package.__name__, f"{name}: {value.__module__}"


def test_pytest_hub_types_say_they_live_in_pytest_hub() -> None:
    for name in pytest_hub.__all__:
        assert getattr(pytest_hub, name).__module__ == "pytest_hub", name


def test_remote_builtin_errors_are_reachable_by_the_name_they_show() -> None:
    remote_key_error = hubcore.RemoteKeyError  # type: ignore[attr-defined]
    assert issubclass(remote_key_error, KeyError)
    assert issubclass(remote_key_error, hubcore.RemoteError)
    assert f"{remote_key_error.__module__}.{remote_key_error.__name__}" == "hubcore.RemoteKeyError"
    with pytest.raises(AttributeError):
        hubcore.RemoteNoSuchBuiltin  # type: ignore[attr-defined] # noqa: B018


def _logger_names() -> set[str]:
    code = Path(hubcore.__file__).parent
    return {
        name
        for path in code.rglob("*.py")
        for name in re.findall(r'getLogger\(f?"([\w.]+)', path.read_text())
    }


def _documented_names() -> set[str]:
    found = set()
    for page in DOCS.glob("*.md"):
        found |= set(re.findall(r"`((?:hubcore|pytest_hub)(?:\.[A-Za-z_]\w*)+)", page.read_text()))
    return found - _logger_names()


@pytest.mark.parametrize("dotted", sorted(_documented_names()))
def test_every_name_the_docs_mention_exists(dotted: str) -> None:
    """A name written as `hubcore.X` or `pytest_hub.X` in docs/ can be reached that way."""
    parts = dotted.split(".")
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        obj = importlib.import_module(".".join(parts[: i + 1]))  # a submodule
    assert obj is not None
