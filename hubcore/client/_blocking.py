"""Blocking calls from any thread, each on a connection the calling thread holds for the call.

How it works: a :class:`BlockingCalls` makes the calls of one client (:class:`Caller`): in
``hubcore.sync``, an async :class:`~hubcore.client.Client` whose event loop runs in another
thread (the portal); in the ``hubcore`` command, a blocking view of the hub. A call picks an
instance from the client's directory mirror (safe to read from any thread: see
``hubcore._directory``), takes an idle :class:`~hubcore.rpc._blocking.BlockingConnection` to
its process from a pool, or opens one, and sends the CALL and reads the reply itself: no hop to
another thread. The connection goes back to the pool afterwards, so a thread that calls again
reuses it, and N threads calling at once hold N connections to a process, as many as were ever
busy at the same time.

Only what needs the hub is the client's: waiting for a name that is not published
(``resolve``), and asking what became of a process that vanished mid-call (``crash_error``,
for ``ProcessCrashed``); ``hubcore.sync`` runs both on the portal's event loop. The retry rules
(which calls never ran and may go to the next generation), the errors and the call records are
those of :class:`~hubcore.client.Proxy`: the same functions decide.

States: open -> closed (:meth:`BlockingCalls.close`: idle connections say GOODBYE, busy ones
are interrupted, and their calls fail with ``ConnectionLost``; no new call starts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hubcore._directory import Directory, ObjectInfo
from hubcore._errors import AuthenticationFailed, CallTimeout, ConnectionLost
from hubcore.client._rules import CallRecorder, never_ran, timed_out
from hubcore.rpc._blocking import BlockingConnection
from hubcore.rpc._chain import SERVING, chained

if TYPE_CHECKING:
    from hubcore.rpc._tracing import Tracer

__all__ = ("BlockingCalls", "Caller", "Resolve")

#: ``resolve(name, instance, timeout, exclude)``: an instance of ``name`` whose generation is
#: not excluded, waiting for one up to ``timeout`` (``ObjectNotFound`` after it), blocking.
Resolve = Callable[[str, "int | None", "float | None", frozenset[int]], ObjectInfo]


class Caller(Protocol):
    """What blocking calls need of their client (an async ``Client`` is one)."""

    directory: Directory
    tracer: Tracer | None
    process: str
    instance: int | None
    max_frame: int

    @property
    def token(self) -> bytes: ...

    def _hello(self) -> dict[str, Any]: ...

    def token_after_refusal(self, refused: bytes) -> bytes | None: ...


class BlockingCalls:
    """The blocking calls of one client, from any number of threads."""

    def __init__(
        self,
        client: Caller,
        resolve: Resolve,
        crash_error: Callable[[BlockingConnection], BaseException],
    ) -> None:
        """:param resolve: waits for a name that the mirror lacks (the slow path).
        :param crash_error: the error of a call whose publisher vanished without GOODBYE."""
        self._client = client
        self._wait_for = resolve
        self._crash_error = crash_error
        self._idle: dict[str, list[BlockingConnection]] = {}  # address -> connections
        self._open: set[BlockingConnection] = set()
        self.closed = False

    # -- calling ---------------------------------------------------------------------------

    def call(
        self,
        name: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        *,
        instance: int | None,
        timeout: float | None,
    ) -> Any:
        """Call ``name.method`` (an instance of ``name``, or the pinned one), recorded if the
        client traces. As a :class:`hubcore.Proxy`'s call, blocking.

        :raises CallTimeout: no answer within the timeout (the callee's method is cancelled).
        :raises ProcessCrashed: the publisher died with the call in flight.
        :raises RemoteError: the method raised (also an instance of a builtin remote type).
        :raises ObjectNotFound: ``name`` was not published within the timeout.
        :raises ConnectionLost: the client was closed.
        """
        tracer = self._client.tracer
        if tracer is None:
            return self._call(name, instance, method, args, kwargs, timeout, [])
        record = CallRecorder(tracer, name, method, args, kwargs)
        try:
            value = self._call(
                name, instance, method, args, kwargs, timeout, record.callee, record.call_id
            )
        except BaseException as exc:
            record.failed(exc)
            raise
        record.returned(value)
        return value

    def _call(
        self,
        name: str,
        instance: int | None,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
        callee: list[tuple[str, int]],
        call_id: str = "",
    ) -> Any:
        """As ``Proxy._call``: one deadline for the name, the connection and the reply; a
        call that never ran goes to the next generation of the name; made while serving a
        call (this thread runs a served method), it waits no longer than that call's caller."""
        budget = chain = None
        if (served := SERVING.get()) is not None:
            chain = chained(served, timeout)
            timeout, budget = chain.timeout, chain.budget
        deadline = None if timeout is None else time.monotonic() + timeout
        dead: frozenset[int] = frozenset()
        while True:
            info = self._resolve(name, instance, deadline, dead)
            callee.append((info.process, info.instance))
            sent_at = time.time()
            try:
                conn = self._take(info, deadline)
            except ConnectionLost:
                dead |= {info.generation}  # nothing listens: its process is gone
                continue
            except TimeoutError:
                raise timed_out(name, method, timeout, chain) from None
            try:
                return conn.call(
                    name, method, args, kwargs, timeout=_left(deadline), chain=(budget, call_id)
                )
            except CallTimeout as exc:
                raise timed_out(name, method, timeout, chain, exc) from None
            except ConnectionLost as exc:
                if not never_ran(exc, sent_at, goodbye=conn.goodbye, closed=conn.closed):
                    raise  # it may have run (at most once): not sent again
            finally:
                self._give_back(info.address, conn)
            dead |= {info.generation}

    def _resolve(
        self, name: str, instance: int | None, deadline: float | None, dead: frozenset[int]
    ) -> ObjectInfo:
        """An instance of ``name`` from the mirror; waiting for one goes through the loop."""
        if self.closed:
            raise ConnectionLost("this client is closed")
        info = self._client.directory.pick(name, instance)
        if info is not None and info.generation not in dead:
            return info
        return self._wait_for(name, instance, _left(deadline), dead)

    # -- the pool of connections -----------------------------------------------------------

    def _take(self, info: ObjectInfo, deadline: float | None) -> BlockingConnection:
        idle = self._idle.get(info.address)
        if idle:
            try:
                return idle.pop()  # atomic: two threads never take the same one
            except IndexError:
                pass  # another thread took the last one meanwhile
        return self._open_connection(info, _left(deadline))

    def _open_connection(self, info: ObjectInfo, timeout: float | None) -> BlockingConnection:
        """A new connection to ``info``'s process.

        :raises ConnectionLost: nothing listens there.
        :raises TimeoutError: no connection within ``timeout``.
        """
        self._sweep()
        client = self._client
        token = client.token
        try:
            conn = self._connect(info, token, timeout)
        except AuthenticationFailed:
            retry = client.token_after_refusal(token)
            if retry is None:
                raise
            conn = self._connect(info, retry, timeout)
        conn.remote.update(process=info.process, instance=info.instance, pid=info.pid)
        conn.identity = (client.process, client.instance or 0)
        conn.lost_error = self._crash_error
        self._open.add(conn)
        if self.closed:  # closed while this one was opening: close() did not see it
            self._discard(conn)
            raise ConnectionLost("this client is closed")
        return conn

    def _connect(self, info: ObjectInfo, token: bytes, timeout: float | None) -> BlockingConnection:
        client = self._client
        return BlockingConnection.open(
            info.address,
            token,
            client._hello(),
            label=info.label,
            max_frame=client.max_frame,
            timeout=timeout,
        )

    def _give_back(self, address: str, conn: BlockingConnection) -> None:
        if conn.closed:
            self._discard(conn)
            return
        self._idle.setdefault(address, []).append(conn)
        if self.closed:  # close() ran before or meanwhile, and may not have seen it
            self._discard(conn)

    def _discard(self, conn: BlockingConnection) -> None:
        self._open.discard(conn)
        conn.close()

    def _sweep(self) -> None:
        """Close idle connections to processes whose names are all withdrawn (a publisher
        that restarted listens at a new address): run before each new connection, so a
        long-lived process does not keep sockets to dead peers."""
        live = self._client.directory.addresses()
        for address in [a for a in list(self._idle) if a not in live]:
            for conn in self._idle.pop(address, []):
                self._discard(conn)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection: idle ones say GOODBYE, busy ones are interrupted (their
        calls fail with ``ConnectionLost``). Idempotent; no call starts afterwards."""
        self.closed = True
        for conn in list(self._open):
            busy = not any(conn in idle for idle in list(self._idle.values()))
            if busy:
                conn.interrupt()
            else:
                self._discard(conn)
        self._idle.clear()


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
