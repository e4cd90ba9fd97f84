"""Framing: a 4-byte big-endian length, then one msgpack array ``[kind, id, *fields]``.

How it works: :func:`encode_frame` turns a frame (:mod:`hubcore.protocol._frames`) into bytes,
refusing frames above the size limit; :class:`FrameDecoder` is fed whatever bytes arrived and
returns every complete frame, keeping the tail of a partial one. One receive buffer per
connection, parsed in place: a read that brings many frames costs one call, not one per frame.

Invariants: a decoder that raised :class:`ProtocolError` is poisoned (the connection must be
closed). Nothing here awaits or blocks: a blocking client uses the same two pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, get_args

from hubcore._errors import PayloadTooLarge, ProtocolError, describe
from hubcore.protocol._codec import DEFAULT_CODEC, Codec
from hubcore.protocol._frames import (
    Auth,
    BadCall,
    Call,
    Cancel,
    Challenge,
    Error,
    Event,
    Goodbye,
    Hello,
    Ping,
    Pong,
    Result,
    StreamCredit,
    StreamEnd,
    StreamItem,
    Welcome,
)

__all__ = (
    "DECODERS",
    "DEFAULT_MAX_FRAME",
    "HEADER",
    "Frame",
    "FrameDecoder",
    "Incoming",
    "encode_frame",
    "encode_frame_parts",
    "unencodable_argument",
)

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
HEADER = 4

#: Every frame that can be sent.
Frame: TypeAlias = (
    Hello
    | Challenge
    | Auth
    | Welcome
    | Call
    | Result
    | Error
    | Cancel
    | StreamItem
    | StreamEnd
    | StreamCredit
    | Event
    | Ping
    | Pong
    | Goodbye
)

#: What decoding gives: a frame, or a CALL to answer with an error.
Incoming: TypeAlias = Frame | BadCall

#: kind number -> the function that builds that kind's frame from ``[kind, id, *fields]``
#: (kind and id already checked).
DECODERS: dict[int, Callable[[list[Any]], Incoming]] = {
    int(cls.KIND): cls.from_wire for cls in get_args(Frame)
}


def encode_frame(
    frame: Frame, *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME
) -> bytes:
    """Encode one frame to bytes, length header included.

    :raises TypeError: a value cannot be encoded.
    :raises PayloadTooLarge: the encoded frame exceeds ``max_size``; nothing is returned.
    :return: the bytes to send.
    """
    header, body = encode_frame_parts(frame, codec=codec, max_size=max_size)
    return header + body


def encode_frame_parts(
    frame: Frame, *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME
) -> tuple[bytes, bytes]:
    """Encode one frame as its length header and its body, for a sender that writes them one
    after the other: a large body is then not copied to join it to its header.

    :raises TypeError: a value cannot be encoded.
    :raises PayloadTooLarge: the encoded frame exceeds ``max_size``; nothing is returned.
    """
    body = codec.packb(frame.to_wire())
    size = len(body)
    if size > max_size:
        raise PayloadTooLarge(
            f"frame of {size} bytes exceeds the limit of {max_size} bytes: send smaller "
            "payloads or raise max_frame_size on both ends",
            size=size,
            limit=max_size,
        )
    return size.to_bytes(HEADER, "big"), body


class FrameDecoder:
    """Turns a byte stream into frames. Feed it bytes, get back complete frames."""

    def __init__(self, *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._codec = codec
        self.max_size = max_size
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Incoming]:
        """Add received bytes and return every frame they complete.

        :raises ProtocolError: the bytes are not valid frames; the decoder must be discarded.
        :return: complete frames in order (possibly empty); a CALL whose fields are wrong comes
            out as a :class:`~hubcore.protocol.BadCall`, to be answered with an error.
        """
        buf = self._buf
        buf += data
        frames: list[Incoming] = []
        pos, end = 0, len(buf)
        while end - pos >= HEADER:
            size = int.from_bytes(buf[pos : pos + HEADER], "big")
            if size > self.max_size:
                raise ProtocolError(
                    f"peer announced a frame of {size} bytes, above the limit of {self.max_size}"
                )
            if end - pos - HEADER < size:
                break
            start = pos + HEADER
            frames.append(self._decode(memoryview(buf)[start : start + size]))
            pos = start + size
        if pos:
            del buf[:pos]
        return frames

    def announced(self, header: bytes | bytearray | memoryview) -> int:
        """The body size a frame's length header announces.

        :raises ProtocolError: it is above the limit (the decoder must be discarded).
        """
        size = int.from_bytes(header[:HEADER], "big")
        if size > self.max_size:
            raise ProtocolError(
                f"peer announced a frame of {size} bytes, above the limit of {self.max_size}"
            )
        return size

    def decode_body(self, body: memoryview) -> Incoming:
        """Decode one frame body (what follows its header) that the caller read into a buffer
        of its own, between frames (``buffered == 0``): a large frame is then received once,
        into a buffer of its size, instead of growing this decoder's buffer. The view is
        released.

        :raises ProtocolError: the body is not a valid frame.
        """
        return self._decode(body)

    def _decode(self, body: memoryview) -> Incoming:
        try:
            wire = self._codec.unpackb(body)
        except Exception as exc:
            raise ProtocolError(f"undecodable frame: {describe(exc)}") from exc
        finally:
            body.release()
        if (
            type(wire) is not list
            or len(wire) < 2
            or type(wire[0]) is not int
            or type(wire[1]) is not int
            or (decode := DECODERS.get(wire[0])) is None
        ):
            raise ProtocolError(
                f"malformed frame: expected [kind, id, ...], got a {type(wire).__name__}"
            )
        return decode(wire)


def unencodable_argument(
    what: str, args: tuple[Any, ...], kwargs: dict[str, Any], exc: TypeError
) -> TypeError:
    """The error for a call that cannot be encoded, naming the argument at fault.

    :param what: the call, as ``"object.method"``.
    :param exc: what encoding the whole frame raised.
    :return: a ``TypeError`` to raise.
    """
    for key, value in [*enumerate(args), *kwargs.items()]:
        try:
            DEFAULT_CODEC.packb(value)
        except TypeError as inner:
            if isinstance(key, int):
                return TypeError(
                    f"{what}: argument {key} ({type(value).__name__}) cannot be sent: {inner}"
                )
            return TypeError(f"{what}: argument {key!r} cannot be sent: {inner}")
    return TypeError(f"{what}: the call cannot be sent: {exc}")
