"""A plain method that holds its event loop past the caller's deadline: where it is, said from
another thread.

A plain method runs inline in the loop's thread (:mod:`hubcore.rpc._dispatch`). While it runs
the loop reads nothing, so the caller's CANCEL waits unread and the answer that says where a
coroutine method was (:mod:`hubcore.rpc._serving`) cannot come. So the connection *arms* its
:class:`Guard` around each inline call whose CALL carries a deadline, and one daemon thread per
process (:class:`Watchdog`) looks at the armed guards at least every :data:`POLL` seconds. A
guard still armed past its deadline *fires*: the thread reads the loop thread's frames
(``sys._current_frames()``) and writes the ERROR ``$cancelled`` that answers the CANCEL, with
those frames and the message :data:`~hubcore.protocol.RUNNING` (the method was not cancelled:
a plain method cannot be), to the socket itself (the stream's ``write_aside``).

Why writing from another thread is safe: while a guard is armed the loop's thread is inside the
method (or the few statements around it) and the connection's outbox is corked, so nothing of
the connection is written meanwhile; ``write_aside`` writes only if nothing else waits to be
sent (the transport's buffer, the direct queue, trio's queue are empty), so the ERROR follows
whole frames. The guard's lock makes firing and disarming exclusive: the loop's thread, leaving
the call, waits for a write in progress, then writes first what the socket did not take of it,
before the outbox uncorks. The method's own reply, sent after, is dropped by the caller, which
no longer waits for it, as is the empty answer to the CANCEL it reads then.

States of a guard: idle -> armed (a call runs inline) -> idle (it returned), or
armed -> fired (the answer was written, or could not be) -> idle (it returned).

Resolution: :data:`POLL` plus the interpreter's switch interval (5 ms) when the method keeps the
GIL in Python code; one that keeps it in C code delays the answer until it lets go.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Protocol, cast

from hubcore.protocol import CANCELLED, RUNNING, Call
from hubcore.rpc._error_frames import encode_error, error_frame
from hubcore.rpc._stacks import thread_stack

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("POLL", "WATCHDOG", "Guard", "Watchdog")

log = logging.getLogger("hubcore.rpc")

#: Whether the interpreter has a GIL (``sys._is_gil_enabled`` is new in 3.13).
_GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

#: Seconds between two looks at the armed guards (at most: less when a deadline is nearer).
#: A caller that timed out waits 0.25 s for the answer (``STACK_WAIT``).
POLL = 0.1


class AsideStream(Protocol):
    """A stream that another thread may write to while the loop's thread is held."""

    def write_aside(self, data: bytes) -> bytes | None: ...

    def write_nowait(self, data: bytes | memoryview) -> None: ...


