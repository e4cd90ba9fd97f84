"""The write path of a connection: encoded frames queued without awaiting, sent together.

How it works: :meth:`Outbox.write` never blocks. Streams that can queue bytes without a task
(asyncio transports, ``write_nowait``) take them at once and coalesce them per loop step;
otherwise the bytes wait in a list that :meth:`Outbox.pump`, the writer task, flushes in one
``send``, so frames produced together leave together.

States: open -> failed (a send raised; every later write is dropped). ``drained`` is set
whenever nothing waits to be sent.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from hubcore._errors import ConnectionLost
from hubcore.transport import ByteStream

__all__ = ("Outbox",)


class Outbox:
    """Queued writes to one byte stream."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._queue: list[bytes] = []
        self._wake = anyio.Event()
        self.drained = anyio.Event()
        self.drained.set()
        self.failed = False
        self.closed = False
        self._write_nowait: Callable[[bytes], None] | None = getattr(stream, "write_nowait", None)

    @property
    def needs_pump(self) -> bool:
        """Whether a task must run :meth:`pump` (the stream cannot queue bytes itself)."""
        return self._write_nowait is None

    def write(self, data: bytes) -> None:
        """Queue encoded bytes (never blocks; dropped once the outbox is closed or failed)."""
        if self.closed or self.failed:
            return
        if self._write_nowait is not None:
            self._write_nowait(data)
            return
        self._queue.append(data)
        if self.drained.is_set():
            self.drained = anyio.Event()
        self._wake.set()

    async def pump(self) -> None:
        """Send what is queued, as it comes, until cancelled.

        :raises ConnectionLost: a send failed; the outbox takes no more writes.
        """
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
        self.drained.set()
