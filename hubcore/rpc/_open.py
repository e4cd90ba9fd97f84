"""Opening and accepting authenticated connections (hub links and peer links alike)."""

from __future__ import annotations

import logging
from typing import Any

from hubcore import _handshake
from hubcore._errors import AuthenticationFailed, ConnectionLost, ProtocolError, reason
from hubcore._handshake import HANDSHAKE_TIMEOUT
from hubcore._peer import CallHandler, Connection
from hubcore.transport import ByteStream, connect_unix

__all__ = ("accept_link", "open_link")

log = logging.getLogger("hubcore.links")


async def open_link(
    address: str, token: bytes, info: dict[str, Any], *, label: str, max_frame: int
) -> Connection:
    """Connect to ``address`` and authenticate; the caller then runs the connection.

    :raises ConnectionLost: nothing listens at ``address``.
    :raises AuthenticationFailed: the token was refused.
    """
    stream = await connect_unix(address)
    try:
        peer, decoder, frames = await _handshake.initiate(stream, token, info)
    except BaseException:
        await stream.aclose()
        raise
    return Connection(
        stream, decoder=decoder, frames=frames, label=label, peer=peer, max_frame=max_frame
    )


async def accept_link(
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
        peer, decoder, frames = await _handshake.accept(
            stream, token, info, timeout=handshake_timeout
        )
    except (AuthenticationFailed, ProtocolError, ConnectionLost, TimeoutError) as exc:
        pid = stream.credentials.pid
        log.warning("%s refused a connection from pid %s: %s", what, pid, reason(exc))
        await stream.aclose()
        return None
    peer.setdefault("pid", stream.credentials.pid)
    label = f"{peer.get('process') or '?'}.{peer.get('instance') or 0} (pid {peer['pid']})"
    return Connection(
        stream,
        decoder=decoder,
        frames=frames,
        handler=handler,
        label=label,
        peer=peer,
        max_frame=max_frame,
    )
