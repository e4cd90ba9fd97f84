"""The blocking facade: hubcore's operations for code without an event loop.

A client's event loop runs in one portal thread (``anyio.from_thread``): it keeps the hub
connection and the directory mirror, serves what this process publishes, and runs streams and
subscriptions; each of those methods is one call of its async twin through the portal. A call
to a published name skips the portal: the calling thread sends it and reads the reply on a
connection of its own (:class:`hubcore.client._blocking.BlockingCalls`), decided by the same
rules as the async call.

    with hubcore.sync.connect() as client:
        proxy = client.get_proxy("process_info")
        pid = proxy.get_pid()
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Collection, Iterator
from functools import partial
from types import TracebackType
from typing import Any

from hubcore._directory import ObjectInfo
from hubcore.client import _api, _proxy_ops
from hubcore.client._blocking import BlockingCalls
from hubcore.client._client import Client as AsyncClient
from hubcore.client._client import Publication as AsyncPublication
from hubcore.client._portal import before_stop, lock
from hubcore.client._portal import call_kw as _call_kw
from hubcore.client._portal import in_portal_thread as _in_portal_thread
from hubcore.client._portal import portal as portal  # used by pytest_hub and tests
from hubcore.client._portal import run as _run
from hubcore.client._proxy import IS_A_STREAM
from hubcore.client._proxy import Proxy as AsyncProxy
from hubcore.client._rules import check_method
from hubcore.client._subscriptions import ObjectEvent
from hubcore.client._subscriptions import Subscription as AsyncSubscription
from hubcore.protocol import DEFAULT_MAX_FRAME, GET_PROPERTY
from hubcore.rpc import Tracer

__all__ = (
    "Client",
    "Proxy",
    "Publication",
    "Subscription",
    "broadcast",
    "call",
    "connect",
    "events",
    "get_property",
    "get_proxy",
    "name_of",
    "publish_object",
    "stream",
    "subscribe",
    "with_timeout",
)

_default: Client | None = None
# The blocking calls of each client, for the proxies made from it (hubcore.sync.Proxy(p)).
_blocking: weakref.WeakKeyDictionary[object, BlockingCalls] = weakref.WeakKeyDictionary()


def _close_default() -> None:
    """At exit, before the portal stops: the default client says goodbye through it."""
    global _default
    if _default is not None:
        _default.close()
        _default = None


before_stop(_close_default)


class Client:
    """A blocking hub client: ``with hubcore.sync.connect() as client: ...``."""

    def __init__(self, client: AsyncClient) -> None:
        self._async = client
        self._cm = portal().wrap_async_context_manager(client)
        self._cm.__enter__()
        self._calls = _blocking[client] = BlockingCalls(
            client,
            lambda *args: _run(partial(client.resolve, *args)),
            lambda conn: _run(partial(client._crash_error, conn)),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def hub_down_since(self) -> float | None:
        """See :attr:`hubcore.Client.hub_down_since`."""
        return self._async.hub_down_since

    @property
    def tracer(self) -> Tracer | None:
        """Where this client records the calls it makes (None: it records none).

        Set it to a :class:`hubcore.Tracer` to record them, as a test harness does; calls from
        every thread are recorded.
        """
        return self._async.tracer

    @tracer.setter
    def tracer(self, tracer: Tracer | None) -> None:
        self._async.tracer = tracer

    def close(self) -> None:
        """Withdraw this process's publications and close every connection."""
        self._calls.close()
        if not self._async.closed:
            self._cm.__exit__(None, None, None)

    def publish(self, name: str, obj: Any, *, hidden: Collection[str] = ()) -> Publication:
        """See :meth:`hubcore.Client.publish`; methods run in the portal thread."""
        return Publication(_call_kw(self._async.publish, name, obj, hidden=hidden))

    def unpublish(self, name: str) -> None:
        """See :meth:`hubcore.Client.unpublish`."""
        portal().call(self._async.unpublish, name)

    def get_proxy(self, name: str, *, timeout: float = 10.0, instance: int | None = None) -> Proxy:
        """See :meth:`hubcore.Client.get_proxy`."""
        return Proxy(_call_kw(self._async.get_proxy, name, timeout=timeout, instance=instance))

    def get_proxy_nowait(
        self, name: str, *, timeout: float = 10.0, instance: int | None = None
    ) -> Proxy:
        """See :meth:`hubcore.Client.get_proxy_nowait`: a proxy at once, or ObjectNotFound."""
        return Proxy(self._async.get_proxy_nowait(name, timeout=timeout, instance=instance))

    def objects(self) -> list[ObjectInfo]:
        """See :meth:`hubcore.Client.objects`."""
        return portal().call(self._async.objects)

    def processes(self) -> list[dict[str, Any]]:
        """See :meth:`hubcore.Client.processes`."""
        return portal().call(self._async.processes)

    def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription:
        """See :meth:`hubcore.Client.subscribe`; callbacks run in the portal thread."""
        return Subscription(portal().call(self._async.subscribe, name, event, callback))


