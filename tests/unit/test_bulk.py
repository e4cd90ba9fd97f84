"""Large binary values outside the msgpack body (BULK frames), and the decoder's one receive
buffer: what is sent, what arrives, in any pieces, and what is refused."""

from __future__ import annotations

import itertools
import pickle
import tracemalloc
from typing import Any

import msgpack
import pytest

from hubcore import PayloadTooLarge, ProtocolError
from hubcore.protocol import (
    HEADER,
    Call,
    FrameDecoder,
    Incoming,
    Result,
    StreamItem,
    encode_frame,
)
from hubcore.protocol._bulk import BULK_KIND, BULK_MIN, bulk_header
from hubcore.protocol._codec import EXT_BULK
from hubcore.protocol._framing import BUFFER_GROWN, BUFFER_START, encode_parts

BIG = bytes(range(256)) * (BULK_MIN // 256 + 1)  # just above the threshold


def _feed_pieces(data: bytes, size: int, decoder: FrameDecoder | None = None) -> list[Incoming]:
    decoder = decoder or FrameDecoder()
    frames: list[Incoming] = []
    for start in range(0, len(data), size):
        frames += decoder.feed(data[start : start + size])
    assert decoder.buffered == 0
    return frames


def _receive_into(decoder: FrameDecoder, data: bytes, read: int) -> list[Incoming]:
    """As a transport does: read at most ``read`` bytes into each buffer the decoder gives."""
    frames: list[Incoming] = []
    view = memoryview(data)
    while view:
        room = decoder.get_buffer(-1)
        n = min(len(room), len(view), read)
        room[:n] = view[:n]
        decoder.buffer_updated(n)
        view = view[n:]
        frames += decoder.frames()
    return frames


def _ref(index: int) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_BULK, index.to_bytes(4, "big"))


# -- what is sent ------------------------------------------------------------------------------


def test_bulk_large_bytes_argument_is_sent_apart_from_the_body_without_a_copy() -> None:
    frame = Call(7, "svc", "echo", [1, BIG], {})
    header, raw, body = encode_parts(frame)
    assert raw is BIG  # the caller's own object: not copied into a msgpack body, nor joined
    assert header == bulk_header(7, len(BIG))
    assert msgpack.unpackb(header[HEADER:]) == [BULK_KIND, 7, len(BIG)]
    wire = msgpack.unpackb(body[HEADER:], ext_hook=lambda code, data: (code, data))
    assert wire == [10, 7, "svc", "echo", [1, (EXT_BULK, b"\x00\x00\x00\x00")], {}]


def test_bulk_small_values_stay_in_the_body() -> None:
    frame = Call(1, "svc", "echo", [b"x" * (BULK_MIN - 1)], {"k": "text" * BULK_MIN})
    assert encode_parts(frame) == [encode_frame(frame)]
    assert encode_parts(Result(1, b"small")) == [encode_frame(Result(1, b"small"))]


def test_bulk_values_of_every_binary_type_arrive_as_bytes() -> None:
    frame = Call(3, "svc", "put", [bytearray(BIG)], {"view": memoryview(BIG), "raw": BIG})
    (call,) = _feed_pieces(b"".join(encode_parts(frame)), 4096)
    assert isinstance(call, Call)
    assert call.args == [BIG]
    assert type(call.args[0]) is bytes
    assert call.kwargs == {"view": BIG, "raw": BIG}
    assert all(type(value) is bytes for value in call.kwargs.values())


@pytest.mark.parametrize("kind", [Result, StreamItem])
def test_bulk_result_and_stream_item_values_go_apart(kind: Any) -> None:
    parts = encode_parts(kind(5, BIG))
    assert len(parts) == 3
    assert _feed_pieces(b"".join(parts), 1000) == [kind(5, BIG)]