class Guard:
    """The inline call a connection serves now, if its caller waits for it until a deadline."""

    __slots__ = ("_conn", "_firing", "_lock", "_rest", "_stream", "_thread", "armed", "watched")

    def __init__(self, conn: Connection, stream: AsideStream) -> None:
        self._conn = conn
        self._stream = stream
        self._thread = threading.get_ident()  # the loop's: connections are made on it
        self._lock = threading.Lock()
        self._rest: bytes | None = None  # of the answer, what the socket did not take
        self._firing = False  # the watchdog's thread holds the lock to fire
        #: (CALL, deadline) while armed; (CALL, None) once fired.
        self.armed: tuple[Call, float | None] | None = None
        self.watched = False

    @classmethod
    def of(cls, conn: Connection, stream: object) -> Guard | None:
        """The guard of ``conn`` on ``stream``; None if another thread cannot write to it."""
        if hasattr(stream, "write_aside") and hasattr(stream, "write_nowait"):
            return cls(conn, cast(AsideStream, stream))
        return None

    def arm(self, frame: Call, arrived: float, corked: bool) -> bool:
        """The call of ``frame``, which arrived at ``arrived`` (``time.monotonic()``), runs
        inline from now on (the loop's thread). False, and nothing armed, if its caller waits
        for ever or the outbox is not ``corked`` (the loop's thread may write meanwhile)."""
        if frame.left is None or not corked:
            return False
        if not self.watched:
            WATCHDOG.watch(self)
        self.armed = (frame, arrived + frame.left)
        return True

    def disarm(self) -> None:
        """The inline call returned (the loop's thread, outbox still corked).

        Without the lock when the watchdog's thread is not firing: with the GIL, of this
        thread's store of ``armed`` then load of ``_firing`` and that thread's store of
        ``_firing`` then load of ``armed``, one sees the other's store, so either this waits
        for the lock or that one finds the call gone. (Without the GIL it always takes the lock.)
        """
        self.armed = None
        if self._firing or self._rest is not None or not _GIL:
            with self._lock:  # a write in progress ends first
                rest, self._rest = self._rest, None
            if rest:
                self._stream.write_nowait(rest)  # before anything the outbox holds

    def fire(self, armed: tuple[Call, float | None]) -> None:
        """From the watchdog's thread: answer the caller of the armed call, which it gave up
        on, with where the loop's thread is."""
        call = armed[0]
        with self._lock:
            self._firing = True  # before reading armed (see disarm)
            try:
                if self.armed is not armed or armed[1] is None:
                    return  # it returned meanwhile, or this fired already
                stack, told = self._answer(call)
            finally:
                self._firing = False
        # This process's own output says it too (after the lock: the loop's thread may wait
        # on it): nothing else of this process ran meanwhile.
        log.warning(
            "%s.%s holds the event loop past its caller's deadline (%gs)%s%s",
            call.target,
            call.method,
            round(call.left or 0, 2),
            f", at {stack[-1]}" if stack else "",
            "" if told else " (its caller was not told: the connection was busy)",
        )

    def _answer(self, call: Call) -> tuple[tuple[str, ...], bool]:
        """Write the answer (under the lock); where the loop's thread is, and whether the
        answer could be sent."""
        self.armed = (call, None)
        frame = sys._current_frames().get(self._thread)
        stack = thread_stack(frame) if frame is not None else ()
        del frame
        conn = self._conn
        error = error_frame(call.id, CANCELLED, RUNNING, identity=conn.identity, stack=stack)
        rest = self._stream.write_aside(encode_error(error, max_size=conn.max_frame))
        self._rest = rest or None  # None also when nothing could be sent: nothing to finish
        return stack, rest is not None

    def close(self) -> None:
        """The connection closed: watched no more."""
        if self.watched:
            WATCHDOG.forget(self)


class Watchdog:
    """The thread that fires the guards still armed past their deadlines (one per process,
    started by the first guard armed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guards: set[Guard] = set()
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forked)

    def watch(self, guard: Guard) -> None:
        """Look at ``guard`` from now on (the loop's thread)."""
        with self._lock:
            guard.watched = True
            self._guards.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hubcore-watchdog", daemon=True
                )
                self._thread.start()

    def forget(self, guard: Guard) -> None:
        """Look at ``guard`` no more."""
        with self._lock:
            guard.watched = False
            self._guards.discard(guard)

    def _run(self) -> None:
        while True:
            try:
                delay = self.check(time.monotonic())
            except Exception:  # a bug here: said, and the watching goes on
                log.exception("the watchdog of plain methods failed")
                delay = POLL
            time.sleep(delay)

    def check(self, now: float) -> float:
        """Fire the guards armed past their deadline at ``now``; return how long to sleep."""
        with self._lock:
            guards = list(self._guards)
        nearest = now + POLL
        for guard in guards:
            armed = guard.armed
            if armed is None or armed[1] is None:
                continue
            if armed[1] <= now:
                guard.fire(armed)
            else:
                nearest = min(nearest, armed[1])
        return max(nearest - now, 0.001)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._guards = set()
        self._thread = None  # a child has none of its parent's threads


WATCHDOG = Watchdog()
