"""Transports: byte streams between processes, over Unix sockets.

On asyncio the streams use asyncio's protocol layer (:mod:`.aio`, the fast path); on trio,
anyio's socket streams (:mod:`.unix`). Both give the same :class:`ByteStream`.
"""

from __future__ import annotations

from hubcore._errors import HubError
from hubcore.transport._backend import running_backend
from hubcore.transport.base import ByteStream, Listener, PeerCredentials

__all__ = (
    "MAX_PATH",
    "ByteStream",
    "Listener",
    "PeerCredentials",
    "check_path",
    "connect_unix",
    "listen_unix",
)

MAX_PATH = 107  # sun_path is 108 bytes with its terminating NUL on Linux


def check_path(path: str) -> None:
    """Refuse a socket path the kernel cannot bind (too long), with what to do instead."""
    size = len(path.encode())
    if size > MAX_PATH:
        raise HubError(
            f"socket path {path} is {size} bytes, over the {MAX_PATH}-byte limit of Unix "
            "sockets: use a shorter run directory"
        )


async def connect_unix(path: str) -> ByteStream:
    """Connect to the Unix socket at ``path``.

    :raises ConnectionLost: nothing listens there.
    """
    check_path(path)
    if running_backend() == "asyncio":
        from hubcore.transport import aio  # here: a process that never connects skips asyncio

        return await aio.connect(path)
    from hubcore.transport import unix

    return await unix.connect_unix(path)


async def listen_unix(path: str) -> Listener:
    """Listen on ``path`` with owner-only access (a stale socket file is replaced)."""
    check_path(path)
    if running_backend() == "asyncio":
        from hubcore.transport import aio

        return await aio.listen(path)
    from hubcore.transport import unix

    return await unix.listen_unix(path)
