"""Framing: a 4-byte big-endian length, then one msgpack array ``[kind, id, *fields]``.

How it works: :func:`encode_frame` turns a frame (:mod:`hubcore.protocol._frames`) into bytes,
refusing frames above the size limit; :class:`FrameDecoder` is fed whatever bytes arrived and
returns every complete frame, keeping the tail of a partial one. One receive buffer per
connection, which a transport may read into directly, parsed in place: a read that brings many
frames costs one call, not one per frame, and a large frame is received once, in a buffer of
its size.

Invariants: a decoder that raised :class:`ProtocolError` is poisoned (the connection must be
closed). Nothing here awaits or blocks: a blocking client uses the same two pieces.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Callable
from typing import Any, TypeAlias, get_args

from hubcore._errors import PayloadTooLarge, ProtocolError, describe
from hubcore.protocol._bulk import BULK_KIND, BULK_MIN, bulk_header, split_bulk
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
    "encode_parts",
    "unencodable_argument",
)

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
HEADER = 4
BUFFER_START = 4 * 1024  # a decoder's receive buffer at first: small, one per connection
BUFFER_GROWN = 256 * 1024  # the most it grows to, doubling after each read that filled it
BUFFER_MIN_ROOM = 2048  # less room than this at the end: move the unparsed bytes to the front
_LENGTH = struct.Struct(">I")
# A BULK frame's body is the array [21, id, size]: a fixarray of 3 (0x93), then the kind.
_BULK_HEAD = 0x93

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
    _check_size(size, max_size)
    return size.to_bytes(HEADER, "big"), body


def encode_parts(
    frame: Frame,
    *,
    codec: Codec = DEFAULT_CODEC,
    max_size: int = DEFAULT_MAX_FRAME,
    bulk_min: int = BULK_MIN,
) -> list[bytes]:
    """Encode one frame, its large binary values outside the msgpack body (see ``_bulk``):
    for a connection whose other end listed the ``bulk`` feature. (A sender on the hot path
    asks :func:`~hubcore.protocol._bulk.has_large` first, and calls :func:`encode_frame`
    for the frames that have nothing large.)

    :raises TypeError: a value cannot be encoded.
    :raises PayloadTooLarge: the frame and its raw values exceed ``max_size`` together.
    :return: the buffers to send, in order (one, if nothing was large).
    """
    if type(frame) is not Call and type(frame) is not Result and type(frame) is not StreamItem:
        return [encode_frame(frame, codec=codec, max_size=max_size)]
    frame, raw = split_bulk(frame, bulk_min)
    if not raw:
        return [encode_frame(frame, codec=codec, max_size=max_size)]
    body = codec.packb(frame.to_wire())
    _check_size(len(body) + sum(len(value) for value in raw), max_size)
    parts: list[bytes] = []
    for value in raw:
        parts += (bulk_header(frame.id, len(value)), value)
    parts.append(len(body).to_bytes(HEADER, "big") + body)
    return parts


def _check_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise PayloadTooLarge(
            f"frame of {size} bytes exceeds the limit of {max_size} bytes: send smaller "
            "payloads or raise max_frame_size on both ends",
            size=size,
            limit=max_size,
        )


class FrameDecoder:
    """Turns a byte stream into frames, in one reused receive buffer.

    Two ways in: :meth:`feed` bytes and get back the frames they complete, or let a transport
    write straight into the buffer (:meth:`get_buffer`, then :meth:`buffer_updated` with how
    many bytes it wrote: the two calls of ``asyncio.BufferedProtocol``) and take the complete
    frames with :meth:`frames`.

    The buffer starts small, doubles while reads fill it, and is replaced by one sized for a
    frame larger than itself, so that a large frame is received in place, once; after it the
    buffer goes back to its starting size. It is never resized in place: a transport may still
    hold a view of it.
    """

    def __init__(self, *, codec: Codec = DEFAULT_CODEC, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._codec = codec
        self.max_size = max_size
        self._buf = bytearray(BUFFER_START)
        self._start = 0  # the first byte not yet parsed
        self._end = 0  # the end of the bytes received
        self._bulk: memoryview | None = None  # where the raw bytes of a BULK go, as they arrive
        self._bulk_holder: io.BytesIO | None = None  # ... the bytes object behind it
        self._bulk_filled = 0
        self._bulks: list[bytes] = []  # raw values for the frame that follows them
        self._bulk_total = 0
        self._lent: memoryview | None = None  # the view get_buffer returned last
        self._lent_bulk = False  # ... and it is one of the BULK being received
        self._grow = False  # the last read filled the buffer

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        raw = self._bulk_filled if self._bulk is not None else 0
        return self._end - self._start + raw + sum(len(b) for b in self._bulks)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next received bytes go (never empty).

        :param sizehint: ignored (``asyncio.BufferedProtocol`` passes one).
        """
        if self._bulk is not None:
            if self._bulk_filled < len(self._bulk):
                view = self._lent = self._bulk[self._bulk_filled :]
                self._lent_bulk = True
                return view
            self._bulk_complete(force=True)  # its last read is over: the transport let go
        buf, start, end = self._buf, self._start, self._end
        room = len(buf) - end
        if self._grow or room == 0 or (room < BUFFER_MIN_ROOM and start):
            size = len(buf)
            if self._grow or 2 * (end - start) > size:  # a burst: reads filled it
                size = 2 * size if size < BUFFER_GROWN else max(size, 2 * (end - start))
            self._grow = False
            self._move(start, end, size)
        view = self._lent = memoryview(self._buf)[self._end :]
        self._lent_bulk = False
        return view

    def _let_go(self) -> None:
        """Release the last view :meth:`get_buffer` lent, before dropping its buffer: asyncio
        keeps it in a local variable while it calls ``buffer_updated``, and the frames are
        handled (a call served, its reply sent) inside that call. Without this, a 16 MiB
        receive buffer would stay alive through the handling of the value copied out of it."""
        lent, self._lent = self._lent, None
        if lent is not None:
            with contextlib.suppress(BufferError):  # someone holds a view of it: let it be
                lent.release()

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` bytes were written at the start of the last :meth:`get_buffer`."""
        if self._bulk is not None:
            self._bulk_filled += nbytes
            return
        self._end += nbytes
        if self._end == len(self._buf) and len(self._buf) < BUFFER_GROWN:
            self._grow = True  # more may be waiting: read more at once next time

    def feed(self, data: bytes | bytearray | memoryview) -> list[Incoming]:
        """Add received bytes and return every frame they complete.

        :raises ProtocolError: the bytes are not valid frames; the decoder must be discarded.
        :return: complete frames in order (possibly empty); see :meth:`frames`.
        """
        frames: list[Incoming] = []
        view = memoryview(data)
        while True:
            room = self.get_buffer()
            n = min(len(room), len(view))
            room[:n] = view[:n]
            self.buffer_updated(n)
            view = view[n:]
            if not view:
                return frames + self.frames() if frames else self.frames()
            frames += self.frames()  # makes room

    def frames(self) -> list[Incoming]:
        """Every complete frame received and not yet returned, in order.

        :raises ProtocolError: the bytes are not valid frames; the decoder must be discarded.
        :return: the frames (possibly none); a CALL whose fields are wrong comes out as a
            :class:`~hubcore.protocol.BadCall`, to be answered with an error.
        """
        frames: list[Incoming] = []
        if self._bulk is not None and not self._bulk_complete():
            return frames
        buf, pos, end = self._buf, self._start, self._end
        while end - pos >= HEADER:
            (size,) = _LENGTH.unpack_from(buf, pos)
            if size > self.max_size:
                raise ProtocolError(
                    f"peer announced a frame of {size} bytes, above the limit of {self.max_size}"
                )
            start = pos + HEADER
            if end - start < size:
                if HEADER + size > len(buf):  # a large frame: receive it into a buffer its size
                    self._move(pos, end, HEADER + size)
                    return frames
                break
            pos = start + size
            if size > 2 and buf[start] == _BULK_HEAD and buf[start + 1] == BULK_KIND:
                pos = self._begin_bulk(memoryview(buf)[start:pos], pos, end)
                if self._bulk is not None:  # the rest of its bytes go straight to its buffer
                    break
                continue
            frames.append(self._decode(memoryview(buf)[start:pos]))
        self._start = pos
        if pos == end:
            self._start = self._end = 0
            if len(buf) > BUFFER_GROWN:  # the large frame is done: let its buffer go
                self._let_go()
                self._buf = bytearray(BUFFER_START)
        return frames

    def _move(self, start: int, end: int, size: int) -> None:
        """Put the unparsed bytes at the front of a buffer of ``size`` bytes (a new one: a
        transport may still hold a view of the old)."""
        if size == len(self._buf) and start:
            self._buf[: end - start] = self._buf[start:end]  # same size: no resize
        elif size != len(self._buf):
            buf = bytearray(size)
            buf[: end - start] = memoryview(self._buf)[start:end]
            self._let_go()
            self._buf = buf
        self._start, self._end = 0, end - start

    def _begin_bulk(self, body: memoryview, pos: int, end: int) -> int:
        """A BULK frame ends at ``pos``: take its raw bytes from the buffer, as far as they
        arrived; the rest will be received into a buffer of their size.

        :return: where the bytes after those of the bulk begin.
        """
        try:
            _kind, _cid, size = self._codec.unpackb(body)
        except Exception as exc:
            raise ProtocolError(f"undecodable BULK frame: {describe(exc)}") from exc
        finally:
            body.release()
        if type(size) is not int or size < 0:
            raise ProtocolError("malformed BULK frame: size must be a non-negative integer")
        self._bulk_total += size
        if size > self.max_size or self._bulk_total > self.max_size:
            raise ProtocolError(
                f"peer announced {self._bulk_total} bytes of raw values for one frame, above "
                f"the limit of {self.max_size}"
            )
        # The bytes are received straight into the bytes object the value will be: a BytesIO
        # made on a zeroed bytes object (pages the kernel maps on first write, not memset)
        # lends its buffer, and CPython's getvalue() hands that buffer over once nobody holds
        # a view of it. So a value is written once, by the kernel. (Elsewhere getvalue()
        # copies, as bytes(bytearray) would.)
        holder = io.BytesIO(bytes(size))
        bulk = holder.getbuffer()
        taken = min(size, end - pos)
        bulk[:taken] = memoryview(self._buf)[pos : pos + taken]
        self._bulk, self._bulk_holder, self._bulk_filled = bulk, holder, taken
        self._bulk_complete()
        return pos + taken

    def _bulk_complete(self, force: bool = False) -> bool:
        """If the raw bytes of the current BULK all arrived, keep them for the next frame.

        A transport that still holds the view it read them into (uvloop does, while it calls
        ``buffer_updated``) would make ``getvalue`` copy them: then they are kept at the next
        :meth:`get_buffer` instead, which comes before the frame that uses them.

        :param force: keep them now, even if a copy is made.
        """
        bulk, holder = self._bulk, self._bulk_holder
        assert bulk is not None
        assert holder is not None
        if self._bulk_filled < len(bulk):
            return False
        lent = self._lent
        if lent is not None and self._lent_bulk:
            try:
                lent.release()
            except BufferError:
                if not force:
                    return False
            self._lent = None
        bulk.release()
        self._bulks.append(holder.getvalue())
        self._bulk = self._bulk_holder = None
        return True

    def _decode(self, body: memoryview) -> Incoming:
        bulks = self._bulks
        if bulks:  # the raw values that came before are this frame's
            self._bulks, self._bulk_total = [], 0
        try:
            wire = self._codec.unpackb(body, bulks)
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
