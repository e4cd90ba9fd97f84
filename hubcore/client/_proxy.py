"""Proxies: attribute access becomes a remote call, ``dir()`` lists remote methods.

A proxy holds a name, not a process: each call picks an instance from the client's directory
mirror, so a proxy outlives restarts. A call whose instance is gone (connection refused, the
publisher died before the call left, or it left on purpose before taking the call) waits,
within the same timeout, for a newer generation. A call that may have run is never re-sent.

A proxy has no public attribute of its own, so every public method of the published object is
reachable as ``proxy.<name>``; the proxy's own operations (a call by name, streams, properties,
broadcast, events, timeouts) are functions that take the proxy first (``_proxy_ops``). While
the name is not published (a restart), the methods are not known: ``proxy.<name>(...)`` then
waits for the name, within the call's timeout, and checks the method exists before sending.
"""

from __future__ import annotations

import keyword
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from hubcore._directory import ObjectInfo
from hubcore._errors import (
    CallTimeout,
    ConnectionLost,
)
from hubcore.client._rules import CallRecorder, check_method, never_ran, timed_out
from hubcore.client._rules import call_timeout as _timeout
from hubcore.client._rules import no_method_message as _no_method_message
from hubcore.rpc._chain import SERVING, chained
from hubcore.rpc._tracing import Tracer

if TYPE_CHECKING:
    from hubcore.client._subscriptions import ObjectEvent, Subscription
    from hubcore.rpc._connection import Connection, RemoteStream

__all__ = (
    "IS_A_STREAM",
    "Proxy",
    "ProxyClient",
    "RemoteMethod",
    "proxy_attributes",
    "unreachable",
)


#: What ``Proxy._checked_call(..., streams_ok=True)`` returns for an async-generator method.
IS_A_STREAM: Any = object()


class ProxyClient(Protocol):
    """What a proxy needs from a client."""

    directory: Any
    tracer: Tracer | None

    async def resolve(
        self, name: str, instance: int | None, timeout: float | None, exclude: frozenset[int] = ...
    ) -> ObjectInfo: ...

    async def connection(self, info: ObjectInfo) -> Connection: ...

    def existing_connection(self, info: ObjectInfo) -> Connection | None: ...

    async def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription: ...


