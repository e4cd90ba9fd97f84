"""The write path of a connection: encoded frames queued without awaiting, sent together.

How it works: :meth:`Outbox.write` never blocks. Streams that can take bytes without a task
(asyncio transports, ``write_nowait``) get them at once: an idle call's CALL leaves in the same
loop step, with no flush scheduled. Frames produced together are coalesced by *corking*: while
corked, writes wait in a list, and :meth:`uncork` hands them to the stream in one write (the
connection corks around every batch of frames it handles, so the replies of a batch of calls
leave in one system call). Streams without ``write_nowait`` (trio's, memory pairs without it)
get their bytes from :meth:`pump`, the writer task, which sends what is queued in one ``send``;
a stream that sends at once what the socket takes but queues the rest (trio's) has its own
writer, which :meth:`pump` runs.

States: open -> failed (a send raised; every later write is dropped). ``drained`` is set
whenever nothing waits to be sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from hubcore._errors import ConnectionLost
from hubcore.transport import ByteStream

__all__ = ("Outbox",)

JOIN_MAX = 64 * 1024  # corked writes leave joined in one buffer unless one is larger than this


class Outbox:
    """Queued writes to one byte stream."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._queue: list[bytes] = []
        self.corked = False  # writes wait in the queue until uncork (read by the watchdog's guard)
        self._large = False  # the queue holds a write above JOIN_MAX (never joined: no copy)
        self._wake = anyio.Event()
        self.drained = anyio.Event()
        self.drained.set()
        self.failed = False
        self.closed = False
        self._write_nowait: Callable[[bytes], None] | None = getattr(stream, "write_nowait", None)
        # A stream that queues what the socket does not take, and needs a task to send it.
        self._run_writer: Callable[[], Awaitable[None]] | None = getattr(stream, "run_writer", None)
        # Streams that buffer writes say when too much waits (a plain attribute: read often).
        self._watch = hasattr(stream, "writing_paused")

    @property
    def needs_pump(self) -> bool:
        """Whether a task must run :meth:`pump` (the stream cannot send bytes by itself)."""
        return self._write_nowait is None or self._run_writer is not None

    def write(self, data: bytes) -> None:
        """Queue encoded bytes (never blocks; dropped once the outbox is closed or failed)."""
        if self.closed or self.failed:
            return
        if self.corked:
            self._queue.append(data)
            if len(data) > JOIN_MAX:
                self._large = True
        elif self._write_nowait is not None:
            self._write_nowait(data)
        else:
            self._queue.append(data)
            self._queued()

    @property
    def writing_paused(self) -> bool:
        """Whether the bytes waiting to be sent are above the stream's high-water mark."""
        return self._watch and bool(self._stream.writing_paused)  # type: ignore[attr-defined]

    async def drain(self) -> None:
        """Wait until the bytes waiting to be sent are below the low-water mark (or the
        stream failed or closed)."""
        drain = getattr(self._stream, "drain", None)
        while drain is not None and self.writing_paused and not (self.closed or self.failed):
            await drain()

    def write_parts(self, parts: list[bytes]) -> None:
        """Queue buffers that go out in order, each as it is (a large one is never joined)."""
        if len(parts) == 1:
            self.write(parts[0])
            return
        for part in parts:
            self.write(part)

    def cork(self) -> None:
        """Hold writes until :meth:`uncork`, to send them together."""
        self.corked = True

    def uncork(self) -> None:
        """Send what was written since :meth:`cork`, in one write."""
        if not self.corked:
            return
        self.corked = False
        if not self._queue or self.closed or self.failed:
            return
        if self._write_nowait is None:
            self._queued()
            return
        out, self._queue = self._queue, []
        if len(out) == 1:
            self._write_nowait(out[0])
        elif not self._large:
            self._write_nowait(b"".join(out))
        else:  # a large value among them: no copy of it
            self._large = False
            for data in out:
                self._write_nowait(data)

    def _queued(self) -> None:
        if self.drained.is_set():
            self.drained = anyio.Event()
        self._wake.set()

    async def pump(self) -> None:
        """Send what is queued, as it comes, until cancelled.

        :raises ConnectionLost: a send failed; the outbox takes no more writes.
        """
        if self._run_writer is not None:
            try:
                await self._run_writer()
            except ConnectionLost:
                self.failed = True
                raise
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                while self._queue:
                    out = self._queue
                    self._queue = []
                    await self._stream.send(out[0] if len(out) == 1 else b"".join(out))
                self.drained.set()
        except ConnectionLost:
            self.failed = True
            self.drained.set()
            raise

    def close(self) -> None:
        """Take no more writes; whoever waits for ``drained`` stops waiting."""
        self.closed = True
        self._queue.clear()
        self.drained.set()
