"""A proxy's namespace belongs to the remote object: no public attribute of its own, its
operations are functions with blocking twins, and publishing refuses a method name that
``proxy.<name>`` could not reach."""

from __future__ import annotations

import inspect

import pytest

import hubcore
import hubcore.sync
from hubcore._directory import Directory
from hubcore.client import _proxy_ops
from hubcore.client._proxy import proxy_attributes, unreachable

OPERATIONS = tuple(name for name in _proxy_ops.__all__ if not name.startswith("check_"))


class _Client:
    """Just what building a proxy and looking up attributes reads: an empty directory."""

    directory = Directory()
    tracer = None


def _public(obj: object) -> list[str]:
    return [name for name in dir(obj) if not name.startswith("_")]


@pytest.mark.parametrize("cls", [hubcore.Proxy, hubcore.sync.Proxy], ids=["async", "sync"])
def test_proxy_class_has_no_public_attribute(cls):
    assert _public(cls) == []


def test_proxy_instances_have_no_public_attribute():
    proxy = hubcore.Proxy(_Client(), "x", methods=("a",))
    assert [name for name in vars(proxy) if not name.startswith("_")] == []
    assert [name for name in vars(hubcore.sync.Proxy(proxy)) if not name.startswith("_")] == []


def test_reserved_names_cover_both_proxy_classes():
    """Publishing refuses names from hubcore.Proxy; the publisher may never import
    hubcore.sync, so its proxy may not add a name of its own."""
    assert set(_public(hubcore.sync.Proxy)) <= proxy_attributes()


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("increment", None),
        ("match", None),  # a soft keyword is a fine attribute name
        ("stream", None),
        ("class", "it is a Python keyword"),
        ("None", "it is a Python keyword"),
        ("two words", "it is not a Python identifier"),
        ("1st", "it is not a Python identifier"),
    ],
)
def test_unreachable_names_keywords_and_non_identifiers(method, reason):
    assert unreachable(method) == reason


def test_unreachable_follows_attributes_added_to_the_proxy(monkeypatch):
    monkeypatch.setattr(hubcore.Proxy, "describe", lambda self: "", raising=False)
    assert unreachable("describe") == "hubcore.Proxy has an attribute of that name"


def test_an_unpublished_name_gives_a_pending_call_not_an_error():
    proxy = hubcore.Proxy(_Client(), "restarting", methods=())
    assert repr(proxy.anything) == "<remote method restarting.anything>"
    with pytest.raises(AttributeError):
        proxy._private  # noqa: B018


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_is_exported_with_a_blocking_twin(operation):
    async_fn = getattr(hubcore, operation)
    sync_fn = getattr(hubcore.sync, operation)
    assert operation in hubcore.__all__
    assert operation in hubcore.sync.__all__
    assert async_fn is getattr(_proxy_ops, operation)
    assert not inspect.iscoroutinefunction(sync_fn)
    async_params = inspect.signature(async_fn).parameters
    sync_params = inspect.signature(sync_fn).parameters
    assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
        (p.name, p.kind, p.default) for p in async_params.values()
    ]
