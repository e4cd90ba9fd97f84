"""Opening and accepting authenticated connections (to the hub and between processes alike)."""

from __future__ import annotations

from typing import Any

from hubcore._errors import AuthenticationFailed, ConnectionLost, ProtocolError, reason
from hubcore.protocol._bulk import agreed, with_features
from hubcore.rpc import _handshake
from hubcore.rpc._connection import CallHandler, Connection
from hubcore.rpc._handshake import HANDSHAKE_TIMEOUT
from hubcore.rpc._refusals import RefusalLog
from hubcore.transport import ByteStream, connect_unix

__all__ = ("accept_connection", "open_connection")


async def open_connection(
    address: str, token: bytes, info: dict[str, Any], *, label: str, max_frame: int
) -> Connection:
    """Connect to ``address`` and authenticate; the caller then runs the connection.

    :raises ConnectionLost: nothing listens at ``address``.
    :raises AuthenticationFailed: the token was refused.
    """
    stream = await connect_unix(address)
    try:
        remote, decoder, frames = await _handshake.initiate(stream, token, with_features(info))
    except BaseException:
        await stream.aclose()
        raise
    return Connection(
        stream,
        decoder=decoder,
        frames=frames,
        label=label,
        remote=remote,
        max_frame=max_frame,
        bulk=agreed(remote),
    )


async def accept_connection(
    stream: ByteStream,
    token: bytes,
    info: dict[str, Any],
    *,
    handler: CallHandler | None,
    refusals: RefusalLog,
    max_frame: int,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
) -> Connection | None:
    """Authenticate an accepted stream; None if it failed (logged through ``refusals``, at
    most a line a second however many fail)."""
    try:
        remote, decoder, frames = await _handshake.accept(
            stream, token, with_features(info), timeout=handshake_timeout
        )
    except (AuthenticationFailed, ProtocolError, ConnectionLost, TimeoutError) as exc:
        flush = refusals.refused(stream.credentials.pid, reason(exc))
        await stream.aclose()
        if flush:  # this task logs the refusals counted until the end of the second
            await refusals.flush_when_due()
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
        bulk=agreed(remote),
    )
