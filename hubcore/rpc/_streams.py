"""Streams (async-generator methods) with credit-based back-pressure, both sides.

How it works: the CALL of a stream carries a window ``w``. The producer (:class:`Credits`, on
the callee) starts with ``w`` credits and spends one per STREAM_ITEM; with none left it waits.
The consumer (:class:`RemoteStream`, on the caller) counts the items it consumed and sends
them back as one STREAM_CREDIT once it reaches half the window. So the producer never runs
more than ``w`` items ahead of what the consumer took.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from hubcore._errors import CallTimeout, ConnectionLost
from hubcore.protocol import StreamCredit, encode_frame
from hubcore.protocol._codec import Undecodable

if TYPE_CHECKING:
    from hubcore.rpc._calls import Pending
    from hubcore.rpc._connection import Connection

__all__ = ("STREAM_WINDOW", "Credits", "RemoteStream")

STREAM_WINDOW = 16


class RemoteStream:
    """The consumer side of a remote async generator, with credit-based back-pressure.

    The producer may run at most ``window`` items ahead of what this side consumed.
    """

    def __init__(
        self,
        conn: Connection,
        cid: int,
        slot: Pending,
        what: str,
        timeout: float | None,
        window: int,
    ) -> None:
        self._conn = conn
        self._cid = cid
        self._slot = slot
        self._what = what
        self._timeout = timeout
        self._window = window
        self._consumed = 0
        self._finished = False

    def __aiter__(self) -> RemoteStream:
        return self

    async def __anext__(self) -> Any:
        slot = self._slot
        assert slot.items is not None
        while not slot.items:
            if self._finished:
                raise StopAsyncIteration
            if slot.done or slot.lost:
                await self._finish()
            await self._conn.calls.waits.wait(slot, self._timeout)
            if not (slot.items or slot.done or slot.lost):
                await self.aclose()
                raise CallTimeout(f"{self._what} sent no item within {self._timeout}s")
        item = slot.items.popleft()
        self._credit()
        if isinstance(item, Undecodable):
            raise TypeError(item.message)
        return item

    def _credit(self) -> None:
        self._consumed += 1
        if self._consumed * 2 >= self._window and not self._conn.closed:
            self._conn.write(encode_frame(StreamCredit(self._cid, self._consumed)))
            self._consumed = 0

    async def _finish(self) -> None:
        self._finished = True
        self._conn.calls.forget(self._cid)
        if self._slot.error is not None:
            raise self._slot.error
        if self._slot.lost and not self._slot.done:
            raise await self._conn.failure()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop consuming: the producer is cancelled."""
        if not self._finished:
            self._finished = True
            if self._conn.calls.waiting(self._cid):
                self._conn.calls.end(self._cid, self._slot)

    async def __aenter__(self) -> RemoteStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Credits:
    """The producer side: how many items each served stream may still send."""

    def __init__(self) -> None:
        self._left: dict[int, int] = {}
        self._events: dict[int, anyio.Event] = {}

    def add(self, cid: int, items: int) -> None:
        """The consumer of ``cid`` took ``items`` more items."""
        self._left[cid] = self._left.get(cid, 0) + items
        event = self._events.get(cid)
        if event is not None:
            event.set()

    async def take(self, cid: int, window: int, closed: Callable[[], bool]) -> None:
        """Spend one credit of ``cid`` (which starts with ``window``), waiting for one.

        :raises ConnectionLost: the connection closed while waiting.
        """
        self._left.setdefault(cid, window)
        while self._left[cid] <= 0:
            if closed():
                raise ConnectionLost("the consumer of the stream went away")
            event = self._events[cid] = anyio.Event()
            await event.wait()
        self._left[cid] -= 1

    def forget(self, cid: int) -> None:
        """``cid`` ended."""
        self._left.pop(cid, None)
        self._events.pop(cid, None)

    def wake_all(self) -> None:
        """The connection closed: every waiting producer wakes (and finds it closed)."""
        for event in self._events.values():
            event.set()
