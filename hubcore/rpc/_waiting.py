"""Parking a task until the connection's reader wakes it, or a deadline passes.

How it works: a caller waiting for its reply (or a stream consumer for its next item) parks on
the state the reader fills, its *slot*: ``await waiting.wait(slot, timeout)`` returns when the
reader called ``waiting.wake(slot)``, or when ``timeout`` seconds passed; the caller then reads
the slot to tell which. Nothing is made per wait but the parking itself:

- on asyncio (uvloop too): one future, and with a timeout one ``loop.call_at`` timer;
- on trio: the task parks with ``wait_task_rescheduled``, inside a cancel scope when there is
  a timeout.

No anyio cancel scope, Event or backend lookup per call: the backend and the loop are found once,
when the connection is made (inside the loop that runs it). Cancelling the parked task (an outer
cancel scope, on either backend) raises through the ``await`` as usual, so the caller's
``finally`` still runs (and sends CANCEL).

Invariant: a slot has at most one parked waiter, and ``wake`` clears it, so a reply that comes
twice (or after the waiter gave up) wakes nobody.
"""

from __future__ import annotations

import asyncio
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


class TrioWaiting:
    """The task itself parks (``wait_task_rescheduled``); trio's own cancel scope times it out.

    trio is imported here only, inside a trio run: hubcore does not depend on it otherwise.
    """

    def __init__(self) -> None:
        import trio

        self._trio = trio

    async def wait(self, slot: Parked, timeout: float | None) -> None:
        lowlevel = self._trio.lowlevel
        slot.waiter = lowlevel.current_task()

        def abort(_raise_cancel: Any) -> Any:
            slot.waiter = None  # cancelled: the reader must not reschedule it as well
            return lowlevel.Abort.SUCCEEDED

        try:
            if timeout is None:
                await lowlevel.wait_task_rescheduled(abort)
            else:
                with self._trio.move_on_after(timeout):
                    await lowlevel.wait_task_rescheduled(abort)
        finally:
            slot.waiter = None

    def wake(self, slot: Parked) -> None:
        task = slot.waiter
        if task is not None:
            slot.waiter = None
            self._trio.lowlevel.reschedule(task)
