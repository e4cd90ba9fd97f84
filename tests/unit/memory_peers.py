"""Processes played in memory, for unit tests of what sits above the transport.

- :func:`connection_pair`: two real :class:`Connection` objects back to back over a
  :func:`memory_stream_pair` (as h11's ``ConnectionPair``), the callee serving a
  :class:`Dispatcher`;
- :class:`Publisher`: one publishing "process" (a generation of a name) that can crash
  (its streams vanish) or leave (its connections say GOODBYE);
- :class:`MemoryClient`: what a proxy (``ProxyClient``) and subscriptions
  (``SubscriptionOwner``) need from a client, with a directory the test edits as the hub would.

The asyncio backends run the connections' writer-less path (their streams have
``write_nowait``, as asyncio's do); trio runs the writer task, as in production.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from hubcore import ConnectionLost, ObjectNotFound, ProcessCrashed
from hubcore._directory import Directory, ObjectInfo
from hubcore.client._subscriptions import ObjectEvent, Subscription, Subscriptions
from hubcore.rpc import Connection, Dispatcher, Published
from hubcore.rpc._tracing import Tracer
from hubcore.transport._backend import running_backend
from hubcore.transport.memory import MemoryStream, memory_stream_pair

__all__ = ("MemoryClient", "Pair", "Publisher", "connection_pair", "on_asyncio")


def on_asyncio() -> bool:
    """Whether the running loop is asyncio's (uvloop included): its streams write without
    a task, so the memory streams get ``write_nowait`` there too."""
    return running_backend() == "asyncio"


@dataclass
class Pair:
    """A caller and a callee connection and the two stream ends under them."""

    caller: Connection
    callee: Connection
    caller_end: MemoryStream
    callee_end: MemoryStream
    dispatcher: Dispatcher
    tg: anyio.abc.TaskGroup

    def publish(self, name: str, obj: Any) -> Published:
        """Serve ``obj`` under ``name`` on the callee."""
        return self.dispatcher.add(name, obj)


@asynccontextmanager
async def connection_pair(*, max_frame: int | None = None) -> AsyncIterator[Pair]:
    """Two running connections back to back; both are closed on exit."""
    caller_end, callee_end = memory_stream_pair(write_nowait=on_asyncio())
    limits = {} if max_frame is None else {"max_frame": max_frame}
    dispatcher = Dispatcher()
    caller = Connection(caller_end, label="callee", remote={"process": "callee"}, **limits)
    callee = Connection(callee_end, handler=dispatcher, label="caller", **limits)
    callee.identity = ("callee", 3)
    async with anyio.create_task_group() as tg:
        await tg.start(caller.run)
        await tg.start(callee.run)
        yield Pair(caller, callee, caller_end, callee_end, dispatcher, tg)
        tg.cancel_scope.cancel()


class Publisher:
    """One generation of a published name, in its own pretend process."""

    def __init__(self, client: MemoryClient, name: str, obj: Any, generation: int) -> None:
        self.dispatcher = Dispatcher()
        self.published = self.dispatcher.add(name, obj)
        self.published.generation = generation
        self.info = ObjectInfo(
            name=name,
            process=f"worker-{generation}",
            instance=0,
            pid=1000 + generation,
            address=f"memory://{name}/{generation}",
            generation=generation,
            methods=self.published.shape.methods,
            streams=tuple(sorted(self.published.shape.streams)),
        )
        self.dead = False
        self.ended_at: float | None = None
        self._client = client
        self._accepted: list[tuple[Connection, MemoryStream]] = []

    def accept(self, stream: MemoryStream) -> None:
        """Serve a new connection on ``stream``."""
        conn = Connection(stream, handler=self.dispatcher, label="client")
        conn.identity = (self.info.process, 0)
        self._accepted.append((conn, stream))
        self._client.tg.start_soon(conn.run)

    def crash(self) -> None:
        """Die now: every connection ends without GOODBYE, nothing listens any more."""
        self.dead = True
        self.ended_at = time.time()
        for _conn, stream in self._accepted:
            stream.vanish()

    async def leave(self) -> None:
        """Close on purpose: GOODBYE on every connection, then withdraw the name (as the hub
        would tell every client)."""
        self.dead = True
        for conn, _stream in self._accepted:
            await conn.aclose()
        self._client.directory.remove(self.info)


class MemoryClient:
    """A client whose "hub" is the test: it publishes, crashes and restarts publishers."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self.tg = tg
        self.directory = Directory()
        self.tracer: Tracer | None = None
        self.subscriptions = Subscriptions(self)
        self.connects = 0  # connections opened
        self.crash_reports = 0  # times a connection lost without GOODBYE asked what happened
        self.waiting = anyio.Event()  # set when a lookup waits for a publication
        self._background = 0  # tasks started through start_soon, still running
        self._background_done = anyio.Event()
        self._publishers: dict[str, Publisher] = {}
        self._connections: dict[str, Connection] = {}

    def publish(self, name: str, obj: Any, generation: int) -> Publisher:
        """A new generation of ``name`` (replacing the previous one of its instance)."""
        publisher = Publisher(self, name, obj, generation)
        self._publishers[publisher.info.address] = publisher
        self.directory.add(publisher.info)
        self.subscriptions.published(publisher.info)
        return publisher

    async def resolve(
        self,
        name: str,
        instance: int | None,
        timeout: float | None,
        exclude: frozenset[int] = frozenset(),
    ) -> ObjectInfo:
        with anyio.move_on_after(timeout):
            while True:
                changed = self.directory.changed
                info = self.directory.pick(name, instance)
                if info is not None and info.generation not in exclude:
                    return info
                self.waiting.set()
                await changed.wait()
        raise ObjectNotFound(f"{name!r} was not published in time", name=name)

    def existing_connection(self, info: ObjectInfo) -> Connection | None:
        conn = self._connections.get(info.address)
        return conn if conn is not None and not conn.closed else None

    async def connection(self, info: ObjectInfo) -> Connection:
        conn = self.existing_connection(info)
        if conn is not None:
            return conn
        publisher = self._publishers.get(info.address)
        if publisher is None or publisher.dead:
            raise ConnectionLost(f"cannot connect to {info.address}: nobody listens")
        ours, theirs = memory_stream_pair(write_nowait=on_asyncio())
        publisher.accept(theirs)
        conn = Connection(ours, label=info.label, remote={"process": info.process})
        conn.lost_error = self._crash_error
        conn.on_event = self.subscriptions.on_event
        self._connections[info.address] = conn
        self.connects += 1
        await self.tg.start(conn.run)
        return conn

    async def _crash_error(self, conn: Connection) -> BaseException:
        """What the hub would say of the death: when it happened."""
        self.crash_reports += 1
        publisher = next(p for p in self._publishers.values() if p.info.label == conn.label)
        return ProcessCrashed(
            f"process {conn.label} died with calls in flight",
            process=publisher.info.process,
            ended_at=publisher.ended_at,
        )

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        async def counted() -> None:
            try:
                await fn(*args)
            finally:
                self._background -= 1
                self._background_done.set()
                self._background_done = anyio.Event()

        self._background += 1
        self.tg.start_soon(counted)

    async def settled(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until every task started through :meth:`start_soon` has ended."""
        with anyio.fail_after(timeout):
            while self._background:
                await self._background_done.wait()

    async def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription:
        return await self.subscriptions.subscribe(name, event, callback)
