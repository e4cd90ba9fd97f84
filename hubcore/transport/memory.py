"""Two connected byte streams in one process, without sockets: for tests of everything above.

How it works: :func:`memory_stream_pair` joins two :class:`MemoryStream` ends with two pipes,
one per direction. A pipe holds the chunks written to it until its reader takes them all in
one ``receive``, as a socket buffer does.

The ends behave like the Unix transports (:mod:`hubcore.transport.unix`, ``aio``):

- ``receive`` returns every byte that arrived since the last one, and ``b""`` once the other
  end sent EOF or closed and everything it sent before was read;
- ``send_eof`` ends our direction only: the other end reads ``b""`` after our bytes, and may
  still send to us;
- ``aclose`` ends both: the other end reads what we sent, then ``b""``; its sends fail with
  :class:`ConnectionLost` (a broken pipe), and so does anything we try afterwards, a receive
  already waiting included;
- :meth:`MemoryStream.vanish` is an ``aclose`` that needs no await: an end dies at an exact
  point, as a killed process would. The connection on it says no GOODBYE, so the other end
  takes it for a crash.

With ``write_nowait=True`` the ends also have ``write_nowait``, as asyncio's streams do, so a
connection on them writes without a writer task (the asyncio path); without it, the writer
task runs (the trio path).
"""

from __future__ import annotations

import os

import anyio
import anyio.lowlevel

from hubcore._errors import ConnectionLost
from hubcore.transport.base import Receiver, feed_receiver
from hubcore.transport.unix import Credentials

__all__ = ("MemoryStream", "memory_stream_pair")


class _Pipe:
    """One direction: what one end sent and the other has not read yet."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._waiter: anyio.Event | None = None
        self.ended = False  # the sending end sent EOF or closed: reads end after the data
        self.broken = False  # the receiving end closed: sends fail, unread bytes are lost

    def put(self, data: bytes) -> None:
        if self.broken:
            raise ConnectionLost("send failed: [Errno 32] Broken pipe (the other end closed)")
        if self.ended:
            raise ConnectionLost("send failed: this end already sent EOF")
        if data:
            self._chunks.append(data)
            self._wake()

    async def take(self) -> bytes:
        while not self._chunks:
            if self.broken:
                raise ConnectionLost("receive failed: the stream is closed")
            if self.ended:
                return b""
            self._waiter = anyio.Event()
            await self._waiter.wait()
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        return data

    def end(self) -> None:
        self.ended = True
        self._wake()

    def break_(self) -> None:
        self.broken = True
        self._chunks.clear()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None


class MemoryStream:
    """One end of an in-memory stream pair: a :class:`~hubcore.transport.ByteStream`."""

    def __init__(self, incoming: _Pipe, outgoing: _Pipe) -> None:
        self._in = incoming
        self._out = outgoing
        self._credentials = Credentials(pid=os.getpid(), uid=os.getuid())
        self._reading: anyio.Event | None = None  # set while reading is paused
        self.closed = False

    @property
    def credentials(self) -> Credentials:
        """This process's pid and uid: the other end lives here too."""
        return self._credentials

    async def receive(self) -> bytes:
        """What arrived since the last receive; ``b""`` at the end of the other end's data.

        :raises ConnectionLost: this end is closed.
        """
        return await self._in.take()

    async def receive_into(self, receiver: Receiver) -> None:
        """Hand everything that arrives to ``receiver`` until the other end's data ends.

        :raises ConnectionLost: this end is closed.
        """
        while True:
            while self._reading is not None:  # paused
                await self._reading.wait()
            data = await self._in.take()
            if not data:
                return
            feed_receiver(receiver, data)

    def pause_reading(self) -> None:
        """Take nothing more from the pipe until :meth:`resume_reading` (it keeps filling:
        a pipe has no size limit)."""
        if self._reading is None:
            self._reading = anyio.Event()

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`."""
        if self._reading is not None:
            self._reading.set()
            self._reading = None

    async def send(self, data: bytes) -> None:
        """Hand ``data`` to the other end (never blocks: the pipe has no size limit).

        :raises ConnectionLost: either end closed, or this end sent EOF.
        """
        if self.closed:
            raise ConnectionLost("send failed: the stream is closed")
        self._out.put(bytes(data))
        await anyio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        """End our direction; we can still receive.

        :raises ConnectionLost: this end is closed.
        """
        if self.closed:
            raise ConnectionLost("send_eof failed: the stream is closed")
        self._out.end()
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Close both directions (idempotent)."""
        self.vanish()
        await anyio.lowlevel.checkpoint()

    def vanish(self) -> None:
        """Close both directions now, as a killed process's socket closes (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._out.end()
        self._in.break_()


class _NowaitMemoryStream(MemoryStream):
    def write_nowait(self, data: bytes) -> None:
        """Queue bytes without awaiting; dropped once either end closed (as asyncio's are)."""
        if not self.closed and not self._out.broken and not self._out.ended:
            self._out.put(bytes(data))


def memory_stream_pair(*, write_nowait: bool = False) -> tuple[MemoryStream, MemoryStream]:
    """Two connected byte streams: what one sends, the other receives.

    :param write_nowait: give both ends ``write_nowait``, as on asyncio (see the module doc).
    :return: the two ends.
    """
    a_to_b, b_to_a = _Pipe(), _Pipe()
    cls = _NowaitMemoryStream if write_nowait else MemoryStream
    return cls(b_to_a, a_to_b), cls(a_to_b, b_to_a)
