"""Large writes that bypass the write buffer of asyncio's own transports on Python 3.11.

Python 3.11's selector transport copies what the socket does not take at once into a
``bytearray``, and copies its remainder again each time it shrinks below half: a 16 MiB value
costs a second 16 MiB block, freshly allocated (page faults), and about as much again in
copies. (uvloop keeps references to the buffers it is given, and so does Python 3.12's
transport: there, nothing here is used.)

How it works: a write of at least :data:`DIRECT_MIN` bytes, made while the transport's buffer
is empty, is sent through the stream's second descriptor of the same socket (see
:mod:`hubcore.transport.aio`): what the socket takes at once, then the rest from a queue of
views of the caller's buffer, with the loop watching that descriptor for room. While the
queue holds anything, every write joins it, so bytes leave in the order they were written;
once it is empty, writes go to the transport again.

States: idle (nothing queued: writes go to the transport) -> sending (the queue holds views;
the loop watches the descriptor) -> idle, or closed (the connection ended: the queue is
dropped).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
from collections import deque
from collections.abc import Callable

__all__ = ("DIRECT_MIN", "DirectWrites", "transport_copies")

DIRECT_MIN = 256 * 1024
HIGH_WATER = 64 * 1024  # the queue's bytes above which writers wait (``high``)
LOW_WATER = 16 * 1024  # ... until it is back below this
SEND_BUFFERS = 512  # buffers per sendmsg (IOV_MAX is 1024 on Linux)


def transport_copies(transport: asyncio.BaseTransport) -> bool:
    """Whether ``transport`` copies large writes into a buffer of its own (see above)."""
    return sys.version_info < (3, 12) and type(transport).__module__ == "asyncio.selector_events"


class DirectWrites:
    """The queue of large writes sent past the transport, on a second descriptor ``sock``."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, on_level: Callable[[], None]
    ) -> None:
        """:param on_level: called when :attr:`high` changes."""
        self._loop = loop
        self._sock = sock
        self._on_level = on_level
        self._queue: deque[memoryview] = deque()
        self.queued = 0  # bytes in the queue
        self.high = False  # above the high-water mark, and not yet back below the low one
        self._waiters: list[asyncio.Future[None]] = []  # writers waiting for room
        self.closed = False

    def take(self, data: bytes | memoryview, idle: bool) -> bool:
        """Send ``data`` (or queue it behind what waits); False if it is not for here (write it
        to the transport): the queue is empty and ``data`` is small, or the transport's own
        buffer is not empty (``idle`` False), or this is closed.

        :param idle: the transport's buffer is empty: bytes sent here go out after its own.
        """
        if self.closed or (not self._queue and (len(data) < DIRECT_MIN or not idle)):
            return False
        view = memoryview(data)
        if not self._queue:
            try:
                view = view[self._sock.send(view) :]
            except BlockingIOError:
                pass
            except OSError:
                return False  # the transport will see the same failure, and say so
            if not view:
                return True
            self._loop.add_writer(self._sock.fileno(), self._send)
        self._queue.append(view)
        self.queued += view.nbytes
        if not self.high and self.queued > HIGH_WATER:
            self.high = True
            self._on_level()
        return True

    def _send(self) -> None:
        try:
            sent = self._sock.sendmsg(list(itertools.islice(self._queue, SEND_BUFFERS)))
        except BlockingIOError:
            return
        except OSError:
            self.close()  # the peer is gone: the transport's reader will find out and tell
            return
        self.queued -= sent
        queue = self._queue
        while sent:
            head = queue[0]
            if sent < head.nbytes:
                queue[0] = head[sent:]
                break
            sent -= head.nbytes
            queue.popleft()
        if not queue:
            self._loop.remove_writer(self._sock.fileno())
        if self.queued <= LOW_WATER:
            if self.high:
                self.high = False
                self._on_level()
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_below(self, level: int) -> None:
        """Wait until at most ``level`` bytes are queued (or this closed)."""
        while self.queued > level and not self.closed:
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter

    def close(self) -> None:
        """The connection ended: drop the queue, stop watching the descriptor."""
        if self.closed:
            return
        self.closed = True
        if self._queue:
            self._loop.remove_writer(self._sock.fileno())
        self._queue.clear()
        self.queued = 0
        if self.high:
            self.high = False
            self._on_level()
        self._wake()
