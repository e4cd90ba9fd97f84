"""The callee side: turns CALL frames into method calls on published objects.

Plain methods run inline in the reader (no task per call); coroutine methods and async
generators get a task with a cancel scope, so a CANCEL from the caller (timeout, caller gone)
cancels the running method. Special methods start with ``$`` (a Python name never does):
``$subscribe``/``$unsubscribe`` for events and ``$get_property``.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from hubcore.protocol import GET_PROPERTY, SUBSCRIBE, UNSUBSCRIBE, StreamEnd
from hubcore.protocol._codec import Undecodable
from hubcore.rpc._connection import CallHandler, Connection
from hubcore.rpc._tracing import Fault

__all__ = ("Dispatcher", "Published", "Shape", "describe")

log = logging.getLogger("hubcore.rpc")

_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, dict, tuple})


@dataclass(frozen=True)
class Shape:
    """The public surface of an object: plain methods, coroutines, streams, properties."""

    methods: tuple[str, ...]
    coroutines: frozenset[str]
    streams: frozenset[str]
    properties: tuple[str, ...]


def describe(obj: Any, hidden: Collection[str] = ()) -> Shape:
    """Classify the public attributes of ``obj`` (but ``hidden``) without calling a property."""
    methods, coroutines, streams, properties = [], set(), set(), []
    for name in dir(obj):
        if name.startswith("_") or name in hidden:
            continue
        static = inspect.getattr_static(obj, name)
        if isinstance(static, property | functools.cached_property) or not callable(
            getattr(obj, name, None)
        ):
            properties.append(name)
            continue
        methods.append(name)
        fn = getattr(obj, name)
        if inspect.isasyncgenfunction(fn):
            streams.add(name)
        elif inspect.iscoroutinefunction(fn):
            coroutines.add(name)
    return Shape(tuple(methods), frozenset(coroutines), frozenset(streams), tuple(properties))


@dataclass
class Published:
    """An object this process publishes, and who listens to its events."""

    name: str
    obj: Any
    shape: Shape
    instance: int = 0
    generation: int = 0
    subscribers: dict[str, set[Connection]] = field(default_factory=dict)

    def emit(self, event: str, data: Any = None) -> int:
        """Send an event to every subscriber of ``event`` (or of ``"*"``).

        :raises TypeError: ``data`` cannot be encoded.
        :return: how many connections it was sent to.
        """
        targets = self.subscribers.get(event, set()) | self.subscribers.get("*", set())
        for conn in targets:
            conn.send_event(self.name, event, data, self.generation, self.instance)
        return len(targets)


class Dispatcher(CallHandler):
    """Routes calls arriving on any connection to the objects published here."""

    def __init__(self) -> None:
        self.objects: dict[str, Published] = {}
        self.faults: dict[tuple[str, str], Fault] = {}  # injected by a test harness

    def add(
        self, name: str, obj: Any, hidden: Collection[str] = (), shape: Shape | None = None
    ) -> Published:
        """Start serving ``obj`` under ``name`` (the attributes in ``hidden`` stay local).

        :param shape: ``describe(obj, hidden)``, if the caller has it already.
        """
        pub = Published(name, obj, shape or describe(obj, hidden))
        self.objects[name] = pub
        return pub

    def remove(self, name: str) -> None:
        """Stop serving ``name``."""
        self.objects.pop(name, None)

    def handle_call(
        self,
        conn: Connection,
        cid: int,
        target: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        window: int,
    ) -> None:
        pub = self.objects.get(target)
        if pub is None:
            conn.send_error(cid, "LookupError", f"{target!r} is not published by this process")
            return
        bad = _undecodable(args, kwargs)
        if bad is not None:
            conn.send_error(cid, "TypeError", f"{target}.{method}: {bad.message}")
            return
        if method.startswith("$"):
            self._special(conn, cid, pub, method, args)
            return
        if method not in pub.shape.methods:
            conn.send_error(
                cid, "AttributeError", f"{target!r} has no public method {method!r}", args=(method,)
            )
            return
        fn = getattr(pub.obj, method)
        fault = self.faults.get((target, method)) if self.faults else None
        if fault is not None:
            conn.spawn(cid, lambda: _serve_faulted(conn, cid, fault, fn, args, kwargs))
        elif method in pub.shape.streams:
            conn.spawn(cid, lambda: _serve_stream(conn, cid, fn, args, kwargs, window), stream=True)
        else:
            # A coroutine method returns an awaitable here, and only that gets a task.
            _serve_plain(conn, cid, fn, args, kwargs)

    def _special(
        self, conn: Connection, cid: int, pub: Published, method: str, args: list[Any]
    ) -> None:
        arg = args[0] if args and isinstance(args[0], str) else ""
        if method == SUBSCRIBE:
            pub.subscribers.setdefault(arg, set()).add(conn)
            conn.send_result(cid, pub.generation)
        elif method == UNSUBSCRIBE:
            pub.subscribers.get(arg, set()).discard(conn)
            conn.send_result(cid, None)
        elif method == GET_PROPERTY and arg in pub.shape.properties:
            _serve_plain(conn, cid, lambda: getattr(pub.obj, arg), [], {}, what="property")
        else:
            conn.send_error(cid, "AttributeError", f"{pub.name!r} has no property {arg!r}")

    def connection_closed(self, conn: Connection) -> None:
        for pub in self.objects.values():
            for subscribers in pub.subscribers.values():
                subscribers.discard(conn)


def _undecodable(args: list[Any], kwargs: dict[str, Any]) -> Undecodable | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Undecodable):
            return value
    return None


def _serve_plain(
    conn: Connection,
    cid: int,
    fn: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    what: str = "result",
) -> None:
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:
        conn.send_exception(cid, exc)
        return
    # A value of a plain type is no awaitable: that check (an ABC's) costs more than the rest.
    if type(value) not in _PLAIN and inspect.isawaitable(value):
        conn.spawn(cid, lambda: _await_reply(conn, cid, value))
    else:
        conn.send_result(cid, value, what)


async def _serve_faulted(
    conn: Connection,
    cid: int,
    fault: Fault,
    fn: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    try:
        await fault.apply()
        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        conn.send_exception(cid, exc)
        return
    conn.send_result(cid, value)


async def _await_reply(conn: Connection, cid: int, awaitable: Any) -> None:
    try:
        value = await awaitable
    except Exception as exc:
        conn.send_exception(cid, exc)
        return
    conn.send_result(cid, value)


async def _serve_stream(
    conn: Connection,
    cid: int,
    fn: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    window: int,
) -> None:
    try:
        agen = fn(*args, **kwargs)
        try:
            async for item in agen:
                await conn.send_stream_item(cid, item, window or 1)
        finally:
            await agen.aclose()
    except Exception as exc:
        conn.send_exception(cid, exc)
        return
    conn.send_frame(StreamEnd(cid))
