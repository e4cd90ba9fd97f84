"""How a bench client reaches each system: one connect function per system, yielding ``call``.

Each function reads what the server's READY line put in the environment (address, token file,
URI) and yields a one-argument ``call(x)`` that echoes ``x`` through the system: awaitable for
the async systems, blocking for the others. The tables at the end name every system the client
knows and, for the async ones, the event loop both ends run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from multiprocessing.managers import BaseManager
from typing import Any

from bench._wire import STREAM_LIMIT, read_frame, write_frame

AsyncCall = Callable[[Any], Awaitable[Any]]
SyncCall = Callable[[Any], Any]


class RawClient:
    """One connection, calls multiplexed by id, a reader task resolving their futures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_replies())

    @classmethod
    async def open(cls, path: str) -> RawClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=STREAM_LIMIT)
        return cls(reader, writer)

    async def call(self, method: str, *args: Any) -> Any:
        if self._reader_task.done():
            raise ConnectionError("raw-asyncio connection lost")
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        write_frame(self._writer, [call_id, method, args])
        await self._writer.drain()
        return await future

    async def _read_replies(self) -> None:
        try:
            while True:
                call_id, error, result = await read_frame(self._reader)
                future = self._pending.pop(call_id)
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(RuntimeError(error))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            for future in self._pending.values():
                future.set_exception(ConnectionError(f"raw-asyncio connection lost: {exc}"))

    async def aclose(self) -> None:
        self._reader_task.cancel()
        self._writer.close()
        await self._writer.wait_closed()


class EchoClientManager(BaseManager):
    """Client half of bench.servers.mp_managers: ``get_echo()`` returns a proxy."""


EchoClientManager.register("get_echo")


def _hubcore_target() -> tuple[str, bytes]:
    with open(os.environ["HUBCORE_TOKEN_FILE"], "rb") as token_file:
        return os.environ["HUBCORE_ADDRESS"], token_file.read()


@asynccontextmanager
async def raw_asyncio() -> AsyncIterator[AsyncCall]:
    client = await RawClient.open(os.environ["BENCH_ADDRESS"])
    try:
        yield lambda x: client.call("echo", x)
    finally:
        await client.aclose()


@asynccontextmanager
async def hubcore_async() -> AsyncIterator[AsyncCall]:
    import hubcore

    address, token = _hubcore_target()
    async with hubcore.connect(address, token=token) as client:
        proxy = await client.get_proxy("echo", timeout=10)
        yield lambda x: proxy.echo(x)


@contextmanager
def mp_managers() -> Iterator[SyncCall]:
    authkey = bytes.fromhex(os.environ["BENCH_AUTHKEY"])
    manager = EchoClientManager(address=os.environ["BENCH_ADDRESS"], authkey=authkey)
    manager.connect()
    # One proxy for every thread: a proxy opens one connection per calling thread by itself.
    proxy = manager.get_echo()  # type: ignore[attr-defined]
    yield lambda x: proxy.echo(x)


@contextmanager
def hubcore_sync() -> Iterator[SyncCall]:
    import hubcore.sync

    address, token = _hubcore_target()
    with hubcore.sync.connect(address, token=token) as client:
        proxy = client.get_proxy("echo", timeout=10)
        yield lambda x: proxy.echo(x)


def _per_thread(open_one: Callable[[], SyncCall]) -> SyncCall:
    """A ``call`` that opens one connection per calling thread, as mp-managers' proxy does."""
    local = threading.local()

    def call(x: Any) -> Any:
        one = getattr(local, "call", None)
        if one is None:
            one = local.call = open_one()
        return one(x)

    return call


@contextmanager
def pyro5() -> Iterator[SyncCall]:
    import Pyro5.api  # type: ignore[import-untyped, import-not-found, unused-ignore]

    proxies: list[Any] = []

    def open_one() -> SyncCall:
        proxy = Pyro5.api.Proxy(os.environ["BENCH_PYRO_URI"])  # a proxy belongs to one thread
        proxy._pyroSerializer = "msgpack"
        proxies.append(proxy)
        return lambda x: proxy.echo(x)

    try:
        yield _per_thread(open_one)
    finally:
        for proxy in proxies:
            with contextlib.suppress(Exception):
                proxy._pyroClaimOwnership()
                proxy._pyroRelease()


@contextmanager
def rpyc() -> Iterator[SyncCall]:
    from rpyc.utils.factory import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        unix_connect,
    )

    connections: list[Any] = []

    def open_one() -> SyncCall:
        connection = unix_connect(os.environ["BENCH_ADDRESS"])
        connections.append(connection)
        # The bound method, looked up once: ``root.echo(x)`` would be two round trips per call.
        echo: SyncCall = connection.root.echo
        return echo

    try:
        yield _per_thread(open_one)
    finally:
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()


# system -> (connect function, event loop of both ends)
ASYNC_SYSTEMS: dict[str, tuple[Callable[[], AbstractAsyncContextManager[AsyncCall]], str]] = {
    "raw-asyncio": (raw_asyncio, "asyncio"),
    "raw-uvloop": (raw_asyncio, "uvloop"),
    "hubcore-async": (hubcore_async, "asyncio"),
    "hubcore-uvloop": (hubcore_async, "uvloop"),
    "hubcore-trio": (hubcore_async, "trio"),
}
SYNC_SYSTEMS: dict[str, Callable[[], AbstractContextManager[SyncCall]]] = {
    "mp-managers": mp_managers,
    "hubcore-sync": hubcore_sync,
    "pyro5": pyro5,
    "rpyc": rpyc,
}