class Proxy:
    """A stand-in for a published object: ``await proxy.method(*args, **kwargs)``.

    It has no public attribute of its own: its operations are the functions ``hubcore.call``,
    ``hubcore.stream``, ``hubcore.get_property``, ``hubcore.broadcast``,
    ``hubcore.with_timeout``, ``hubcore.subscribe``, ``hubcore.events`` and
    ``hubcore.name_of``, which take the proxy first.
    """

    def __init__(
        self,
        client: ProxyClient,
        name: str,
        *,
        timeout: float | None = 10.0,
        instance: int | None = None,
        methods: tuple[str, ...] = (),
    ) -> None:
        self._client = client
        self._name = name
        self._timeout = timeout
        self._instance = instance
        self._methods = methods

    def __repr__(self) -> str:
        pinned = "" if self._instance is None else f", instance={self._instance}"
        return f"<Proxy {self._name!r}{pinned} timeout={self._timeout}>"

    def _current_methods(self) -> tuple[str, ...]:
        info = self._client.directory.peek(self._name, self._instance)
        if info is not None:
            self._methods = info.methods
        return self._methods

    def __dir__(self) -> list[str]:
        return sorted(self._current_methods())

    def __getattr__(self, attr: str) -> RemoteMethod:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._lookup(attr)

    def _lookup(self, attr: str) -> RemoteMethod:
        """The remote method ``attr``.

        :raises AttributeError: the object is published and has no such method (locally).
        """
        info = self._client.directory.peek(self._name, self._instance)
        if info is not None:
            self._methods = info.methods
            if attr not in info.methods:
                raise AttributeError(_no_method_message(self._name, attr, info))
        # Not published right now (a restart, or not yet): the call waits for it and checks.
        return RemoteMethod(self, attr, self._timeout)

    def _with_timeout(self, timeout: float | None) -> Proxy:
        return Proxy(
            self._client,
            self._name,
            timeout=timeout,
            instance=self._instance,
            methods=self._methods,
        )

    async def _checked_call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
        *,
        streams_ok: bool = False,
    ) -> Any:
        """Call ``method`` after checking that the object has it, waiting (within the timeout)
        for the name if it is not published right now.

        :raises AttributeError: the object has no method ``method`` (nothing was sent).
        :raises TypeError: ``method`` is an async generator (unless ``streams_ok``).
        :return: the result, or :data:`IS_A_STREAM` for a stream when ``streams_ok``.
        """
        timeout = self._timeout if timeout is None else timeout
        if (served := SERVING.get()) is not None:  # waiting for the name counts too
            timeout = chained(served, timeout).timeout
        info = self._client.directory.peek(self._name, self._instance)
        if info is None:
            started = time.monotonic()
            info = await self._client.resolve(self._name, self._instance, timeout)
            left = None if timeout is None else _left(started + timeout)
        else:
            left = timeout
        if check_method(self._name, method, info, streams_ok=streams_ok):
            return IS_A_STREAM
        try:
            return await self._call_traced(method, args, kwargs, left)
        except CallTimeout as exc:
            if left == timeout or SERVING.get() is not None:
                raise  # a call of a chain names the chain's deadline
            raise timed_out(self._name, method, timeout, None, exc) from None  # the whole timeout

    async def _call_traced(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
    ) -> Any:
        """Call ``method`` (``timeout=None``: the proxy's), recorded if the client traces.

        :raises CallTimeout: no answer within the timeout (the callee's method is cancelled).
        :raises ProcessCrashed: the publisher died with the call in flight.
        :raises RemoteError: the method raised (also an instance of a builtin remote type).
        """
        timeout = self._timeout if timeout is None else timeout
        tracer = self._client.tracer
        if tracer is None:
            return await self._call(method, args, kwargs, timeout, None)
        record = CallRecorder(tracer, self._name, method, args, kwargs)
        try:
            value = await self._call(method, args, kwargs, timeout, record.callee, record.call_id)
        except BaseException as exc:
            record.failed(exc)
            raise
        record.returned(value)
        return value

    async def _call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
        callee: list[tuple[str, int]] | None,
        call_id: str = "",
    ) -> Any:
        """The call, sent again to the next publisher while it was not taken. Made while
        serving a call, it waits no longer than that call's caller does.

        :param callee: gets the process and instance of each publisher tried (for a record).
        :param call_id: the call's id in this client's record, if it keeps one.
        """
        client = self._client
        budget = chain = None
        if (served := SERVING.get()) is not None:
            chain = chained(served, timeout)
            timeout, budget = chain.timeout, chain.budget
        deadline = None if timeout is None else time.monotonic() + timeout
        dead: frozenset[int] = frozenset()
        while True:
            # The common case (published, connected) awaits nothing before the call itself.
            info = client.directory.pick(self._name, self._instance)
            if info is None or info.generation in dead:
                info = await client.resolve(self._name, self._instance, _left(deadline), dead)
            if callee is not None:
                callee.append((info.process, info.instance))
            sent_at = time.time()
            try:
                conn = client.existing_connection(info) or await _connect(client, info, deadline)
            except ConnectionLost:
                dead |= {info.generation}  # nothing listens: its process is gone
                continue
            except TimeoutError:
                raise timed_out(self._name, method, timeout, chain) from None
            try:
                # Connection.call's own work, without its coroutine: one fewer per call.
                return await conn.calls.call(
                    self._name, method, args, kwargs or {}, _left(deadline), budget, call_id
                )
            except CallTimeout as exc:
                raise timed_out(self._name, method, timeout, chain, exc) from None
            except ConnectionLost as exc:
                if not never_ran(exc, sent_at, goodbye=conn.goodbye, closed=conn.closed):
                    raise  # it may have run (at most once): not sent again
            # It never ran: it goes to the process that publishes the name next, within the
            # same deadline.
            dead |= {info.generation}

    async def _open_stream(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None = None,
    ) -> RemoteStream:
        """Start an async-generator method (waiting for the name); iterate the result.

        :raises AttributeError: the object has no method ``method`` (nothing was sent).
        :raises TypeError: ``method`` is not an async generator (nothing was sent).
        """
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        info = await self._client.resolve(self._name, self._instance, _left(deadline))
        if method not in info.methods:
            raise AttributeError(_no_method_message(self._name, method, info))
        if method not in info.streams:
            raise TypeError(
                f"{self._name}.{method} is not an async generator: await it "
                "(by name: hubcore.call), do not iterate it"
            )
        try:
            conn = self._client.existing_connection(info) or await _connect(
                self._client, info, deadline
            )
        except TimeoutError:
            raise _timeout(self._name, method, timeout) from None
        return conn.open_stream(self._name, method, args, kwargs, timeout=timeout)


