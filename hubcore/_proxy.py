"""Proxies: attribute access becomes a remote call, ``dir()`` lists remote methods.

A proxy holds a name, not a process: each call picks an instance from the client's directory
mirror, so a proxy outlives restarts. A call whose instance is gone (connection refused, the
publisher died before the call left, or it left on purpose before taking the call) waits,
within the same timeout, for a newer generation. A call that may have run is never re-sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from hubcore._directory import ObjectInfo
from hubcore._errors import CallNotTaken, CallTimeout, ConnectionLost, ProcessCrashed
from hubcore._tracing import Tracer

if TYPE_CHECKING:
    from hubcore._peer import Connection, RemoteStream
    from hubcore._subscriptions import Subscription

__all__ = ("ObjectEvent", "Proxy", "ProxyClient", "RemoteMethod")


@dataclass(frozen=True)
class ObjectEvent:
    """An event a published object emitted: its name, data, and which instance/generation."""

    source: str
    name: str
    data: Any
    generation: int
    instance: int


_OUTCOMES = {"CallTimeout": "timeout", "ProcessCrashed": "crash"}


class ProxyClient(Protocol):
    """What a proxy needs from a client."""

    directory: Any
    tracer: Tracer | None

    async def resolve(
        self, name: str, instance: int | None, timeout: float | None, exclude: frozenset[int] = ...
    ) -> ObjectInfo: ...

    async def connection(self, info: ObjectInfo) -> Connection: ...

    def open_connection(self, info: ObjectInfo) -> Connection | None: ...

    async def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription: ...


class Proxy:
    """A stand-in for a published object: ``await proxy.method(*args, **kwargs)``."""

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

    @property
    def name(self) -> str:
        """The published name this proxy calls."""
        return self._name

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
        methods = self._current_methods()
        if attr not in methods:
            raise AttributeError(
                f"{self._name!r} has no remote method {attr!r}; it has: {', '.join(methods)}"
            )
        return RemoteMethod(self, attr, self._timeout)

    def with_timeout(self, timeout: float | None) -> Proxy:
        """The same proxy with another default call timeout."""
        return Proxy(
            self._client,
            self._name,
            timeout=timeout,
            instance=self._instance,
            methods=self._methods,
        )

    async def call(
        self,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` by name (what attribute access does, with an explicit timeout).

        :raises CallTimeout: no answer within the timeout (the callee's method is cancelled).
        :raises ProcessCrashed: the publisher died with the call in flight.
        :raises RemoteError: the method raised (also an instance of a builtin remote type).
        """
        timeout = self._timeout if timeout is None else timeout
        tracer = self._client.tracer
        if tracer is None:
            return await self._call(method, args, kwargs, timeout, [])
        started, callee = time.perf_counter(), [("", 0)]
        outcome, detail = "error", None
        try:
            detail = await self._call(method, args, kwargs, timeout, callee)
            outcome = "result"
            return detail
        except Exception as exc:
            outcome = _OUTCOMES.get(type(exc).__name__, "error")
            detail = exc
            raise
        finally:
            call = (args, kwargs or {})
            tracer.record(callee[-1], self._name, method, call, outcome, detail, started)

    async def _call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
        callee: list[tuple[str, int]],
    ) -> Any:
        deadline = None if timeout is None else anyio.current_time() + timeout
        dead: frozenset[int] = frozenset()
        while True:
            info = await self._client.resolve(self._name, self._instance, _left(deadline), dead)
            callee.append((info.process, info.instance))
            sent_at = time.time()
            try:
                conn = self._client.open_connection(info) or await _connect(
                    self._client, info, deadline
                )
            except ConnectionLost:
                dead |= {info.generation}  # nothing listens: its process is gone
                continue
            except TimeoutError:
                raise _timeout(self._name, method, timeout) from None
            try:
                return await conn.call(self._name, method, args, kwargs, timeout=_left(deadline))
            except CallTimeout:
                raise _timeout(self._name, method, timeout) from None
            except ProcessCrashed as exc:
                if exc.ended_at is None or exc.ended_at >= sent_at:
                    raise
                # Dead before the call left: it never ran, so it goes to the process that
                # publishes the name next, within the same deadline.
            except CallNotTaken:
                pass  # its publisher left before taking it: it goes to the next one
            except ConnectionLost:
                if conn.goodbye or not conn.closed:
                    raise  # it may have run (at most once): not sent again
            dead |= {info.generation}

    async def get_property(self, name: str) -> Any:
        """Read a public non-callable attribute of the published object."""
        return await self.call("$get_property", (name,))

    async def broadcast(self, method: str, *args: Any, **kwargs: Any) -> dict[int, Any]:
        """Call ``method`` on every published instance at once.

        :return: instance number -> result, or the exception that instance raised.
        """
        infos = list(self._client.directory.instances(self._name))
        results: dict[int, Any] = {}

        async def one(instance: int) -> None:
            try:
                pinned = Proxy(self._client, self._name, timeout=self._timeout, instance=instance)
                results[instance] = await pinned.call(method, args, kwargs)
            except Exception as exc:
                results[instance] = exc

        async with anyio.create_task_group() as tg:
            for info in infos:
                tg.start_soon(one, info.instance)
        return dict(sorted(results.items()))

    async def stream(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> RemoteStream:
        """Start an async-generator method; iterate the returned stream."""
        deadline = None if self._timeout is None else anyio.current_time() + self._timeout
        info = await self._client.resolve(self._name, self._instance, _left(deadline))
        try:
            conn = self._client.open_connection(info) or await _connect(
                self._client, info, deadline
            )
        except TimeoutError:
            raise _timeout(self._name, method, self._timeout) from None
        return conn.open_stream(self._name, method, args, kwargs, timeout=self._timeout)

    async def subscribe(self, event: str, callback: Callable[[ObjectEvent], Any]) -> Subscription:
        """Call ``callback(ObjectEvent)`` for each ``event`` (``"*"``: every event) emitted.

        The subscription follows the name across restarts; close it with ``await sub.aclose()``.
        """
        return await self._client.subscribe(self._name, event, callback)

    async def events(self, event: str = "*") -> Subscription:
        """Subscribe, to iterate: ``async with await proxy.events("x") as sub:``
        then ``async for event in sub``."""
        return await self._client.subscribe(self._name, event, None)


class RemoteMethod:
    """A remote method: call it (and await), or iterate it if it is an async generator."""

    def __init__(self, proxy: Proxy, method: str, timeout: float | None) -> None:
        self._proxy = proxy
        self._method = method
        self._timeout = timeout

    def with_timeout(self, timeout: float | None) -> RemoteMethod:
        """The same method with another timeout for its calls."""
        return RemoteMethod(self._proxy, self._method, timeout)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        info = self._proxy._client.directory.peek(self._proxy.name, self._proxy._instance)
        if info is not None and self._method in info.streams:
            return _LazyStream(self._proxy.with_timeout(self._timeout), self._method, args, kwargs)
        return self._proxy.call(self._method, args, kwargs, timeout=self._timeout)


class _LazyStream:
    """``proxy.items()`` for an async generator: opens the remote stream on first iteration."""

    def __init__(
        self, proxy: Proxy, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._proxy = proxy
        self._call = (method, args, kwargs)
        self._stream: RemoteStream | None = None

    def __aiter__(self) -> _LazyStream:
        return self

    async def __anext__(self) -> Any:
        if self._stream is None:
            self._stream = await self._proxy.stream(*self._call)
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


async def _connect(client: ProxyClient, info: ObjectInfo, deadline: float | None) -> Connection:
    with anyio.fail_after(_left(deadline)):  # a stopped process never finishes the handshake
        return await client.connection(info)


def _timeout(name: str, method: str, timeout: float | None) -> CallTimeout:
    return CallTimeout(
        f"{name}.{method} did not answer within {timeout:g}s (the call was cancelled on the callee)"
    )


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - anyio.current_time())
