"""describe(): the public shape of a published object, found without running any of it."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubcore.rpc._dispatch import describe


class Service:
    """One of each kind of attribute a published object can have."""

    limit = 10
    getter_calls = 0

    def __init__(self) -> None:
        self.name = "svc"
        self.callback = print  # a callable instance attribute is callable remotely too
        self._secret = "hidden"

    def plain(self) -> int:
        return 1

    async def coro(self) -> int:
        return 2

    async def stream(self) -> AsyncIterator[int]:
        yield 3

    @staticmethod
    def static() -> int:
        return 4

    @classmethod
    def klass(cls) -> int:
        return 5

    @staticmethod
    async def async_static() -> int:
        return 6

    @classmethod
    async def async_klass(cls) -> int:
        return 7

    @property
    def status(self) -> str:
        type(self).getter_calls += 1
        return "ok"

    @property
    def broken(self) -> str:
        raise RuntimeError("a property was evaluated by describe()")

    @property
    def handler(self) -> Any:
        """A property whose value is callable is still a property."""
        return self.plain

    def _private(self) -> None: ...

    async def _private_coro(self) -> None: ...

    def __repr__(self) -> str:
        return "Service()"


@pytest.fixture
def shape() -> Any:
    Service.getter_calls = 0
    return describe(Service())


def test_dispatch_shape_property_that_raises_is_described_without_raising(shape: Any) -> None:
    assert "broken" in shape.properties


def test_dispatch_shape_properties_are_never_evaluated(shape: Any) -> None:
    assert Service.getter_calls == 0


def test_dispatch_shape_classifies_every_public_attribute(shape: Any) -> None:
    assert set(shape.methods) == {
        "plain",
        "coro",
        "stream",
        "static",
        "klass",
        "async_static",
        "async_klass",
        "callback",
    }
    assert set(shape.properties) == {"limit", "getter_calls", "name", "status", "broken", "handler"}


def test_dispatch_shape_async_generator_is_a_stream(shape: Any) -> None:
    assert shape.streams == frozenset({"stream"})


def test_dispatch_shape_async_def_is_a_coroutine(shape: Any) -> None:
    assert shape.coroutines == frozenset({"coro", "async_static", "async_klass"})


def test_dispatch_shape_streams_and_coroutines_are_callable_methods(shape: Any) -> None:
    """The dispatcher only calls names listed in methods, streams included."""
    assert shape.streams <= set(shape.methods)
    assert shape.coroutines <= set(shape.methods)
    assert not shape.streams & shape.coroutines


def test_dispatch_shape_private_and_dunder_names_are_skipped(shape: Any) -> None:
    names = [*shape.methods, *shape.properties]
    assert not [n for n in names if n.startswith("_")]


def test_dispatch_shape_static_and_class_methods_are_methods(shape: Any) -> None:
    assert {"static", "klass"} <= set(shape.methods)
    assert not {"static", "klass"} & (shape.coroutines | shape.streams)


def test_dispatch_shape_non_callable_attribute_is_a_property(shape: Any) -> None:
    assert {"limit", "name"} <= set(shape.properties)
    assert not {"limit", "name"} & set(shape.methods)


def test_dispatch_shape_property_with_callable_value_is_a_property(shape: Any) -> None:
    assert "handler" in shape.properties
    assert "handler" not in shape.methods


def test_dispatch_shape_empty_object_has_empty_shape() -> None:
    shape = describe(object())
    assert (shape.methods, shape.properties) == ((), ())
    assert shape.coroutines == shape.streams == frozenset()


def test_dispatch_shape_cached_property_is_not_evaluated() -> None:
    """functools.cached_property is a property too: describe() must not run its body.

    Running it would do a service's lazy work at publish time, and a raising one would make
    publishing fail.
    """

    class Lazy:
        @functools.cached_property
        def connection(self) -> str:
            raise RuntimeError("cached_property evaluated by describe()")

    shape = describe(Lazy())
    assert "connection" in shape.properties
