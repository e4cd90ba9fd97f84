"""Parking a task until the connection's reader wakes it, or a deadline passes.

How it works: a caller waiting for its reply (or a stream consumer for its next item) parks on
the state the reader fills, its *slot*: ``await waiting.wait(slot, timeout)`` returns when the
reader called ``waiting.wake(slot)``, or when ``timeout`` seconds passed; the caller then reads
the slot to tell which. Nothing is made per wait but the parking itself:

- on asyncio (uvloop too): one future, and with a timeout one ``loop.call_at`` timer;
- on trio: the task parks with ``wait_task_rescheduled``; a timeout is an entry in a heap that
  one timer task per connection watches (:meth:`TrioWaiting.run_timer`).

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
from typing import Any, Protocol

from hubcore.transport._backend import running_backend

__all__ = ("AsyncioWaiting", "Parked", "TrioWaiting", "Waiting", "for_running_loop")


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


def for_running_loop() -> Waiting:
    """The way to park tasks on the event loop running now."""
    if running_backend() == "trio":
        return TrioWaiting()
    return AsyncioWaiting(asyncio.get_running_loop())


class AsyncioWaiting:
    """A future per wait, and a ``call_at`` timer when there is a timeout."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        loop = self.loop
        future = slot.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_at(loop.time() + timeout, _expire, future)
        try:
            await future
        finally:
            slot.waiter = None
            if timer is not None:
                timer.cancel()

    def wake(self, slot: Parked) -> None:
        future = slot.waiter
        if future is not None:
            slot.waiter = None
            if not future.done():
                future.set_result(None)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
    per connection (:meth:`run_timer`) and a heap of deadlines, because a trio cancel scope
    with a deadline costs about as much as the rest of a call.

    The heap keeps the deadlines of waits that ended already, and is rebuilt without them
    once they outnumber the live ones (so a wait costs O(1), amortised). trio is imported
    here only, inside a trio run: hubcore does not depend on it otherwise.
    """

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._heap: list[tuple[float, int, _Parked]] = []
        self._seq = itertools.count()
        self._live = 0  # waits with a deadline, parked now
        self._timer: trio.CancelScope | None = None  # the timer task's sleep

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        lowlevel = self._trio.lowlevel
        parked = slot.waiter = _Parked(lowlevel.current_task(), slot)
        if timeout is None:
            try:
                await lowlevel.wait_task_rescheduled(parked.abort)
            finally:
                slot.waiter = None
            return
        self._arm(self._trio.current_time() + timeout, parked)
        try:
            await lowlevel.wait_task_rescheduled(parked.abort)
        finally:
            slot.waiter = parked.slot = None
            self._live -= 1

    def wake(self, slot: Parked) -> None:
        parked = slot.waiter
        if parked is not None:
            slot.waiter = None
            self._trio.lowlevel.reschedule(parked.task)

    def _arm(self, deadline: float, parked: _Parked) -> None:
        heap = self._heap
        if len(heap) > 2 * self._live + 64:
            heap[:] = [entry for entry in heap if entry[2].parked()]
            heapq.heapify(heap)
        self._live += 1
        heapq.heappush(heap, (deadline, next(self._seq), parked))
        if self._timer is not None and deadline < self._timer.deadline:
            self._timer.deadline = deadline

    async def run_timer(self) -> None:
        """Wake the waits whose deadline passed, until cancelled (the connection runs it)."""
        trio, heap = self._trio, self._heap
        while True:
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as timer:
                self._timer = timer
                await trio.sleep_forever()
            self._timer = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                parked = heapq.heappop(heap)[2]
                if parked.parked():
                    assert parked.slot is not None
                    parked.slot.waiter = None
                    trio.lowlevel.reschedule(parked.task)
