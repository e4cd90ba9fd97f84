"""Transport interfaces: a connected byte stream and a listener. Bytes only, never objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ("RECEIVE_SIZE", "ByteStream", "Listener", "PeerCredentials", "Receiver", "feed_receiver")

RECEIVE_SIZE = 256 * 1024  # bytes asked of the socket per read


class PeerCredentials(Protocol):
    """Who is on the other end of a stream, as the kernel reports it."""

    @property
    def pid(self) -> int | None: ...

    @property
    def uid(self) -> int | None: ...


class Receiver(Protocol):
    """Where a stream puts the bytes it receives, as ``asyncio.BufferedProtocol`` does: it asks
    for a buffer, reads into it, and says how many bytes it wrote there. The buffer is not
    used after ``buffer_updated``: the receiver may release it then."""

    def get_buffer(self, sizehint: int) -> memoryview: ...

    def buffer_updated(self, nbytes: int) -> None: ...


def feed_receiver(receiver: Receiver, data: bytes | bytearray | memoryview) -> None:
    """Hand bytes already received to ``receiver``, in its buffers."""
    view = memoryview(data)
    while view:
        room = receiver.get_buffer(len(view))
        n = min(len(room), len(view))
        room[:n] = view[:n]
        receiver.buffer_updated(n)
        view = view[n:]


class ByteStream(Protocol):
    """A reliable, ordered, connected byte stream.

    ``receive`` returns ``b""`` at end of stream. Failures raise ``ConnectionLost``. Bytes that
    arrived before a ``send`` failed can still be received (the other end's last frames).

    ``receive_into(receiver)`` is the other way to receive, for good: every byte that arrives
    from then on goes into the receiver's buffers as it arrives (on asyncio, from the event
    loop's read callback, with no task in between), until the end of the stream, when it
    returns. An exception the receiver raises ends it with that exception. ``pause_reading``
    and ``resume_reading`` stop and restart it, so the kernel's buffers hold back the sender.
    """

    @property
    def credentials(self) -> PeerCredentials: ...

    async def receive(self) -> bytes: ...

    async def receive_into(self, receiver: Receiver) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    async def send(self, data: bytes) -> None: ...

    async def send_eof(self) -> None: ...

    async def aclose(self) -> None: ...


class Listener(Protocol):
    """Accepts streams and hands each to a handler in its own task until closed."""

    address: str

    async def serve(self, handler: Callable[[ByteStream], Awaitable[None]]) -> None: ...

    async def aclose(self) -> None: ...