def test_bulk_payload_limit_counts_the_raw_values() -> None:
    frame = Result(1, BIG)
    with pytest.raises(PayloadTooLarge, match=f"exceeds the limit of {len(BIG)} bytes"):
        encode_parts(frame, max_size=len(BIG))
    assert len(encode_parts(frame, max_size=len(BIG) + 64)) == 3


# -- what arrives ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 4096, 10**6])
def test_bulk_frames_arrive_whole_in_any_pieces(size: int) -> None:
    """Two values apart in one call, one in a result, frames between them: fed in pieces of
    every size, they come out as sent, in order."""
    big2 = BIG[::-1]
    frames = [
        Call(1, "svc", "put", [BIG, 2, big2], {}),
        Result(9, "plain"),
        Result(1, BIG),
        StreamItem(2, big2),
    ]
    data = b"".join(part for frame in frames for part in encode_parts(frame))
    assert _feed_pieces(data, size) == frames


def test_bulk_raw_bytes_are_received_into_a_buffer_of_their_size() -> None:
    """After the BULK frame, the buffer the decoder lends is the rest of the value's own
    buffer, however much the transport would read: each byte is received once, in place."""
    decoder = FrameDecoder()
    header, raw, body = encode_parts(Result(4, BIG))
    assert decoder.feed(header + raw[:100]) == []
    room = decoder.get_buffer(-1)
    assert len(room) == len(raw) - 100
    room[:] = raw[100:]
    decoder.buffer_updated(len(room))
    assert decoder.feed(body) == [Result(4, BIG)]


def test_bulk_through_a_transport_that_reads_into_the_decoder() -> None:
    data = b"".join(encode_parts(Call(1, "svc", "put", [BIG], {})) + encode_parts(Result(2, 3)))
    for read in (1, 100, 65536):
        assert _receive_into(FrameDecoder(), data, read) == [
            Call(1, "svc", "put", [BIG], {}),
            Result(2, 3),
        ]


# -- what is refused ---------------------------------------------------------------------------


