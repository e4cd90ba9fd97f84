"""Holding a caller back: the CALLs a connection reads while it may not serve more.

How it works (docs/design.md, "A caller that floods a callee is held back"): a CALL is served
at once while fewer calls than the bound run in tasks and our replies are not piling up in the
outbox. Otherwise it is held, in order, and the connection stops reading: the kernel's buffers
fill and the caller's writes wait. When a served call ends, or our replies drained, the held
calls that fit are taken, and reading resumes once none is left. Held calls were not taken: a
GOODBYE's last id leaves them out, and a CANCEL forgets one.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from hubcore.protocol import Call

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("Holding",)


class Holding:
    """The CALLs ``conn`` holds back, and when it takes them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.held: deque[Call] = deque()
        self._draining = False  # a task waits for the outbox to drain, to take held calls

    def may_take(self) -> bool:
        """Whether a CALL may be served now: fewer calls run in tasks than the bound, and our
        replies are not piling up (unless we wait for replies ourselves: then we must read)."""
        conn = self._conn
        serving = conn.serving
        if serving.busy >= serving.limit:
            return False
        return not conn._outbox.writing_paused or conn.calls.in_flight

    def hold(self, frame: Call) -> None:
        """Keep a CALL for later, and stop reading."""
        if not self.held:
            self._conn._stream.pause_reading()
        self.held.append(frame)
        self._drain_then_take()

    def _drain_then_take(self) -> None:
        conn = self._conn
        if conn.serving.has_room() and not self._draining and conn._tg is not None:
            self._draining = True  # held for our replies: take calls again once they left
            conn._tg.start_soon(self._take_when_drained)

    async def _take_when_drained(self) -> None:
        try:
            await self._conn._outbox.drain()
        finally:
            self._draining = False
        self.room_freed()

    def room_freed(self) -> None:
        """A served call ended, or the replies drained: take the held calls that fit now."""
        conn = self._conn
        if not self.held or conn.closed:
            return
        outbox = conn._outbox
        outbox.cork()
        try:
            while self.held and self.may_take():
                conn.take(self.held.popleft())
        finally:
            outbox.uncork()
        if not self.held:
            conn._stream.resume_reading()
        else:
            self._drain_then_take()

    def forget(self, cid: int) -> None:
        """A CANCEL for ``cid``: if it is held, it never started; forget it."""
        for frame in self.held:
            if frame.id == cid:
                self.held.remove(frame)
                break
