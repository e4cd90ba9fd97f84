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
from typing import Any, TypeAlias, TypeVar

import anyio

from hubcore._errors import AuthenticationFailed, ConnectionLost, ProtocolError
from hubcore.protocol import (
    NONCE_SIZE,
    PROTOCOL_VERSION,
    Auth,
    Challenge,
    Error,
    FrameDecoder,
    Hello,
    Incoming,
    Welcome,
    encode_frame,
    proof,
    verify,
)
from hubcore.transport import ByteStream

__all__ = ("HANDSHAKE_TIMEOUT", "accept", "initiate")

log = logging.getLogger("hubcore.rpc")

HANDSHAKE_TIMEOUT = 5.0
_MAX_HANDSHAKE_FRAME = 64 * 1024

_F = TypeVar("_F", Hello, Challenge, Auth, Welcome)

#: What a handshake gives: the other end's info, the decoder, and frames that followed it.
Handshake: TypeAlias = tuple[dict[str, Any], FrameDecoder, list[Incoming]]


async def _next_frame(
    stream: ByteStream, decoder: FrameDecoder, frames: list[Incoming], expected: type[_F]
) -> _F:
    """The next frame, which must be of the ``expected`` class (an ERROR is a refusal)."""
    while not frames:
        data = await stream.receive()
        if not data:
            raise ConnectionLost("the other end closed the connection during the handshake")
        frames.extend(decoder.feed(data))
    frame = frames.pop(0)
    if type(frame) is Error:
        raise AuthenticationFailed(frame.message)
    if type(frame) is not expected:
        kind = frame.KIND
        raise ProtocolError(
            f"handshake: expected {expected.KIND.name}, got frame kind {int(kind)} ({kind.name})"
        )
    return frame


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


async def initiate(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> Handshake:
    """Run the client side of the handshake.

    :raises AuthenticationFailed: the server refused the token, or could not prove it holds it.
    :raises ProtocolError: the server sent a malformed frame, or one of the wrong kind.
    :raises TimeoutError: the server did not complete it within ``timeout`` seconds.
    :return: the server's info, the decoder and any frames that followed the handshake.
    """
    decoder = FrameDecoder(max_size=_MAX_HANDSHAKE_FRAME)
    frames: list[Incoming] = []
    nonce = secrets.token_bytes(NONCE_SIZE)
    with _within(timeout):
        await stream.send(encode_frame(Hello(PROTOCOL_VERSION, nonce, info)))
        challenge = await _next_frame(stream, decoder, frames, Challenge)
        if not verify(token, b"server", nonce, challenge.proof):
            raise AuthenticationFailed(
                "the server could not prove it holds the token: wrong address or token file?"
            )
        await stream.send(encode_frame(Auth(proof(token, b"client", challenge.nonce))))
        welcome = await _next_frame(stream, decoder, frames, Welcome)
    return {**challenge.info, **welcome.info}, decoder, frames


async def accept(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> Handshake:
    """Run the server side of the handshake.

    :raises AuthenticationFailed: wrong token or foreign uid (the peer got an ERROR first).
    :raises ProtocolError: the client sent a malformed frame, or one of the wrong kind.
    :raises TimeoutError: the client did not complete it within ``timeout`` seconds.
    :return: the client's info, the decoder and any frames that followed the handshake.
    """
    decoder = FrameDecoder(max_size=_MAX_HANDSHAKE_FRAME)
    frames: list[Incoming] = []
    nonce = secrets.token_bytes(NONCE_SIZE)
    with _within(timeout):
        hello = await _next_frame(stream, decoder, frames, Hello)
        await _check_uid(stream)
        if hello.version != PROTOCOL_VERSION:
            reason = f"protocol version {hello.version} is not spoken here (this end speaks 1)"
            await _refuse(stream, reason)
            raise AuthenticationFailed(reason)
        await stream.send(
            encode_frame(Challenge(nonce, proof(token, b"server", hello.nonce), info))
        )
        auth = await _next_frame(stream, decoder, frames, Auth)
        if not verify(token, b"client", nonce, auth.proof):
            await _refuse(stream, "wrong token: read it from the hub's token file")
            raise AuthenticationFailed("wrong token")  # the log line names the pid
        await stream.send(encode_frame(Welcome({})))
    return hello.info, decoder, frames


async def _check_uid(stream: ByteStream) -> None:
    uid = stream.credentials.uid
    if uid is not None and uid != os.getuid():
        reason = f"refused a connection from uid {uid}: only uid {os.getuid()} may connect"
        await _refuse(stream, reason)
        raise AuthenticationFailed(reason)


async def _refuse(stream: ByteStream, reason: str) -> None:
    with contextlib.suppress(ConnectionLost):
        await stream.send(encode_frame(Error(0, "AuthenticationFailed", reason)))
