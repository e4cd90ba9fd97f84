"""The calls one end serves on a connection: their tasks, their replies, their stream credits.

How it works: a served call that needs awaiting runs in a task of its own, kept by call id, so
the caller's CANCEL (or the connection closing) cancels it. On asyncio (uvloop too) that is a
plain loop task, cancelled with ``task.cancel()``: an anyio task and cancel scope per call cost
more than a small method. On trio it is a task of the connection's task group inside a cancel
scope. Replies are encoded here; one that cannot be sent becomes an ERROR instead.

At most :data:`MAX_SERVING` such calls (streams not counted: they have their own credits) run
at once per connection: :meth:`Serving.has_room` says whether another may start, and the
connection holds back the CALLs that may not (and stops reading) until one ends.

A CANCEL is answered with an ERROR of type ``$cancelled`` whose ``stack`` says where the
method was waiting, taken before its task is cancelled (:mod:`hubcore.rpc._stacks`): the
caller that timed out waits for it briefly and shows it. A call that runs in no task (it
ended, or was held back) gets the answer with no stack; a stream's CANCEL gets none.

Invariant: every task in ``_running`` ends before the connection's ``run`` returns
(:meth:`Serving.finished`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from hubcore._errors import PayloadTooLarge
from hubcore.protocol import CANCELLED, Error, Result, StreamItem
from hubcore.rpc._error_frames import encode_error, error_frame, exception_frame
from hubcore.rpc._stacks import coroutine_stack
from hubcore.rpc._streams import Credits

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("MAX_SERVING", "Serving")

log = logging.getLogger("hubcore.rpc")

#: Calls one connection serves at once in tasks (plain methods run inline and never count).
MAX_SERVING = 256


class _TrioCall:
    """A served call's task on trio: its cancel scope, and the coroutine it awaits (for the
    stack), with the two methods of an asyncio task that :class:`Serving` uses."""

    __slots__ = ("coro", "scope")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.coro: Any = None

    def cancel(self) -> None:
        self.scope.cancel()

    def get_coro(self) -> Any:
        return self.coro


class Serving:
    """The calls ``conn`` serves: running tasks by call id, replies, stream credits.

    :param loop: the asyncio loop the connection runs on; None on trio.
    """

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop | None) -> None:
        self._conn = conn
        self._loop = loop
        self._running: dict[int, _TrioCall | asyncio.Task[None]] = {}
        self._streams: set[int] = set()  # the ids in _running that serve streams
        self._credits = Credits()
        self.busy = 0  # calls (not streams) running in tasks
        self.limit = MAX_SERVING

    def has_room(self) -> bool:
        """Whether one more call may start in a task."""
        return self.busy < self.limit

    def spawn(
        self, tg: anyio.abc.TaskGroup, cid: int, fn: Callable[[], Awaitable[None]], counted: bool
    ) -> None:
        """Run a served call in its own task (on trio, one of ``tg``), cancellable by the
        caller's CANCEL.

        :param counted: a call (not a stream): it counts towards :attr:`limit`.
        """
        self.busy += counted
        if not counted:
            self._streams.add(cid)
        if self._loop is not None:
            self._running[cid] = self._loop.create_task(self._serve_task(cid, fn, counted))
            return
        call = self._running[cid] = _TrioCall()
        tg.start_soon(self._serve_one, cid, call, fn, counted)

    async def _serve_task(self, cid: int, fn: Callable[[], Awaitable[None]], counted: bool) -> None:
        try:
            await fn()
        except Exception:  # served calls answer their own errors: this is a bug here
            log.exception("%s: serving call %d failed", self._conn.label, cid)
        finally:
            self._ended(cid, counted)

    def _ended(self, cid: int, counted: bool) -> None:
        self._running.pop(cid, None)
        self._credits.forget(cid)
        if counted:
            self.busy -= 1
            self._conn.room_freed()
        else:
            self._streams.discard(cid)

    async def finished(self) -> None:
        """Wait until every served call's task has ended (after :meth:`close` cancelled them)."""
        tasks = [t for t in self._running.values() if isinstance(t, asyncio.Task)]
        if tasks:
            await asyncio.wait(tasks)

    async def _serve_one(
        self, cid: int, call: _TrioCall, fn: Callable[[], Awaitable[None]], counted: bool
    ) -> None:
        try:
            with call.scope:
                call.coro = fn()
                await call.coro
        finally:
            self._ended(cid, counted)

    def cancel(self, cid: int) -> None:
        """The caller sent CANCEL: stop ``cid`` if it runs in a task, and tell the caller
        where it was waiting; nothing, if it had ended (the caller then stops waiting for
        the answer at once). A stream's CANCEL gets no answer: nobody waits for it."""
        running = self._running.get(cid)
        if running is not None and cid in self._streams:
            running.cancel()
            return
        stack = () if running is None else coroutine_stack(running.get_coro())
        self._write_error(
            error_frame(cid, CANCELLED, "", identity=self._conn.identity, stack=stack)
        )
        if running is not None:
            running.cancel()

    def close(self) -> None:
        """The connection closed: cancel every running call, wake every waiting producer."""
        for running in self._running.values():
            running.cancel()
        self._credits.wake_all()

    def send_result(self, cid: int, value: Any, what: str = "result") -> None:
        """Reply with a value; an unencodable or oversized one becomes an error reply."""
        try:
            self._conn.send_frame(Result(cid, value))
        except (TypeError, PayloadTooLarge) as exc:
            self.send_error(cid, type(exc).__name__, f"the {what} could not be sent: {exc}")

    def send_error(
        self,
        cid: int,
        type_name: str,
        message: str,
        tb: str = "",
        args: tuple[Any, ...] = (),
        base: str = "",
    ) -> None:
        """Reply with an error (``args`` are kept only if they can be encoded)."""
        identity = self._conn.identity
        self._write_error(
            error_frame(cid, type_name, message, tb=tb, args=args, base=base, identity=identity)
        )

    def send_exception(self, cid: int, exc: Exception) -> None:
        """Reply with a raised exception, its traceback text included."""
        self._write_error(exception_frame(cid, exc, self._conn.identity))

    def _write_error(self, frame: Error) -> None:
        self._conn.write(encode_error(frame, max_size=self._conn.max_frame))

    def add_credit(self, cid: int, items: int) -> None:
        """The consumer of stream ``cid`` took ``items`` more (ignored once it ended)."""
        if cid in self._running:
            self._credits.add(cid, items)

    async def send_stream_item(self, cid: int, value: Any, window: int) -> None:
        """Send one item of a served stream, waiting while the consumer holds no credit."""
        await self._credits.take(cid, window, lambda: self._conn.closed)
        self._conn.send_frame(StreamItem(cid, value))
