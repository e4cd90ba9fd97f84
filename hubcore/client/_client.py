"""A process's link to the hub: lookups, the pool of peer connections, publishing, events.

How it works: the client keeps one connection to the hub and mirrors its directory (snapshot,
then change events). A proxy call picks an instance from the mirror and reuses the one peer
connection to that instance's listener; every call between two processes shares it. Publishing
opens this process's own peer listener on first use. A peer connection that breaks with calls
in flight fails them with ``ProcessCrashed``, enriched by what the hub knows of the death.

When the hub connection is lost, a client that reconnects (``_hublink``) keeps its mirror, so
calls to names it knows go on peer to peer. Once connected again it loads a new snapshot,
publishes its objects again (same instance, same origin, new generation; a new peer listener
if its socket file was removed meanwhile) and resubscribes, then tells waiters the hub is up.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from hubcore import _env
from hubcore._directory import Directory, ObjectInfo
from hubcore._errors import (
    AuthenticationFailed,
    ConnectionLost,
    HubError,
)
from hubcore.client._control import Control
from hubcore.client._failures import Peer, crashed, dropped, not_found
from hubcore.client._hublink import HubLink
from hubcore.client._incoming import Incoming
from hubcore.client._proxy import Proxy
from hubcore.client._publication import Publication, check_reachable, publish_data
from hubcore.client._subscriptions import ObjectEvent, Subscription, Subscriptions
from hubcore.protocol import CONTROL_TARGET, DEFAULT_MAX_FRAME, HUB_TARGET, Event
from hubcore.rpc._connection import Connection
from hubcore.rpc._dispatch import Dispatcher, describe
from hubcore.rpc._open import open_connection
from hubcore.rpc._tracing import Tracer

__all__ = ("Client", "Publication")

log = logging.getLogger("hubcore.client")

HUB_CALL_TIMEOUT = 10.0
_LISTENERS = itertools.count()  # several clients of one process each get their own socket


class Client:
    """A connection to a hub. Use as ``async with connect(...) as client``."""

    def __init__(
        self,
        address: str,
        token: bytes,
        *,
        process: str | None = None,
        instance: int | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME,
        token_file: str | None = None,
        reconnect: bool = True,
    ) -> None:
        """:param token_file: where ``token`` was read, read again before each reconnection.
        :param reconnect: reconnect when the hub is lost (see ``connect``)."""
        self.address = address
        self.process = process or _default_process_name()
        self.instance = instance
        self.max_frame = max_frame_size
        self.rundir = str(Path(address).parent)
        self.directory = Directory()
        self.closed = False
        self.hub_lost = anyio.Event()
        self._stack = AsyncExitStack()
        self._tg: anyio.abc.TaskGroup | None = None
        self._link = HubLink(address, token, token_file=token_file, reconnect=reconnect)
        self._publications: dict[str, Publication] = {}
        self._connections: dict[str, Connection] = {}
        self._early_events: list[Event] | None = []  # hub events before the snapshot
        self._connecting: dict[str, anyio.Lock] = {}
        self._dispatcher = Dispatcher()
        self._incoming = Incoming(self)
        self.subscriptions = Subscriptions(self)
        self.tracer = Tracer(self.process, instance or 0) if os.environ.get(_env.TRACE) else None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        try:
            conn = await self._open_hub(self._link.token)
            await self._tg.start(self._run_hub, conn)
            await self._load_directory(conn)
            self._link.connected(conn)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _hello(self) -> dict[str, Any]:
        return {"process": self.process, "instance": self.instance, "pid": os.getpid()}

    @property
    def token(self) -> bytes:
        """The hub's token: what this client and its peers authenticate with."""
        return self._link.current_token()

    @property
    def hub_down_since(self) -> float | None:
        """``time.time()`` when the hub was lost; None while this client is connected."""
        return self._link.down_since

    async def _open_hub(self, token: bytes) -> Connection:
        """A new, authenticated hub connection, set up to serve this client (not yet run)."""
        conn = await open_connection(
            self.address, token, self._hello(), label="hub", max_frame=self.max_frame
        )
        self._early_events = []  # hub events that come before the snapshot wait for it
        conn.on_event = self._on_hub_event
        conn.handler = control = Dispatcher()
        control.add(CONTROL_TARGET, Control(self))
        conn.identity = (self.process, self.instance or 0)
        return conn

    async def _load_directory(self, conn: Connection) -> None:
        snapshot = await conn.call(HUB_TARGET, "watch", timeout=HUB_CALL_TIMEOUT)
        self.directory.replace_all([ObjectInfo.from_wire(d) for d in snapshot])
        # Changes that arrived behind the snapshot, before this task resumed, come after it.
        early, self._early_events = self._early_events, None
        for frame in early or []:
            self._on_hub_event(frame)

    async def _run_hub(self, conn: Connection, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Serve the hub connection; when it is lost, reconnect (if this client does)."""
        await conn.run(task_status=task_status)
        while not self.closed and self._link.lost(conn.close_reason):
            reopened = await self._link.reopen(self._open_hub)
            if reopened is None:
                break
            conn = reopened
            async with anyio.create_task_group() as tg:
                await tg.start(conn.run)
                await self._restore(conn)
        self.hub_lost.set()
        if not self.closed:
            self.directory.replace_all([])

    async def _restore(self, conn: Connection) -> None:
        """On a new hub connection: the directory, this client's publications and its
        subscriptions as they were, then the link is up."""
        try:
            await self._load_directory(conn)
            for publication in list(self._publications.values()):
                await self._publish_again(conn, publication)
            for info in self.directory.all():
                self.subscriptions.published(info)
        except HubError as exc:  # the next attempt starts over
            # Lost again meanwhile is part of the outage; anything else is worth a line.
            level = logging.DEBUG if isinstance(exc, ConnectionLost) else logging.WARNING
            log.log(level, "could not restore this client on the hub at %s: %s", self.address, exc)
            await conn.aclose()
            return
        self._link.connected(conn)

    async def _publish_again(self, conn: Connection, publication: Publication) -> None:
        published = self._dispatcher.objects.get(publication.name)
        if published is None:  # withdrawn meanwhile
            return
        old = publication.info
        data = publish_data(published, await self._incoming.address())
        data.update(instance=old.instance, origin=old.origin or old.generation)
        reply = await conn.call(HUB_TARGET, "publish", (data,), timeout=HUB_CALL_TIMEOUT)
        info = ObjectInfo.from_wire(reply)
        publication._renewed(info)
        self.directory.add(info)

    async def aclose(self) -> None:
        """Withdraw this process's publications, close every connection. Idempotent."""
        if self.closed:
            return
        self.closed = True
        with anyio.CancelScope(shield=True):
            # Say GOODBYE on every connection, so that nobody takes our leaving for a crash.
            async with anyio.create_task_group() as tg:
                for conn in [*self._incoming.connections, *self._connections.values()]:
                    tg.start_soon(conn.aclose)
            if self._link.conn is not None:
                await self._link.conn.aclose()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        await self._stack.aclose()

    @property
    def hub(self) -> Connection:
        """The hub connection.

        :raises ConnectionLost: it is gone (:class:`HubUnreachable` while reconnecting).
        """
        if self._link.up:
            assert self._link.conn is not None
            return self._link.conn
        if self._link.reconnect and not self._link.gave_up:
            raise self._link.unreachable("no hub connection")
        raise self._link.lost_error()

    async def hub_call(self, method: str, *args: Any, timeout: float = HUB_CALL_TIMEOUT) -> Any:
        """Call a hub method (``objects``, ``processes``, ...).

        While the hub is being reconnected, this waits for it within ``timeout``.

        :raises HubUnreachable: the hub did not come back within ``timeout``.
        """
        started = anyio.current_time()
        conn = await self._link.wait_up(timeout)
        left = max(0.0, timeout - (anyio.current_time() - started))
        return await conn.call(HUB_TARGET, method, args, timeout=left)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, name: str, obj: Any, *, hidden: Collection[str] = ()) -> Publication:
        """Publish ``obj`` under ``name``: other processes can now call its public methods.

        :param hidden: public attributes that stay local (a service's ``start``/``stop``).
        :raises HubError: ``name`` is empty or starts with ``$``, or a public method could not
            be called as ``proxy.<method>(...)`` (a keyword, say).
        :raises HubUnreachable: the hub is down and did not come back within 10 s.
        :return: the publication (emit events through it). If the hub restarts, the object is
            published again by itself: same instance, new ``generation``, same ``origin``.
        """
        if not name or name.startswith("$") or not isinstance(name, str):
            raise HubError(
                f"cannot publish under {name!r}: use a non-empty name not starting with $"
            )
        if name in self._dispatcher.objects:
            raise HubError(f"{name!r} is already published by this client: unpublish it first")
        shape = describe(obj, hidden)
        check_reachable(name, shape.methods)
        await self._link.wait_up(HUB_CALL_TIMEOUT)  # while it is down, its folder may be too
        address = await self._incoming.address()
        published = self._dispatcher.add(name, obj, shape=shape)
        try:
            data = await self.hub_call("publish", publish_data(published, address))
        except BaseException:
            self._dispatcher.remove(name)
            raise
        info = ObjectInfo.from_wire(data)
        if self.instance is None:  # the hub chose one: errors from here name it
            self.instance = info.instance
        self.directory.add(info)
        publication = self._publications[name] = Publication(self, published, info)
        return publication

    async def unpublish(self, name: str) -> None:
        """Withdraw ``name`` (published by this client)."""
        self._dispatcher.remove(name)
        self._publications.pop(name, None)
        await self.hub_call("unpublish", name)

    # -- looking up ------------------------------------------------------------------------

    async def get_proxy(
        self, name: str, *, timeout: float = 10.0, instance: int | None = None
    ) -> Proxy:
        """A proxy for ``name``, waiting up to ``timeout`` for it to be published.

        :param timeout: seconds to wait for the name, and the proxy's default call timeout.
        :param instance: pin one instance; by default calls spread round-robin.
        :raises ObjectNotFound: nothing published ``name`` in time (the error lists what is).
        """
        info = await self.resolve(name, instance, timeout)
        return Proxy(self, name, timeout=timeout, instance=instance, methods=info.methods)

    def get_proxy_nowait(
        self, name: str, *, timeout: float = 10.0, instance: int | None = None
    ) -> Proxy:
        """A proxy for ``name`` made at once from this client's mirror of the directory.

        :param timeout: the proxy's default call timeout.
        :param instance: pin one instance; by default calls spread round-robin.
        :raises ObjectNotFound: ``name`` (or that instance) is not published right now
            (:meth:`get_proxy` waits for it).
        """
        info = self.directory.peek(name, instance)
        if info is None:
            raise not_found(name, instance, 0, self.directory.names())
        return Proxy(self, name, timeout=timeout, instance=instance, methods=info.methods)

    async def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription:
        """Subscribe to ``event`` of every instance of ``name``, now and after restarts."""
        return await self.subscriptions.subscribe(name, event, callback)

    async def objects(self) -> list[ObjectInfo]:
        """Every published instance of every name, as the hub knows them."""
        return [ObjectInfo.from_wire(d) for d in await self.hub_call("objects")]

    async def processes(self) -> list[dict[str, Any]]:
        """The hub's process table (filled when a supervisor runs the hub)."""
        result: list[dict[str, Any]] = await self.hub_call("processes")
        return result

    async def resolve(
        self,
        name: str,
        instance: int | None,
        timeout: float | None,
        exclude: frozenset[int] = frozenset(),
    ) -> ObjectInfo:
        """An instance of ``name`` (not one of the ``exclude`` generations), waiting for one."""
        info = self.directory.pick(name, instance)
        if info is not None and info.generation not in exclude:
            return info
        with anyio.move_on_after(timeout):
            while True:
                changed = self.directory.changed
                info = self.directory.pick(name, instance)
                if info is not None and info.generation not in exclude:
                    return info
                if not self._link.up and (not self._link.reconnect or self._link.gave_up):
                    raise ConnectionLost(f"lost the hub at {self.address}: {self._link.why}")
                await changed.wait()
        if not self._link.up and not self._link.gave_up:
            raise self._link.unreachable(f"no reachable instance of {name!r}")
        raise not_found(name, instance, timeout, self.directory.names())

    def existing_connection(self, info: ObjectInfo) -> Connection | None:
        """The shared connection to ``info``'s process if it is open now (no waiting)."""
        conn = self._connections.get(info.address)
        return conn if conn is not None and not conn.closed else None

    async def connection(self, info: ObjectInfo) -> Connection:
        """The shared connection to the process serving ``info`` (opened on first use).

        :raises ConnectionLost: nothing listens at its address any more.
        """
        conn = self._connections.get(info.address)
        if conn is not None and not conn.closed:
            return conn
        lock = self._connecting.setdefault(info.address, anyio.Lock())
        async with lock:
            conn = self._connections.get(info.address)
            if conn is None or conn.closed:
                conn = await self._open_connection(info)
        return conn

    async def _open_connection(self, info: ObjectInfo) -> Connection:
        assert self._tg is not None
        token = self.token
        try:
            conn = await open_connection(
                info.address, token, self._hello(), label=info.label, max_frame=self.max_frame
            )
        except AuthenticationFailed:
            retry = self.token_after_refusal(token)
            if retry is None:
                raise
            conn = await open_connection(
                info.address, retry, self._hello(), label=info.label, max_frame=self.max_frame
            )
        conn.remote.update(process=info.process, instance=info.instance, pid=info.pid)
        conn.identity = (self.process, self.instance or 0)
        conn.on_event = self.subscriptions.on_event
        conn.lost_error = self._crash_error
        self._connections[info.address] = conn
        await self._tg.start(conn.run)
        return conn

    def token_after_refusal(self, refused: bytes) -> bytes | None:
        """The token to try again with after a peer refused ``refused``; None if there is no
        other. A restarted hub has a new token, which that peer may have read already."""
        if self._link.up:
            return None
        token = self._link.current_token()
        return None if token == refused else token

    async def _crash_error(self, conn: Peer) -> BaseException:
        """The error of calls on a peer connection that ended without GOODBYE (``conn`` is an
        async or a blocking connection): a crash, with what the hub knows of the death."""
        # Asking the OS whether the pid lives would race with the kernel tearing the process
        # down (sockets close before it turns zombie), so the only non-crash is a connection
        # this side dropped for a protocol violation.
        if (error := dropped(conn)) is not None:
            return error
        pid = conn.remote.get("pid")
        details: dict[str, Any] = {}
        if isinstance(pid, int) and self._link.up:
            with anyio.move_on_after(1.0):
                details = await self.hub_call("exit_info", pid, 0.5) or {}
        return crashed(conn, details)

    # -- events from the hub ---------------------------------------------------------------

    def _on_hub_event(self, frame: Event) -> None:
        if self._early_events is not None:
            self._early_events.append(frame)
            return
        event, data = frame.name, frame.data
        if event == "published":
            info = ObjectInfo.from_wire(data)
            self.directory.add(info)
            self.subscriptions.published(info)
        elif event == "unpublished":
            self.directory.remove(ObjectInfo.from_wire(data))

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a background task owned by this client."""
        if self._tg is not None and not self.closed:
            self._tg.start_soon(fn, *args)


def _default_process_name() -> str:
    name = os.environ.get(_env.PROCESS) or Path(sys.argv[0] or "python").stem
    return name if name and not name.startswith("-") else "python"  # `python -c`: "-c"