class Publication:
    """See :class:`hubcore.Publication`."""

    def __init__(self, publication: AsyncPublication) -> None:
        self._async = publication
        self.info = publication.info
        self.name = publication.name
        self.generation = publication.generation

    def emit(self, event: str, data: Any = None) -> int:
        """See :meth:`hubcore.Publication.emit`."""
        if _in_portal_thread():  # e.g. from a published method: already on the loop
            return self._async.emit(event, data)
        count: int = portal().call(_sync_to_async(self._async.emit), event, data)
        return count

    def unpublish(self) -> None:
        """See :meth:`hubcore.Publication.unpublish`."""
        portal().call(self._async.unpublish)


class Proxy:
    """A blocking proxy: ``proxy.method(*args)`` returns the result.

    Like :class:`hubcore.Proxy`, it has no public attribute of its own: its operations are
    the functions of this module (``hubcore.sync.call(proxy, ...)``, ...).
    """

    def __init__(self, proxy: AsyncProxy) -> None:
        self._async = proxy
        # None for a proxy of a client hubcore.sync does not run: its calls use the portal.
        self._calls = _blocking.get(proxy._client)

    def __repr__(self) -> str:
        return repr(self._async).replace("<Proxy", "<sync.Proxy", 1)

    def __dir__(self) -> list[str]:
        return dir(self._async)

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("_"):
            raise AttributeError(attr)
        proxy = self._async
        info = proxy._client.directory.peek(proxy._name, proxy._instance)
        if info is not None and attr not in info.methods:
            proxy._lookup(attr)  # the AttributeError for an unknown method, locally
        return _Method(self, attr)

    def _invoke(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        proxy = self._async
        info = proxy._client.directory.peek(proxy._name, proxy._instance)
        if info is None:  # not published right now: wait for it, then call or stream
            value = _call_kw(proxy._checked_call, method, args, kwargs, None, streams_ok=True)
            return _iterate(proxy, method, args, kwargs) if value is IS_A_STREAM else value
        if method in info.streams:
            return _iterate(proxy, method, args, kwargs)
        calls = self._calls
        if calls is None or _in_portal_thread():
            return _call_kw(proxy._call_traced, method, args, kwargs, None)
        return calls.call(
            proxy._name, method, args, kwargs, instance=proxy._instance, timeout=proxy._timeout
        )


class _Method:
    """``proxy.method``: call it (blocking); an async-generator method gives an iterator."""

    __slots__ = ("_method", "_proxy")

    def __init__(self, proxy: Proxy, method: str) -> None:
        self._proxy = proxy
        self._method = method

    def __repr__(self) -> str:
        return f"<remote method {self._proxy._async._name}.{self._method}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._proxy._invoke(self._method, args, kwargs)


class Subscription:
    """See :class:`hubcore.Subscription`; iterating blocks until the next event."""

    def __init__(self, subscription: AsyncSubscription) -> None:
        self._async = subscription

    def __iter__(self) -> Iterator[ObjectEvent]:
        while True:
            try:
                yield portal().call(self._async.__anext__)
            except StopAsyncIteration:
                return

    def close(self) -> None:
        """See :meth:`hubcore.Subscription.aclose`."""
        portal().call(self._async.aclose)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iterate(
    proxy: AsyncProxy, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[Any]:
    stream = portal().call(proxy._open_stream, method, args, kwargs)
    try:
        while True:
            try:
                yield portal().call(stream.__anext__)
            except StopAsyncIteration:
                return
    finally:
        portal().call(stream.aclose)


def _blocking_calls(proxy: Proxy) -> BlockingCalls | None:
    """The blocking calls for ``proxy``, or None where its calls must use the portal (a
    proxy of a client that hubcore.sync does not run, or a call from the portal thread,
    which would block the event loop it needs)."""
    return None if _in_portal_thread() else proxy._calls


def _sync_to_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def run(*args: Any) -> Any:
        return fn(*args)

    return run


def connect(
    address: str | os.PathLike[str] | None = None,
    *,
    app: str | os.PathLike[str] | None = None,
    token: bytes | str | None = None,
    process: str | None = None,
    instance: int | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME,
    reconnect: bool = True,
) -> Client:
    """See :func:`hubcore.connect`; the result is connected already (close it, or use ``with``)."""
    client = _api.connect(
        address,
        app=app,
        token=token,
        process=process,
        instance=instance,
        max_frame_size=max_frame_size,
        reconnect=reconnect,
    )
    return Client(client)


def default_client() -> Client:
    """The process-wide blocking client, connected from the environment on first use."""
    global _default
    with lock:
        if _default is None or _default._async.closed:
            _default = connect()
        return _default


def publish_object(name: str, obj: Any) -> Publication:
    """See :func:`hubcore.publish_object`."""
    return default_client().publish(name, obj)


def get_proxy(name: str, *, timeout: float = 10.0, instance: int | None = None) -> Proxy:
    """See :func:`hubcore.get_proxy`."""
    return default_client().get_proxy(name, timeout=timeout, instance=instance)


# -- the proxy's own operations (see hubcore.client._proxy_ops) ------------------------------------


def call(
    proxy: Proxy,
    method: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> Any:
    """See :func:`hubcore.call`."""
    async_proxy = _unwrap(proxy, "call")
    calls = _blocking_calls(proxy)
    info = async_proxy._client.directory.peek(async_proxy._name, async_proxy._instance)
    if calls is None or info is None:  # not published now: wait for it on the event loop
        return _call_kw(_proxy_ops.call, async_proxy, method, args, kwargs, timeout=timeout)
    _proxy_ops.check_call_arguments("call", method, args, kwargs, timeout)
    check_method(async_proxy._name, method, info, streams_ok=False)
    if timeout is None:
        timeout = async_proxy._timeout
    name, instance = async_proxy._name, async_proxy._instance
    return calls.call(name, method, tuple(args), kwargs, instance=instance, timeout=timeout)


def stream(
    proxy: Proxy,
    method: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """See :func:`hubcore.stream`; the stream opens on the first step, each step blocks."""
    _proxy_ops.check_call("stream", method, args, kwargs)  # now, not at the first step
    return _iterate(_unwrap(proxy, "stream"), method, tuple(args), dict(kwargs or {}))


def get_property(proxy: Proxy, name: str) -> Any:
    """See :func:`hubcore.get_property`."""
    async_proxy = _unwrap(proxy, "get_property")
    calls = _blocking_calls(proxy)
    if calls is None:
        return portal().call(_proxy_ops.get_property, async_proxy, name)
    _proxy_ops.check_property_name(name)
    return calls.call(
        async_proxy._name,
        GET_PROPERTY,
        (name,),
        None,
        instance=async_proxy._instance,
        timeout=async_proxy._timeout,
    )


def broadcast(proxy: Proxy, method: str, /, *args: Any, **kwargs: Any) -> dict[int, Any]:
    """See :func:`hubcore.broadcast`."""
    results: dict[int, Any] = _call_kw(
        _proxy_ops.broadcast, _unwrap(proxy, "broadcast"), method, *args, **kwargs
    )
    return results


def with_timeout(proxy: Proxy, timeout: float | None) -> Proxy:
    """See :func:`hubcore.with_timeout`."""
    return Proxy(_proxy_ops.with_timeout(_unwrap(proxy, "with_timeout"), timeout))


def subscribe(proxy: Proxy, event: str, callback: Callable[[ObjectEvent], Any]) -> Subscription:
    """See :func:`hubcore.subscribe`; the callback runs in the portal thread."""
    async_proxy = _unwrap(proxy, "subscribe")
    return Subscription(portal().call(_proxy_ops.subscribe, async_proxy, event, callback))


def events(proxy: Proxy, event: str = "*") -> Subscription:
    """See :func:`hubcore.events`; iterate the result (blocking)."""
    return Subscription(portal().call(_proxy_ops.events, _unwrap(proxy, "events"), event))


def name_of(proxy: Proxy) -> str:
    """See :func:`hubcore.name_of`."""
    return _proxy_ops.name_of(_unwrap(proxy, "name_of"))


def _unwrap(proxy: object, operation: str) -> AsyncProxy:
    if isinstance(proxy, Proxy):
        return proxy._async
    hint = ""
    if isinstance(proxy, AsyncProxy):
        hint = f"; for a hubcore.Proxy use `await hubcore.{operation}(proxy, ...)`"
    raise TypeError(
        f"hubcore.sync.{operation}() takes a hubcore.sync.Proxy first, "
        f"got {type(proxy).__name__}{hint}"
    )
