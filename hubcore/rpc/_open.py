"""Opening and accepting authenticated connections (to the hub and between processes alike)."""

from __future__ import annotations

import logging
from typing import Any

from hubcore._errors import AuthenticationFailed, ConnectionLost, ProtocolError, reason
from hubcore.rpc import _handshake
from hubcore.rpc._connection import CallHandler, Connection
from hubcore.rpc._handshake import HANDSHAKE_TIMEOUT
from hubcore.transport import ByteStream, connect_unix

__all__ = ("accept_connection", "open_connection")

log = logging.getLogger("hubcore.rpc")


async def open_connection(
    address: str, token: bytes, info: dict[str, Any], *, label: str, max_frame: int
) -> Connection:
    """Connect to ``address`` and authenticate; the caller then runs the connection.

    :raises ConnectionLost: nothing listens at ``address``.
    :raises AuthenticationFailed: the token was refused.
    """
    stream = await connect_unix(address)
    try:
        remote, decoder, frames = await _handshake.initiate(stream, token, info)
    except BaseException:
        await stream.aclose()
        raise
    return Connection(
        stream, decoder=decoder, frames=frames, label=label, remote=remote, max_frame=max_frame
    )


async def accept_connection(
    stream: ByteStream,
    token: bytes,
    info: dict[str, Any],
    *,
    handler: CallHandler | None,
    what: str,
    max_frame: int,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
) -> Connection | None:
    """Authenticate an accepted stream; None (after one log line) if it failed."""
    try:
        remote, decoder, frames = await _handshake.accept(
            stream, token, info, timeout=handshake_timeout
        )
    except (AuthenticationFailed, ProtocolError, ConnectionLost, TimeoutError) as exc:
        pid = stream.credentials.pid
        log.warning("%s refused a connection from pid %s: %s", what, pid, reason(exc))
        await stream.aclose()
        return None
    remote.setdefault("pid", stream.credentials.pid)
    label = f"{remote.get('process') or '?'}.{remote.get('instance') or 0} (pid {remote['pid']})"
    return Connection(
        stream,
        decoder=decoder,
        frames=frames,
        handler=handler,
        label=label,
        remote=remote,
        max_frame=max_frame,
    )
