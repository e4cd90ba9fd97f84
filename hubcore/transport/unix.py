"""Unix domain socket transport: anyio sockets, socket mode 0600, peer credentials."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from hubcore.transport._accept import EXHAUSTED, SKIPPED, AcceptPause
from hubcore.transport._mapping import map_exceptions
from hubcore.transport.base import RECEIVE_SIZE, ByteStream

__all__ = (
    "RECEIVE_SIZE",
    "Credentials",
    "UnixListener",
    "UnixStream",
    "connect_unix",
    "listen_unix",
    "peer_credentials",
)


@dataclass(frozen=True)
class Credentials:
    """Peer pid and uid from SO_PEERCRED (None where the platform has no such thing)."""

    pid: int | None = None
    uid: int | None = None


def peer_credentials(sock: socket.socket) -> Credentials:
    """Read SO_PEERCRED of a connected Unix socket."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return Credentials()
    fmt = "3i"
    raw = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize(fmt))
    pid, uid, _gid = struct.unpack(fmt, raw)
    return Credentials(pid=pid, uid=uid)


class UnixStream:
    """A connected Unix socket as a :class:`ByteStream`."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        self._credentials = peer_credentials(raw)

    @property
    def credentials(self) -> Credentials:
        """The peer's pid and uid, read once at connection time."""
        return self._credentials

    async def receive(self) -> bytes:
        with map_exceptions("receive failed"):
            try:
                return await self._stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                return b""

    async def send(self, data: bytes) -> None:
        with map_exceptions("send failed"):
            await self._stream.send(data)

    async def send_eof(self) -> None:
        with map_exceptions("send_eof failed"):
            await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def connect_unix(path: str) -> UnixStream:
    """Connect to a Unix socket.

    :raises ConnectionLost: nobody listens there (the message says where).
    """
    with map_exceptions(f"cannot connect to {path}"):
        return UnixStream(await anyio.connect_unix(path))


class UnixListener:
    """A listening Unix socket, mode 0600."""

    def __init__(self, listener: anyio.abc.SocketListener, address: str) -> None:
        self._listener = listener
        self.address = address

    async def serve(self, handler: Callable[[ByteStream], Awaitable[None]]) -> None:
        # Not anyio's serve(): an accept() that fails for lack of file descriptors would end it.
        pause = AcceptPause(self.address)

        async def accepted(stream: anyio.abc.SocketStream) -> None:
            await handler(UnixStream(stream))

        async with anyio.create_task_group() as tg:
            while True:
                try:
                    stream = await self._listener.accept()
                except anyio.BrokenResourceError as exc:
                    cause = exc.__cause__
                    if not isinstance(cause, OSError) or cause.errno not in EXHAUSTED | SKIPPED:
                        raise
                    if cause.errno in EXHAUSTED:
                        await pause.failed(cause)
                    continue
                pause.accepted()
                tg.start_soon(accepted, stream)

    async def aclose(self) -> None:
        await self._listener.aclose()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)


async def listen_unix(path: str) -> UnixListener:
    """Listen on ``path`` (a stale socket file there is replaced), owner-only access."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    # The run directory is 0700, so the moment between bind and chmod exposes nothing.
    listener = await anyio.create_unix_listener(path)
    os.chmod(path, 0o600)
    return UnixListener(listener, path)