def _frame_bytes(wire: list[Any]) -> bytes:
    body = msgpack.packb(wire)
    return len(body).to_bytes(HEADER, "big") + body


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param(
            _frame_bytes([11, 1, _ref(0)]), "unknown extension type 7", id="reference-without-bulk"
        ),
        pytest.param(
            bulk_header(1, 3) + b"abc" + _frame_bytes([11, 1, _ref(1)]),
            "reference to raw value 1, of 1 sent",
            id="reference-to-a-missing-bulk",
        ),
        pytest.param(
            bulk_header(1, 3) + b"abc" + bulk_header(1, 2) + b"de" + _frame_bytes([11, 1, _ref(0)]),
            "1 raw value",
            id="bulk-no-field-used",
        ),
        pytest.param(
            bulk_header(1, 3)
            + b"abc"
            + _frame_bytes([11, 1, msgpack.ExtType(1, msgpack.packb([_ref(0)]))]),
            "unknown extension type 7",
            id="reference-inside-another-extension",
        ),
        pytest.param(
            _frame_bytes([BULK_KIND, 1, "3"]),
            "size must be a non-negative integer",
            id="bulk-size-not-an-integer",
        ),
        pytest.param(
            _frame_bytes([BULK_KIND, 1, -1]),
            "size must be a non-negative integer",
            id="bulk-size-negative",
        ),
    ],
)
def test_bulk_malformed_is_a_protocol_error(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        FrameDecoder().feed(data)


def test_bulk_announced_above_the_limit_is_refused_before_its_bytes() -> None:
    decoder = FrameDecoder(max_size=1000)
    with pytest.raises(ProtocolError, match="1001 bytes of raw values for one frame"):
        decoder.feed(bulk_header(1, 1001))
    decoder = FrameDecoder(max_size=1000)
    with pytest.raises(ProtocolError, match="1200 bytes of raw values"):
        decoder.feed(bulk_header(1, 600) + b"x" * 600 + bulk_header(1, 600))


# -- the receive buffer ------------------------------------------------------------------------


def test_decoder_buffer_receives_a_large_frame_in_a_buffer_of_its_size_then_shrinks() -> None:
    """A peer that sends a large value inside the msgpack body (an older one): the frame is
    received into one buffer of its size, and the buffer is small again afterwards."""
    frame = Result(1, b"z" * (3 * BUFFER_GROWN))
    data = encode_frame(frame)
    decoder = FrameDecoder()
    assert decoder.feed(data[:1000]) == []
    assert len(decoder.get_buffer(-1)) == len(data) - 1000  # the rest, exactly
    assert decoder.feed(data[1000:]) == [frame]
    assert len(decoder.get_buffer(-1)) == BUFFER_START


def test_decoder_buffer_grows_for_bursts_and_keeps_the_partial_frame() -> None:
    frames = [Result(i, "x" * 100) for i in range(2000)]
    data = b"".join(encode_frame(f) for f in frames)
    decoder = FrameDecoder()
    sizes = set()
    out: list[Incoming] = []
    view = memoryview(data)
    while view:  # a transport that always fills the whole buffer it is lent
        room = decoder.get_buffer(-1)
        sizes.add(len(room))
        n = min(len(room), len(view))
        room[:n] = view[:n]
        decoder.buffer_updated(n)
        view = view[n:]
        out += decoder.frames()
    assert out == frames
    assert max(sizes) <= BUFFER_GROWN


def test_decoder_lets_go_of_a_dropped_buffer_lent_to_the_transport() -> None:
    """asyncio keeps the view it was lent until ``buffer_updated`` returns, and the frames are
    handled inside it: the decoder releases that view when it drops the buffer, so a large
    receive buffer is not kept alive while the value copied out of it is used."""
    decoder = FrameDecoder()
    header, raw, body = encode_parts(Result(4, BIG))
    decoder.feed(header)
    lent = decoder.get_buffer(-1)
    lent[:] = raw
    decoder.buffer_updated(len(raw))
    assert decoder.frames() == []
    with pytest.raises(ValueError, match="released"):
        lent[0]
    assert decoder.feed(body) == [Result(4, BIG)]


def test_bulk_value_is_the_buffer_it_was_received_into() -> None:
    """The raw bytes are received into the bytes object the value becomes: taking the value
    out allocates nothing of its size."""
    decoder = FrameDecoder()
    header, raw, body = encode_parts(Result(4, BIG))
    decoder.feed(header)
    decoder.get_buffer(-1)[:] = raw
    tracemalloc.start()
    try:
        decoder.buffer_updated(len(raw))
        frames = decoder.feed(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames == [Result(4, BIG)]
    assert peak < len(BIG) // 2


def test_bulk_value_is_kept_once_the_transport_let_go_of_its_view() -> None:
    """uvloop holds the view it read into while it calls ``buffer_updated``: the value is then
    taken at the next ``get_buffer``, which comes before the frame that uses it."""
    decoder = FrameDecoder()
    header, raw, body = encode_parts(Result(4, BIG))
    decoder.feed(header)
    lent = decoder.get_buffer(-1)
    lent[:] = raw
    held = pickle.PickleBuffer(lent)  # the transport's hold on the view, as uvloop's
    tracemalloc.start()
    try:
        decoder.buffer_updated(len(raw))
        assert decoder.frames() == []
        held.release()
        frames = decoder.feed(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames == [Result(4, BIG)]
    assert peak < len(BIG) // 2  # not copied out of a buffer still held


def test_decoder_feed_of_many_frames_in_one_piece() -> None:
    frames = [Call(i, "svc", "m", [i], {}) for i in range(5000)]
    data = b"".join(encode_frame(f) for f in frames)
    assert FrameDecoder().feed(data) == frames
    assert list(itertools.chain(*(FrameDecoder().feed(data) for _ in range(2)))) == frames * 2