class RemoteMethod:
    """A remote method: call it (and await), or iterate it if it is an async generator."""

    def __init__(self, proxy: Proxy, method: str, timeout: float | None) -> None:
        self._proxy = proxy
        self._method = method
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<remote method {self._proxy._name}.{self._method}>"

    def with_timeout(self, timeout: float | None) -> RemoteMethod:
        """The same method with another timeout for its calls."""
        return RemoteMethod(self._proxy, self._method, timeout)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        proxy = self._proxy
        info = proxy._client.directory.peek(proxy._name, proxy._instance)
        if info is None:  # not published right now: await it or iterate it, once it is back
            return _PendingCall(proxy, self._method, args, kwargs, self._timeout)
        if self._method in info.streams:
            return _LazyStream(proxy, self._method, args, kwargs, self._timeout)
        if proxy._client.tracer is None:  # one coroutine less on the common path
            timeout = proxy._timeout if self._timeout is None else self._timeout
            return proxy._call(self._method, args, kwargs, timeout, None)
        return proxy._call_traced(self._method, args, kwargs, self._timeout)


class _LazyStream:
    """``proxy.items()`` for an async generator: opens the remote stream on first iteration."""

    def __init__(
        self,
        proxy: Proxy,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> None:
        self._proxy = proxy
        self._call = (method, args, kwargs, timeout)
        self._stream: RemoteStream | None = None

    def __aiter__(self) -> _LazyStream:
        return self

    async def __anext__(self) -> Any:
        if self._stream is None:
            self._stream = await self._proxy._open_stream(*self._call)
        return await self._stream.__anext__()

    async def aclose(self) -> None:
        """Stop the stream early (the remote generator is cancelled)."""
        if self._stream is not None:
            await self._stream.aclose()

    async def __aenter__(self) -> _LazyStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __await__(self) -> Any:
        raise TypeError(f"{self._call[0]} is an async generator: use `async for`, not `await`")


class _PendingCall(_LazyStream):
    """``proxy.method(...)`` while the name is not published: whether the method is a stream
    is not known yet, so it can be awaited (a call) or iterated (a stream). Either waits for
    the name within the timeout, then checks the method before anything is sent."""

    def __await__(self) -> Any:
        method, args, kwargs, timeout = self._call
        return self._proxy._checked_call(method, args, kwargs, timeout).__await__()


def proxy_attributes() -> frozenset[str]:
    """The public attribute names of :class:`Proxy`: a remote method by one of those names
    could not be reached as ``proxy.<name>`` (empty today; kept right if one is added)."""
    return frozenset(name for name in dir(Proxy) if not name.startswith("_"))


def unreachable(method: str) -> str | None:
    """Why ``proxy.<method>`` cannot reach a remote method of that name; None if it can."""
    if not method.isidentifier():
        return "it is not a Python identifier"
    if keyword.iskeyword(method):
        return "it is a Python keyword"
    if method in proxy_attributes():
        return "hubcore.Proxy has an attribute of that name"
    return None


async def _connect(client: ProxyClient, info: ObjectInfo, deadline: float | None) -> Connection:
    with anyio.fail_after(_left(deadline)):  # a stopped process never finishes the handshake
        return await client.connection(info)


def _left(deadline: float | None) -> float | None:
    # The monotonic clock, not the loop's: only differences of it are passed on, and reading
    # the loop's through anyio costs a backend lookup on every call.
    return None if deadline is None else max(0.0, deadline - time.monotonic())
