"""Frames: a 4-byte big-endian length, then one msgpack array ``[kind, id, *fields]``.

How it works: :func:`encode_frame` turns a frame into bytes (refusing frames above the size
limit); :class:`FrameDecoder` is fed whatever bytes arrived and returns every complete frame,
keeping the tail of a partial one. One receive buffer per connection, parsed in place: a read
that brings many frames costs one call, not one per frame.

Invariants: a decoder that raised :class:`ProtocolError` is poisoned (the connection must be
closed); kinds are append-only, their numbers never change.
"""

from __future__ import annotations

import enum
from typing import Any

from hubcore._errors import HubError, PayloadTooLarge, ProtocolError, describe
from hubcore.protocol._codec import DEFAULT_CODEC, Codec

__all__ = (
    "DEFAULT_MAX_FRAME",
    "HEADER",
    "FrameDecoder",
    "Kind",
    "encode_frame",
    "unencodable_argument",
)

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
HEADER = 4


class Kind(enum.IntEnum):
    """Frame kinds. Numbers are part of the wire format and never change."""

    HELLO = 1
    CHALLENGE = 2
    AUTH = 3
    WELCOME = 4
    CALL = 10
    RESULT = 11
    ERROR = 12
    CANCEL = 13
    STREAM_ITEM = 14
    STREAM_END = 15
    STREAM_CREDIT = 16
    EVENT = 17
    PING = 18
    PONG = 19
    GOODBYE = 20


_KINDS = frozenset(int(k) for k in Kind)


def encode_frame(
    frame: list[Any], *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME
) -> bytes:
    """Encode one frame to bytes, length header included.

    :param frame: ``[kind, id, *fields]``.
    :raises TypeError: a value cannot be encoded.
    :raises PayloadTooLarge: the encoded frame exceeds ``max_size``; nothing is returned.
    :return: the bytes to send.
    """
    body = codec.packb(frame)
    size = len(body)
    if size > max_size:
        raise PayloadTooLarge(
            f"frame of {size} bytes exceeds the limit of {max_size} bytes: send smaller "
            "payloads or raise max_frame_size on both ends",
            size=size,
            limit=max_size,
        )
    return size.to_bytes(HEADER, "big") + body


class FrameDecoder:
    """Turns a byte stream into frames. Feed it bytes, get back complete frames."""

    def __init__(self, *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._codec = codec
        self.max_size = max_size
        self._buf = bytearray()
        self._need = 0  # size of the frame whose body is awaited, 0 when reading a header

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[list[Any]]:
        """Add received bytes and return every frame they complete.

        :raises ProtocolError: the bytes are not valid frames; the decoder must be discarded.
        :return: complete frames in order (possibly empty).
        """
        buf = self._buf
        buf += data
        frames: list[list[Any]] = []
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

    def _decode(self, body: memoryview) -> list[Any]:
        try:
            frame = self._codec.unpackb(body)
        except Exception as exc:
            raise ProtocolError(f"undecodable frame: {describe(exc)}") from exc
        finally:
            body.release()
        if (
            type(frame) is not list
            or len(frame) < 2
            or type(frame[0]) is not int
            or frame[0] not in _KINDS
            or type(frame[1]) is not int
        ):
            # Never repr() a hostile value: deep nesting makes repr itself blow the stack.
            raise ProtocolError(
                f"malformed frame: expected [kind, id, ...], got a {type(frame).__name__}"
            )
        return frame


def unencodable_argument(
    what: str, args: tuple[Any, ...], kwargs: dict[str, Any], exc: TypeError
) -> TypeError:
    """The error for a call that cannot be encoded, naming the argument at fault.

    :param what: the call, as ``"object.method"``.
    :param exc: what encoding the whole frame raised.
    :return: a ``TypeError`` to raise.
    """
    for i, value in enumerate(args):
        try:
            encode_frame([value])
        except TypeError as inner:
            return TypeError(
                f"{what}: argument {i} ({type(value).__name__}) cannot be sent: {inner}"
            )
        except HubError:
            break
    for key, value in kwargs.items():
        try:
            encode_frame([value])
        except TypeError as inner:
            return TypeError(f"{what}: argument {key!r} cannot be sent: {inner}")
        except HubError:
            break
    return TypeError(f"{what}: the call cannot be sent: {exc}")
