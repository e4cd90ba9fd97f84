"""Parking a task until the connection's reader wakes it, or a deadline passes.

How it works: a caller waiting for its reply (or a stream consumer for its next item) parks on
the state the reader fills, its *slot*: ``await waiting.wait(slot, timeout)`` returns when the
reader called ``waiting.wake(slot)``, or when ``timeout`` seconds passed; the caller then reads
the slot to tell which. Nothing is made per wait but the parking itself:

- on asyncio (uvloop too): one future;
- on trio: the task parks with ``wait_task_rescheduled``.

A timeout is an entry in a heap of deadlines (:class:`_Deadlines`) that one timer per
connection watches: a ``loop.call_at`` handle armed for the earliest on asyncio, a task
(:meth:`TrioWaiting.run_timer`) on trio. A timer handle or a cancel scope per call cost a
fifth to a quarter of a small call.

No anyio cancel scope, Event or backend lookup per call: the backend and the loop are found once,
when the connection is made (inside the loop that runs it). Cancelling the parked task (an outer
cancel scope, on either backend) raises through the ``await`` as usual, so the caller's
``finally`` still runs (and sends CANCEL).

Invariant: a slot has at most one parked waiter, and ``wake`` clears it, so a reply that comes
twice (or after the waiter gave up) wakes nobody.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from hubcore.transport._backend import running_backend

__all__ = ("AsyncioWaiting", "Parked", "TrioWaiting", "Waiting", "for_running_loop")

_T = TypeVar("_T")
_EARLY = time.get_clock_info("monotonic").resolution


class Parked(Protocol):
    """What a waiter parks on: the slot of one call or stream."""

    waiter: Any


class Waiting(Protocol):
    """One backend's way of parking a task (chosen per connection)."""

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        """Park until :meth:`wake` (or ``timeout`` seconds; None: no limit)."""
        ...

    def wake(self, slot: Parked) -> None:
        """Resume whoever parks on ``slot`` (nobody: nothing happens)."""
        ...

    def close(self) -> None:
        """The connection ended: let go of the timer."""
        ...


def for_running_loop() -> Waiting:
    """The way to park tasks on the event loop running now."""
    if running_backend() == "trio":
        return TrioWaiting()
    return AsyncioWaiting(asyncio.get_running_loop())


class _Deadlines(Generic[_T]):
    """The deadlines of parked waits, earliest first, for one timer per connection.

    A wait that ends before its deadline leaves its entry behind (removing it from the middle
    of a heap costs more than the whole wait); the entries of finished waits are dropped once
    they outnumber the live ones, so a wait costs O(1), amortised.
    """

    def __init__(self, live: Callable[[_T], bool]) -> None:
        self._heap: list[tuple[float, int, _T]] = []
        self._seq = itertools.count()
        self._live = live
        self.parked = 0  # waits with a deadline, parked now

    def push(self, when: float, token: _T) -> None:
        """A wait parks until ``when`` (and ``parked`` goes down by one when it stops)."""
        heap, live = self._heap, self._live
        # Calls with one timeout end in about the order they started: the earliest deadlines
        # are mostly those of finished waits, which go from the top at no cost.
        while heap and not live(heap[0][2]):
            heapq.heappop(heap)
        if len(heap) > 2 * self.parked + 64:
            heap[:] = [entry for entry in heap if live(entry[2])]
            heapq.heapify(heap)
        self.parked += 1
        heapq.heappush(heap, (when, next(self._seq), token))

    def due(self, now: float) -> list[_T]:
        """The live waits whose deadline is ``now`` or earlier (taken off)."""
        heap, due = self._heap, []
        while heap and heap[0][0] <= now:
            token = heapq.heappop(heap)[2]
            if self._live(token):
                due.append(token)
        return due

    def earliest(self) -> float:
        """The earliest deadline left (``math.inf`` if none)."""
        return self._heap[0][0] if self._heap else math.inf

    def __len__(self) -> int:
        return len(self._heap)


