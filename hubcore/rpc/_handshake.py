"""The token handshake that opens every connection, hub or peer, driven on an event loop.

The rules are the sans-IO state machines of :mod:`hubcore.protocol._handshake` (HELLO,
CHALLENGE, AUTH, WELCOME); this module moves their bytes over a :class:`ByteStream`, bounds
the whole exchange in time, and hands the server machine the peer's uid (SO_PEERCRED), which
must be this process's own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any, TypeAlias

import anyio

from hubcore._errors import ConnectionLost
from hubcore.protocol import NONCE_SIZE, FrameDecoder, Incoming
from hubcore.protocol._handshake import ClientHandshake, ServerHandshake
from hubcore.transport import ByteStream

__all__ = ("HANDSHAKE_TIMEOUT", "accept", "initiate")

HANDSHAKE_TIMEOUT = 5.0

#: What a handshake gives: the other end's info, the decoder, and frames that followed it.
Handshake: TypeAlias = tuple[dict[str, Any], FrameDecoder, list[Incoming]]


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


async def _drive(stream: ByteStream, machine: ClientHandshake | ServerHandshake) -> Handshake:
    """Feed the machine what arrives and send what it answers, until it is done."""
    while not machine.done:
        data = await stream.receive()
        if not data:
            raise ConnectionLost("the other end closed the connection during the handshake")
        out = machine.receive_data(data)
        if machine.refusal is not None:
            with contextlib.suppress(ConnectionLost):
                await stream.send(out)
            raise machine.refusal
        if out:
            await stream.send(out)
    return machine.remote, machine.decoder, machine.frames


async def initiate(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> Handshake:
    """Run the client side of the handshake.

    :raises AuthenticationFailed: the server refused the token, or could not prove it holds it.
    :raises ProtocolError: the server sent a malformed frame, or one of the wrong kind.
    :raises TimeoutError: the server did not complete it within ``timeout`` seconds.
    :return: the server's info, the decoder and any frames that followed the handshake.
    """
    machine = ClientHandshake(token, info, secrets.token_bytes(NONCE_SIZE))
    with _within(timeout):
        await stream.send(machine.hello())
        return await _drive(stream, machine)


async def accept(
    stream: ByteStream, token: bytes, info: dict[str, Any], *, timeout: float = HANDSHAKE_TIMEOUT
) -> Handshake:
    """Run the server side of the handshake.

    :raises AuthenticationFailed: wrong token or foreign uid (the peer got an ERROR first).
    :raises ProtocolError: the client sent a malformed frame, or one of the wrong kind.
    :raises TimeoutError: the client did not complete it within ``timeout`` seconds.
    :return: the client's info, the decoder and any frames that followed the handshake.
    """
    machine = ServerHandshake(
        token,
        info,
        secrets.token_bytes(NONCE_SIZE),
        peer_uid=stream.credentials.uid,
        uid=os.getuid(),
    )
    with _within(timeout):
        return await _drive(stream, machine)
