"""Transport interfaces: a connected byte stream and a listener. Bytes only, never objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ("RECEIVE_SIZE", "ByteStream", "Listener", "PeerCredentials")

RECEIVE_SIZE = 256 * 1024  # bytes asked of the socket per read


class PeerCredentials(Protocol):
    """Who is on the other end of a stream, as the kernel reports it."""

    @property
    def pid(self) -> int | None: ...

    @property
    def uid(self) -> int | None: ...


class ByteStream(Protocol):
    """A reliable, ordered, connected byte stream.

    ``receive`` returns ``b""`` at end of stream. Failures raise ``ConnectionLost``. Bytes that
    arrived before a ``send`` failed can still be received (the other end's last frames).
    """

    @property
    def credentials(self) -> PeerCredentials: ...

    async def receive(self) -> bytes: ...

    async def send(self, data: bytes) -> None: ...

    async def send_eof(self) -> None: ...

    async def aclose(self) -> None: ...


class Listener(Protocol):
    """Accepts streams and hands each to a handler in its own task until closed."""

    address: str

    async def serve(self, handler: Callable[[ByteStream], Awaitable[None]]) -> None: ...

    async def aclose(self) -> None: ...
