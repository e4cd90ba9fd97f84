"""A change signal: "something changed, look again", broadcast to every waiter.

How it works: one :class:`anyio.Event` stands for the next change, made by the first waiter.
:meth:`Changes.notify` sets it, which wakes everyone waiting, and drops it so the next waiter
makes a fresh one. With nobody waiting, a notify costs an attribute check, and it works outside
an event loop (older versions of anyio need a running loop to set an event).
No value travels with the signal: a waiter re-reads the state it cares about and waits again
if its condition still does not hold. This replaces polling wherever state changes in one task
and is awaited in others (the directory, the supervisor's records, an app's readiness).

A change that happens between a waiter's check and its :meth:`Changes.wait` is seen only if
there is no ``await`` between the two; loops written as ``while not cond(): await
changes.wait()`` satisfy that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anyio

__all__ = ("Changes",)


class Changes:
    """A broadcast signal: :meth:`notify` wakes every task blocked in :meth:`wait`.

    The event is made by the first waiter, so a signal nobody waits for (a directory read by
    blocking calls only) costs no event and no import of anyio.
    """

    def __init__(self) -> None:
        self._next: anyio.Event | None = None

    def notify(self) -> None:
        """Wake every current waiter; later waiters wait for the next notify."""
        if self._next is not None:
            self._next.set()
            self._next = None

    async def wait(self) -> None:
        """Block until the next :meth:`notify`."""
        if self._next is None:
            import anyio

            self._next = anyio.Event()
        await self._next.wait()
