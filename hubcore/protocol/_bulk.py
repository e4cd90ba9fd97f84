"""Large binary values outside the msgpack body: BULK frames, on connections that agreed to them.

How it works: a CALL whose argument or keyword argument, or a RESULT or STREAM_ITEM whose value,
is a binary value (``bytes``, ``bytearray``, ``memoryview``) of at least :data:`BULK_MIN` bytes
is sent as, for each such value, a BULK frame ``[21, id, size]`` followed by ``size`` raw bytes
that its length header does not count, then the frame itself, where the value is replaced by
extension type 7 holding the index of its BULK among those before the frame (4 bytes,
big-endian). The receiver reads the raw bytes straight into the ``bytes`` object the value
becomes (:class:`~hubcore.protocol._framing.FrameDecoder`) and hands it to the frame that
follows as it decodes it. So the payload is never copied into or out of a msgpack body, nor
joined with its header: ``bytes`` are sent from the caller's own object.
(A ``bytearray`` or ``memoryview`` is copied once, into ``bytes``: the caller may change it
before the socket took it.)

Only a connection where both ends listed :data:`FEATURE` in the ``features`` of their
handshake info maps sends BULK frames: an older peer never receives one.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import msgpack

from hubcore.protocol._codec import DEFAULT_CODEC, EXT_BULK
from hubcore.protocol._frames import Call, Result, StreamItem

__all__ = (
    "BULK_KIND",
    "BULK_MIN",
    "FEATURE",
    "agreed",
    "bulk_header",
    "has_large",
    "split_bulk",
    "with_features",
)

BULK_KIND = 21  # the frame kind number (protocol.md); not a frame class: decoders consume it
BULK_MIN = 64 * 1024  # smaller binary values stay in the msgpack body
FEATURE = "bulk"  # its name in the handshake's "features"

_INDEX = struct.Struct(">I")
_BINARY = frozenset({bytes, bytearray, memoryview})


def with_features(info: dict[str, Any]) -> dict[str, Any]:
    """A handshake info map, with the extensions of the wire format this end speaks (maps only
    gain keys: an older end ignores it, and is then sent none of them)."""
    return {**info, "features": [FEATURE]}


def agreed(remote: dict[str, Any]) -> bool:
    """Whether the other end's info map listed the ``bulk`` feature (an older one lists
    nothing)."""
    features = remote.get("features")
    return isinstance(features, list) and FEATURE in features


def bulk_header(cid: int, size: int) -> bytes:
    """The BULK frame that announces ``size`` raw bytes for call ``cid``, header included."""
    body: bytes = DEFAULT_CODEC.packb([BULK_KIND, cid, size])
    return len(body).to_bytes(4, "big") + body


def has_large(frame: Call | Result | StreamItem, bulk_min: int = BULK_MIN) -> bool:
    """Whether ``frame`` has a value to send apart (cheap: types and lengths only)."""
    if isinstance(frame, Call):
        for value in frame.args:
            if type(value) in _BINARY and len(value) >= bulk_min:
                return True
        if frame.kwargs:
            for value in frame.kwargs.values():
                if type(value) in _BINARY and len(value) >= bulk_min:
                    return True
        return False
    value = frame.value
    return type(value) in _BINARY and len(value) >= bulk_min


def split_bulk(
    frame: Call | Result | StreamItem, bulk_min: int = BULK_MIN
) -> tuple[Call | Result | StreamItem, list[bytes]]:
    """``frame`` with its large binary values replaced by references, and those values.

    :return: the frame to encode (``frame`` itself if nothing is large) and the raw values,
        in the order of their references.
    """
    raw: list[bytes] = []
    if isinstance(frame, Call):
        args = _replaced(frame.args, raw, bulk_min)
        kwargs = _replaced_values(frame.kwargs, raw, bulk_min)
        if not raw:
            return frame, raw
        # dataclasses.replace keeps every other field, those appended to CALL later too.
        return dataclasses.replace(frame, args=args, kwargs=kwargs), raw
    large = _large(frame.value, bulk_min)
    if large is None:
        return frame, raw
    raw.append(large)
    if isinstance(frame, Result):
        return Result(frame.id, _reference(0)), raw
    return StreamItem(frame.id, _reference(0)), raw


def _large(value: Any, bulk_min: int) -> bytes | None:
    kind = type(value)
    if kind is bytes:
        return value if len(value) >= bulk_min else None
    if kind is bytearray:
        return bytes(value) if len(value) >= bulk_min else None
    if kind is memoryview and value.nbytes >= bulk_min and value.c_contiguous:
        data: bytes = value.tobytes()
        return data
    return None


def _reference(index: int) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_BULK, _INDEX.pack(index))


def _replaced(values: list[Any], raw: list[bytes], bulk_min: int) -> list[Any]:
    out = values
    for i, value in enumerate(values):
        large = _large(value, bulk_min)
        if large is not None:
            if out is values:
                out = list(values)
            out[i] = _reference(len(raw))
            raw.append(large)
    return out


def _replaced_values(values: dict[str, Any], raw: list[bytes], bulk_min: int) -> dict[str, Any]:
    out = values
    for key, value in values.items():
        large = _large(value, bulk_min)
        if large is not None:
            if out is values:
                out = dict(values)
            out[key] = _reference(len(raw))
            raw.append(large)
    return out
