"""The proxy's own operations, as functions that take the proxy first.

They are functions, not proxy methods, so that a proxy's namespace belongs to the published
object: a remote method named ``call``, ``stream`` or ``name`` is reached as ``proxy.call(...)``
like any other. ``hubcore.sync`` has a blocking twin of each, with the same name and signature.

Arguments are checked here, before anything is sent: a wrong type is the caller's mistake and
raises ``TypeError`` on the caller, never a malformed frame on the wire.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from hubcore.client._proxy import Proxy
from hubcore.client._subscriptions import ObjectEvent, Subscription
from hubcore.protocol import GET_PROPERTY

if TYPE_CHECKING:
    from hubcore.rpc._connection import RemoteStream

__all__ = (
    "broadcast",
    "call",
    "check_call",
    "check_call_arguments",
    "check_property_name",
    "events",
    "get_property",
    "name_of",
    "stream",
    "subscribe",
    "with_timeout",
)


async def call(
    proxy: Proxy,
    method: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> Any:
    """Call ``method`` by name: ``await hubcore.call(proxy, "add", (2,), timeout=1.0)``.

    :param timeout: seconds for this call; by default the proxy's.
    :raises TypeError: ``method``, ``args`` or ``kwargs`` is of the wrong type, or ``method``
        is an async generator (use :func:`stream`); nothing was sent.
    :raises ValueError: a negative ``timeout``.
    :raises AttributeError: the object has no such method; nothing was sent.
    :raises CallTimeout: no answer within the timeout (the callee's method is cancelled).
    :raises ProcessCrashed: the publisher died with the call in flight.
    :raises RemoteError: the method raised (also an instance of a builtin remote type).
    :return: the method's result.
    """
    _check_proxy(proxy, "call")
    check_call_arguments("call", method, args, kwargs, timeout)
    return await proxy._checked_call(method, tuple(args), kwargs, timeout)


async def stream(
    proxy: Proxy,
    method: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> RemoteStream:
    """Start an async-generator method by name; iterate the returned stream (close it, or use
    ``async with``, to stop early).

    :raises TypeError: wrong argument types, or ``method`` is not an async generator.
    :raises AttributeError: the object has no such method; nothing was sent.
    :return: the stream (``async for item in stream``).
    """
    _check_proxy(proxy, "stream")
    check_call("stream", method, args, kwargs)
    return await proxy._open_stream(method, tuple(args), dict(kwargs or {}))


async def get_property(proxy: Proxy, name: str) -> Any:
    """Read a public non-callable attribute (or property) of the published object.

    :raises AttributeError: the object has no such property (a ``RemoteError``).
    :return: its value.
    """
    _check_proxy(proxy, "get_property")
    check_property_name(name)
    return await proxy._call_traced(GET_PROPERTY, (name,), None, None)


async def broadcast(proxy: Proxy, method: str, /, *args: Any, **kwargs: Any) -> dict[int, Any]:
    """Call ``method`` on every instance published now, at once.

    :return: instance number -> result, or the exception that instance raised.
    """
    _check_proxy(proxy, "broadcast")
    check_call("broadcast", method, args, kwargs)
    infos = list(proxy._client.directory.instances(proxy._name))
    results: dict[int, Any] = {}

    async def one(instance: int) -> None:
        try:
            pinned = Proxy(proxy._client, proxy._name, timeout=proxy._timeout, instance=instance)
            results[instance] = await pinned._call_traced(method, args, kwargs, None)
        except Exception as exc:
            results[instance] = exc

    async with anyio.create_task_group() as tg:
        for info in infos:
            tg.start_soon(one, info.instance)
    return dict(sorted(results.items()))


def with_timeout(proxy: Proxy, timeout: float | None) -> Proxy:
    """The same proxy with another default call timeout (``None``: no limit).

    :raises TypeError: ``timeout`` is not a number or None.
    :raises ValueError: ``timeout`` is negative.
    """
    _check_proxy(proxy, "with_timeout")
    _check_timeout("with_timeout", timeout)
    return proxy._with_timeout(timeout)


async def subscribe(
    proxy: Proxy, event: str, callback: Callable[[ObjectEvent], Any]
) -> Subscription:
    """Call ``callback(ObjectEvent)`` for each ``event`` (``"*"``: every event) emitted.

    The subscription follows the name across restarts; close it with ``await sub.aclose()``.
    """
    _check_proxy(proxy, "subscribe")
    _check_str("subscribe", "event", event)
    if not callable(callback):
        raise TypeError(f"subscribe(): callback must be callable, got {_describe(callback)}")
    return await proxy._client.subscribe(proxy._name, event, callback)


async def events(proxy: Proxy, event: str = "*") -> Subscription:
    """Subscribe, to iterate: ``async with await hubcore.events(proxy, "x") as sub:`` then
    ``async for event in sub``."""
    _check_proxy(proxy, "events")
    _check_str("events", "event", event)
    return await proxy._client.subscribe(proxy._name, event, None)


def name_of(proxy: Proxy) -> str:
    """The published name ``proxy`` calls."""
    _check_proxy(proxy, "name_of")
    return proxy._name


def check_call(operation: str, method: object, args: object, kwargs: object) -> None:
    """Refuse a method name, positional or keyword arguments of the wrong type.

    :raises TypeError: saying which one and what it should be.
    """
    _check_str(operation, "method", method)
    if not isinstance(args, tuple | list):
        raise TypeError(
            f"{operation}(): args must be a tuple or list of positional arguments, got "
            f"{_describe(args)} (one argument is written ({reprlib.repr(args)},))"
        )
    if kwargs is None:
        return
    if not isinstance(kwargs, dict):
        raise TypeError(
            f"{operation}(): kwargs must be a dict of keyword arguments, got {_describe(kwargs)}"
        )
    for key in kwargs:
        if not isinstance(key, str):
            raise TypeError(
                f"{operation}(): kwargs keys must be argument names (str), got {_describe(key)}"
            )


def check_call_arguments(
    operation: str, method: object, args: object, kwargs: object, timeout: object
) -> None:
    """:func:`check_call`, and a timeout that is a number of seconds or None.

    :raises TypeError: saying which argument is wrong and what it should be.
    :raises ValueError: a negative timeout.
    """
    check_call(operation, method, args, kwargs)
    _check_timeout(operation, timeout)


def check_property_name(name: object) -> None:
    """Refuse a property name that is not a str (``get_property``).

    :raises TypeError: saying so.
    """
    _check_str("get_property", "name", name)


def _check_proxy(proxy: object, operation: str) -> None:
    if isinstance(proxy, Proxy):
        return
    hint = ""
    if type(proxy).__module__ == "hubcore.sync":
        hint = f"; for a blocking proxy use hubcore.sync.{operation}(proxy, ...)"
    raise TypeError(f"{operation}() takes a hubcore.Proxy first, got {_describe(proxy)}{hint}")


def _check_str(operation: str, what: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{operation}(): {what} must be a str, got {_describe(value)}")


def _check_timeout(operation: str, timeout: object) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"{operation}(): timeout must be a number of seconds or None, got {_describe(timeout)}"
        )
    if timeout < 0:
        raise ValueError(f"{operation}(): timeout must be >= 0 seconds (or None), got {timeout}")


def _describe(value: object) -> str:
    """``int 7``: the type, and a short repr (never a long or deep one)."""
    return f"{type(value).__name__} {reprlib.repr(value)}"
