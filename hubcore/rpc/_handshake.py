"""The token handshake that opens every connection, hub or peer.

client -> HELLO [version, client_nonce, info]
server -> CHALLENGE [server_nonce, proof(token, "server", client_nonce), info]
client -> AUTH [proof(token, "client", server_nonce)]
server -> WELCOME [info]            (or ERROR, then close)

On Linux the server also checks that the peer runs under its own uid (SO_PEERCRED).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from typing import Any

import anyio

from hubcore._errors import AuthenticationFailed, ConnectionLost, ProtocolError
from hubcore.protocol import (
    NONCE_SIZE,
    PROTOCOL_VERSION,
    FrameDecoder,
    Kind,
    encode_frame,
    proof,
    verify,
)
from hubcore.transport import ByteStream

__all__ = ("HANDSHAKE_TIMEOUT", "accept", "initiate")

log = logging.getLogger("hubcore.rpc")

HANDSHAKE_TIMEOUT = 5.0
_MAX_HANDSHAKE_FRAME = 64 * 1024


async def _next_frame(stream: ByteStream, decoder: FrameDecoder, frames: list[list[Any]]) -> Any:
    while not frames:
        data = await stream.receive()
        if not data:
            raise ConnectionLost("the other end closed the connection during the handshake")
        frames.extend(decoder.feed(data))
    return frames.pop(0)


@contextlib.contextmanager
def _within(timeout: float) -> Iterator[None]:
    """Bound the handshake; a silent other end gets a TimeoutError that says so."""
    try:
        with anyio.fail_after(timeout):
            yield
    except TimeoutError:
        raise TimeoutError(
            f"the other end did not complete the handshake within {timeout:g} s"
        ) from None


def _expect(frame: list[Any], kind: Kind, size: int) -> list[Any]:
    if frame[0] == Kind.ERROR and len(frame) >= 4:
        raise AuthenticationFailed(str(frame[3]))
    if frame[0] != kind or len(frame) < size:
        raise ProtocolError(f"handshake: expected {kind.name}, got frame kind {frame[0]}")
    return frame


async def initiate(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> tuple[dict[str, Any], FrameDecoder, list[list[Any]]]:
    """Run the client side of the handshake.

    :raises AuthenticationFailed: the server refused the token, or could not prove it holds it.
    :raises TimeoutError: the server did not complete it within ``timeout`` seconds.
    :return: the server's info, the decoder and any frames that followed the handshake.
    """
    decoder = FrameDecoder(max_size=_MAX_HANDSHAKE_FRAME)
    frames: list[list[Any]] = []
    nonce = secrets.token_bytes(NONCE_SIZE)
    with _within(timeout):
        await stream.send(encode_frame([Kind.HELLO, 0, PROTOCOL_VERSION, nonce, info]))
        challenge = _expect(await _next_frame(stream, decoder, frames), Kind.CHALLENGE, 5)
        if not verify(token, b"server", nonce, challenge[3]):
            raise AuthenticationFailed(
                "the server could not prove it holds the token: wrong address or token file?"
            )
        await stream.send(encode_frame([Kind.AUTH, 0, proof(token, b"client", challenge[2])]))
        welcome = _expect(await _next_frame(stream, decoder, frames), Kind.WELCOME, 3)
    server_info = challenge[4] if isinstance(challenge[4], dict) else {}
    server_info.update(welcome[2] if isinstance(welcome[2], dict) else {})
    return server_info, decoder, frames


async def accept(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> tuple[dict[str, Any], FrameDecoder, list[list[Any]]]:
    """Run the server side of the handshake.

    :raises AuthenticationFailed: wrong token or foreign uid (the peer got an ERROR first).
    :raises TimeoutError: the client did not complete it within ``timeout`` seconds.
    :return: the client's info, the decoder and any frames that followed the handshake.
    """
    decoder = FrameDecoder(max_size=_MAX_HANDSHAKE_FRAME)
    frames: list[list[Any]] = []
    nonce = secrets.token_bytes(NONCE_SIZE)
    with _within(timeout):
        hello = _expect(await _next_frame(stream, decoder, frames), Kind.HELLO, 5)
        await _check_uid(stream)
        if hello[2] != PROTOCOL_VERSION:
            reason = f"protocol version {hello[2]!r} is not spoken here (this end speaks 1)"
            await _refuse(stream, reason)
            raise AuthenticationFailed(reason)
        await stream.send(
            encode_frame([Kind.CHALLENGE, 0, nonce, proof(token, b"server", hello[3]), info])
        )
        auth = _expect(await _next_frame(stream, decoder, frames), Kind.AUTH, 3)
        if not verify(token, b"client", nonce, auth[2]):
            await _refuse(stream, "wrong token: read it from the hub's token file")
            raise AuthenticationFailed("wrong token")  # the log line names the pid
        await stream.send(encode_frame([Kind.WELCOME, 0, {}]))
    client_info = hello[4] if isinstance(hello[4], dict) else {}
    return client_info, decoder, frames


async def _check_uid(stream: ByteStream) -> None:
    uid = stream.credentials.uid
    if uid is not None and uid != os.getuid():
        reason = f"refused a connection from uid {uid}: only uid {os.getuid()} may connect"
        await _refuse(stream, reason)
        raise AuthenticationFailed(reason)


async def _refuse(stream: ByteStream, reason: str) -> None:
    with contextlib.suppress(ConnectionLost):
        await stream.send(encode_frame([Kind.ERROR, 0, "AuthenticationFailed", reason]))