class AsyncioWaiting:
    """A future per wait; the deadlines share one ``call_at`` timer per connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: _Deadlines[asyncio.Future[None]] = _Deadlines(_undone)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        loop = self.loop
        future = slot.waiter = loop.create_future()
        if timeout is None:
            try:
                await future
            finally:
                slot.waiter = None
            return
        when = loop.time() + timeout
        self.deadlines.push(when, future)
        if when < self._timer_at:
            self._arm(when)
        try:
            await future
        finally:
            slot.waiter = None
            self.deadlines.parked -= 1

    def wake(self, slot: Parked) -> None:
        future = slot.waiter
        if future is not None:
            slot.waiter = None
            if not future.done():
                future.set_result(None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(when, self._expire), when

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        # The loop runs a timer up to its clock's resolution early: what is due by then is due.
        for future in self.deadlines.due(self.loop.time() + _EARLY):
            if not future.done():
                future.set_result(None)
        when = self.deadlines.earliest()
        if when != math.inf:
            self._arm(when)

    def close(self) -> None:
        """The connection ended: its timer goes (every waiter was woken)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf


def _undone(future: asyncio.Future[None]) -> bool:
    return not future.done()


class _Parked:
    """One parked trio task: what a slot's ``waiter`` holds on trio (one per wait, so that the
    timer of an earlier wait cannot wake a later one). Once the wait ends it lets go of the
    slot: the heap may keep it a while, and must not keep the slot's value alive with it."""

    __slots__ = ("slot", "task")

    def __init__(self, task: Any, slot: Parked) -> None:
        self.task = task
        self.slot: Parked | None = slot

    def parked(self) -> bool:
        """Whether its task still waits on its slot."""
        return self.slot is not None and self.slot.waiter is self

    def abort(self, _raise_cancel: Any) -> Any:
        import trio

        if self.slot is not None and self.slot.waiter is self:
            self.slot.waiter = None  # cancelled: the reader must not reschedule it as well
        return trio.lowlevel.Abort.SUCCEEDED


class TrioWaiting:
    """The task itself parks (``wait_task_rescheduled``); timeouts come from one timer task
    per connection (:meth:`run_timer`) watching the deadlines, because a trio cancel scope
    with a deadline costs about as much as the rest of a call. trio is imported here only,
    inside a trio run: hubcore does not depend on it otherwise.
    """

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self.deadlines: _Deadlines[_Parked] = _Deadlines(_Parked.parked)
        self._timer: trio.CancelScope | None = None  # the timer task's sleep

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        lowlevel = self._trio.lowlevel
        parked = slot.waiter = _Parked(lowlevel.current_task(), slot)
        if timeout is None:
            try:
                await lowlevel.wait_task_rescheduled(parked.abort)
            finally:
                slot.waiter = parked.slot = None
            return
        when = self._trio.current_time() + timeout
        self.deadlines.push(when, parked)
        if self._timer is not None and when < self._timer.deadline:
            self._timer.deadline = when
        try:
            await lowlevel.wait_task_rescheduled(parked.abort)
        finally:
            slot.waiter = parked.slot = None
            self.deadlines.parked -= 1

    def wake(self, slot: Parked) -> None:
        parked = slot.waiter
        if parked is not None:
            slot.waiter = None
            self._trio.lowlevel.reschedule(parked.task)

    async def run_timer(self) -> None:
        """Wake the waits whose deadline passed, until cancelled (the connection runs it)."""
        trio = self._trio
        while True:
            with trio.CancelScope(deadline=self.deadlines.earliest()) as timer:
                self._timer = timer
                await trio.sleep_forever()
            self._timer = None
            for parked in self.deadlines.due(trio.current_time()):
                assert parked.slot is not None
                parked.slot.waiter = None
                trio.lowlevel.reschedule(parked.task)

    def close(self) -> None:
        """The connection ended (its task group ends the timer task)."""
