"""The calls one end made on a connection: ids, replies, and CANCEL when it stops waiting.

How it works: :meth:`Calls.start` gives each call the next id and a :class:`Pending` slot,
and queues its CALL. The caller parks on the slot (:mod:`hubcore.rpc._waiting`: a future and
a timer on asyncio, the task itself on trio; no task, cancel scope or Event per call). The
connection's reader hands every RESULT, ERROR and stream frame to :meth:`Calls.on_reply` /
:meth:`Calls.on_stream`, which fill the slot and wake its waiter. When the waiter gives up
first (timeout, cancelled), :meth:`Calls.end` sends a CANCEL. A call that timed out then
waits a little more (:data:`STACK_WAIT`) for the callee's answer to that CANCEL, which says
where the method was waiting (``CallTimeout.remote_stack``).

States of a slot: waiting -> done (a reply came) | lost (the connection closed first);
a call that timed out: cancelling -> done (the answer to the CANCEL) | given up.
A reply for an id no longer waited for (it timed out, or was cancelled) is dropped.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

from hubcore._errors import CallNotTaken
from hubcore.protocol import (
    Call,
    Cancel,
    Error,
    Result,
    StreamEnd,
    StreamItem,
    encode_frame,
)
from hubcore.protocol._bulk import has_large
from hubcore.protocol._codec import Undecodable
from hubcore.protocol._framing import encode_parts, unencodable_argument
from hubcore.rpc._error_frames import raised_error
from hubcore.rpc._outcome import (
    NOWHERE,
    STACK_WAIT,
    Stuck,
    not_taken_error,
    result_value,
    stuck,
    timeout_error,
)
from hubcore.rpc._waiting import Waiting

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("Calls", "Pending")


class Pending:
    """One call in flight: its reply, or the news that the connection closed."""

    __slots__ = ("done", "error", "items", "lost", "value", "waiter")

    def __init__(self) -> None:
        self.done = False
        self.lost = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.items: deque[Any] | None = None  # a stream's items not yet consumed
        self.waiter: Any = None  # whoever parks on this slot (see _waiting)


class Calls:
    """The calls this end made on ``conn`` and waits for."""

    def __init__(self, conn: Connection, waiting: Waiting) -> None:
        self._conn = conn
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self.waits = waiting

    def start(
        self,
        target: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        window: int,
        left: float | None = None,
        budget: float | None = None,
        call_id: str = "",
    ) -> tuple[int, Pending]:
        """Queue a CALL and return its id and slot.

        :param left: the CALL's ``left``, ``budget`` and ``call_id`` (see
            :class:`~hubcore.protocol.Call`); positional on the call path, as the rest.

        :raises CallNotTaken: the connection is closed (nothing was sent).
        :raises TypeError: an argument cannot be encoded (the message names it).
        :raises PayloadTooLarge: the call exceeds the frame limit.
        """
        conn = self._conn
        if conn.closed:
            raise CallNotTaken(f"connection to {conn.label} is closed: {conn.close_reason}")
        cid = next(self._ids)
        frame = Call(cid, target, method, list(args), kwargs, window, left, budget, call_id)
        try:
            if conn.bulk and has_large(frame):
                parts = encode_parts(frame, max_size=conn.max_frame)
            else:
                parts = None
                data = encode_frame(frame, max_size=conn.max_frame)
        except TypeError as exc:
            raise unencodable_argument(f"{target}.{method}", args, kwargs, exc) from None
        slot = Pending()
        self._pending[cid] = slot
        if parts is None:
            conn.write(data)
        else:
            conn.write_parts(parts)
        return cid, slot

    async def call(
        self,
        target: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        budget: float | None = None,
        call_id: str = "",
    ) -> Any:
        """Send a call and wait for its outcome (see :meth:`Connection.call`).

        The CALL tells the callee the ``timeout`` (its calls meanwhile wait no longer),
        the chain's ``budget`` if less than that is left of it, and the caller's ``call_id``.
        """
        if self._conn._outbox.writing_paused:  # too much of ours waits to be sent
            await self._conn.room_to_write()
        cid, slot = self.start(target, method, args, kwargs, 0, timeout, budget, call_id)
        try:
            await self.waits.wait(slot, timeout)
        except BaseException:  # cancelled: the callee stops too
            self.end(cid, slot)
            raise
        if slot.done or slot.lost:
            del self._pending[cid]
            if slot.done and slot.error is None and type(slot.value) is not Undecodable:
                return slot.value  # the common case, without building the call's name
            return await self._outcome(cid, slot, f"{target}.{method}", timeout)
        raise timeout_error(f"{target}.{method}", timeout, await self._cancel(cid, slot))

    async def _outcome(self, cid: int, slot: Pending, what: str, timeout: float | None) -> Any:
        if slot.done:
            if type(slot.value) is Stuck:  # the callee gave up on us first (see _outcome)
                raise timeout_error(what, timeout, slot.value)
            if slot.error is not None:
                raise slot.error
            return result_value(slot.value, what)
        if self._conn.not_taken(cid):
            raise not_taken_error(what, self._conn.label)
        raise await self._conn.failure()

    async def _cancel(self, cid: int, slot: Pending) -> Stuck:
        """Send CANCEL for a call that timed out; return where the callee's method was,
        if the callee says so within :data:`STACK_WAIT` (else nothing)."""
        self._conn.write(encode_frame(Cancel(cid)))
        try:
            await self.waits.wait(slot, STACK_WAIT)
        finally:
            self._pending.pop(cid, None)
        if slot.done and type(slot.value) is Stuck:
            return slot.value  # the answer to our CANCEL (see on_reply)
        return NOWHERE

    def end(self, cid: int, slot: Pending) -> None:
        """Stop waiting for ``cid``; the callee is told to stop if it may still be running."""
        del self._pending[cid]
        if not slot.done and not slot.lost:
            self._conn.write(encode_frame(Cancel(cid)))

    def forget(self, cid: int) -> None:
        """Stop routing replies to ``cid`` (its outcome is known)."""
        self._pending.pop(cid, None)

    @property
    def in_flight(self) -> bool:
        """Whether any call made here waits for its reply."""
        return bool(self._pending)

    def waiting(self, cid: int) -> bool:
        """Whether ``cid`` is still waited for."""
        return cid in self._pending

    def on_reply(self, frame: Result | Error) -> None:
        """A RESULT or ERROR arrived."""
        slot = self._pending.get(frame.id)
        if slot is None or slot.done:
            # A reply to a call that timed out or was cancelled, or the method's own reply
            # after the answer of the callee's watchdog (rpc/_watchdog), read in one batch.
            return
        if type(frame) is Result:
            slot.value = frame.value
        else:
            assert type(frame) is Error
            slot.error = raised_error(frame, self._conn.remote.get("process", ""))
            if (where := stuck(frame)) is not None:
                slot.value = where  # the answer to our CANCEL: read by _cancel
        slot.done = True
        self.waits.wake(slot)

    def on_stream(self, frame: StreamItem | StreamEnd) -> None:
        """A stream's next item, or its end, arrived."""
        slot = self._pending.get(frame.id)
        if slot is None or slot.items is None:
            return
        if type(frame) is StreamItem:
            slot.items.append(frame.value)
        else:
            slot.done = True
        self.waits.wake(slot)

    def lose_all(self) -> None:
        """The connection closed: every waiter wakes to find its call lost."""
        for slot in self._pending.values():
            slot.lost = True
            self.waits.wake(slot)
