"""Frames on the wire: length-prefixed msgpack arrays, fed to a decoder in arbitrary pieces."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcore import PayloadTooLarge, ProtocolError
from hubcore.protocol import DEFAULT_CODEC, HEADER, FrameDecoder, Kind, encode_frame

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# Values msgpack carries natively, so decode(encode(x)) must give back exactly x.
_SCALARS = (
    st.none()
    | st.booleans()
    | INT64
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)


def _natives(max_leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALARS,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=10), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def _frames(max_frames: int, max_leaves: int) -> st.SearchStrategy[list[list[Any]]]:
    frame = st.builds(
        lambda kind, cid, fields: [kind, cid, *fields],
        st.sampled_from(Kind),
        INT64,
        st.lists(_natives(max_leaves), max_size=4),
    )
    return st.lists(frame, min_size=1, max_size=max_frames)


def _with_header(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def _raw_frame(value: Any) -> bytes:
    """A correctly length-prefixed body holding any msgpack value, valid frame or not."""
    return _with_header(msgpack.packb(value))


def _as_sent(frames: list[list[Any]]) -> list[list[Any]]:
    """What the peer should decode: kinds arrive as plain ints."""
    return [[int(f[0]), *f[1:]] for f in frames]


def _feed_pieces(data: bytes, cuts: list[int], **kwargs: Any) -> list[list[Any]]:
    decoder = FrameDecoder(**kwargs)
    out: list[list[Any]] = []
    bounds = [0, *sorted(cuts), len(data)]
    for start, stop in itertools.pairwise(bounds):
        out += decoder.feed(data[start:stop])
    assert decoder.buffered == 0
    return out


def _feed_or_protocol_error(decoder: FrameDecoder, data: bytes) -> None:
    """The fuzz contract: frames come out well formed, or ProtocolError; nothing else."""
    try:
        frames = decoder.feed(data)
    except ProtocolError:
        return
    assert isinstance(frames, list)
    for frame in frames:
        assert type(frame) is list
        assert frame[0] in set(Kind)
        assert type(frame[1]) is int


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
def test_frames_round_trip_every_kind(kind: Kind) -> None:
    frame = [kind, 42, "target", "method", [1, b"\x00\xff", None], {"k": [1.5, True]}]
    decoded = FrameDecoder().feed(encode_frame(frame))
    assert decoded == [frame]
    assert type(decoded[0][0]) is int
    assert decoded[0][0] == int(kind)


def test_frames_minimal_two_element_frame_round_trips() -> None:
    assert FrameDecoder().feed(encode_frame([Kind.PING, 0])) == [[Kind.PING, 0]]


def test_frames_encoding_is_length_header_plus_msgpack_array() -> None:
    data = encode_frame([Kind.CALL, 7, "x"])
    body = msgpack.packb([10, 7, "x"])
    assert data == len(body).to_bytes(4, "big") + body


def test_frames_split_at_every_byte_offset_yields_same_frames() -> None:
    frames = [[Kind.CALL, 1, "svc", "m", [1, 2], {}], [Kind.RESULT, 1, b"x" * 300], [Kind.PING, 2]]
    stream = b"".join(encode_frame(f) for f in frames)
    for offset in range(len(stream) + 1):
        assert _feed_pieces(stream, [offset]) == _as_sent(frames), offset


def test_frames_fed_one_byte_at_a_time_yields_same_frames() -> None:
    frames = [[Kind.EVENT, 0, "src", "evt", {"a": 1}, 3, 0], [Kind.GOODBYE, 0]]
    stream = b"".join(encode_frame(f) for f in frames)
    assert _feed_pieces(stream, list(range(1, len(stream)))) == _as_sent(frames)


def test_frames_partial_tail_is_kept_until_completed() -> None:
    data = encode_frame([Kind.RESULT, 5, "value"])
    decoder = FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.buffered == len(data) - 1
    assert decoder.feed(data[-1:]) == [[Kind.RESULT, 5, "value"]]
    assert decoder.buffered == 0


def test_frames_many_frames_in_one_feed_come_out_in_order() -> None:
    frames = [[Kind.STREAM_ITEM, i, i * 2] for i in range(1000)]
    decoder = FrameDecoder()
    assert decoder.feed(b"".join(encode_frame(f) for f in frames)) == frames
    assert decoder.buffered == 0


def test_frames_complete_frames_returned_and_tail_kept_in_one_feed() -> None:
    first, second = encode_frame([Kind.PING, 1]), encode_frame([Kind.PONG, 1])
    decoder = FrameDecoder()
    assert decoder.feed(first + second[:3]) == [[Kind.PING, 1]]
    assert decoder.feed(second[3:]) == [[Kind.PONG, 1]]


def test_frames_empty_feed_yields_nothing() -> None:
    assert FrameDecoder().feed(b"") == []


# -- size limit ---------------------------------------------------------------------------------


def test_frames_encode_exactly_at_limit_is_accepted() -> None:
    frame = [Kind.RESULT, 1, b"x" * 1000]
    limit = len(DEFAULT_CODEC.packb(frame))
    data = encode_frame(frame, max_size=limit)
    assert FrameDecoder(max_size=limit).feed(data) == [frame]


def test_frames_encode_one_above_limit_raises_payload_too_large() -> None:
    frame = [Kind.RESULT, 1, b"x" * 1000]
    size = len(DEFAULT_CODEC.packb(frame))
    with pytest.raises(PayloadTooLarge) as info:
        encode_frame(frame, max_size=size - 1)
    assert info.value.size == size
    assert info.value.limit == size - 1
    assert str(size) in str(info.value)


def test_frames_decode_refuses_oversize_announcement_on_header_alone() -> None:
    """The body is never awaited: four header bytes are enough to refuse the frame."""
    decoder = FrameDecoder(max_size=100)
    header = (101).to_bytes(HEADER, "big")
    assert decoder.feed(header[:3]) == []
    with pytest.raises(ProtocolError, match="101"):
        decoder.feed(header[3:])


def test_frames_decode_refuses_huge_announcement_with_default_limit() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\xff\xff\xff\xff")


def test_frames_decode_refuses_oversize_frame_after_valid_ones() -> None:
    decoder = FrameDecoder(max_size=100)
    with pytest.raises(ProtocolError):
        decoder.feed(encode_frame([Kind.PING, 1]) + (101).to_bytes(HEADER, "big"))


def test_frames_decode_header_exactly_at_limit_waits_for_body() -> None:
    decoder = FrameDecoder(max_size=100)
    assert decoder.feed((100).to_bytes(HEADER, "big")) == []


# -- malformed input ----------------------------------------------------------------------------

MALFORMED_BODIES = {
    "int": 5,
    "string": "hello",
    "map": {"kind": 10, "id": 1},
    "nil": None,
    "empty array": [],
    "kind only": [10],
    "unknown kind 0": [0, 1],
    "unknown kind 5": [5, 1],
    "unknown kind 99": [99, 1],
    "negative kind": [-10, 1],
    "string kind": ["CALL", 1],
    "float kind": [10.0, 1],
    "bool kind": [True, 1],
    "nil kind": [None, 1],
    "string id": [10, "1"],
    "float id": [10, 1.0],
    "nil id": [10, None],
    "bool id": [10, False],
    "bytes id": [10, b"\x01"],
    "nested kind": [[10], 1],
    "nested garbage": [[[], {}], [[b"x"]], {"a": [None]}],
    "map in kind": [{10: 1}, 1],
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_frames_malformed_body_is_protocol_error(body: Any) -> None:
    with pytest.raises(ProtocolError, match="malformed"):
        FrameDecoder().feed(_raw_frame(body))


UNDECODABLE_BODIES = {
    "empty body": b"",
    "reserved byte 0xc1": b"\xc1",
    "truncated array": b"\x93\x0a\x01",
    "trailing bytes": msgpack.packb([10, 1]) + b"\x00",
    "invalid utf-8 str": b"\x92\x0a\xa2\xff\xfe",
    "unknown ext type": msgpack.packb([10, 1, msgpack.ExtType(99, b"")]),
    "bad datetime ext": msgpack.packb([10, 1, msgpack.ExtType(4, b"not a date")]),
    "bad timedelta ext": msgpack.packb([10, 1, msgpack.ExtType(6, b"\xc1")]),
    "unhashable set member": msgpack.packb([10, 1, msgpack.ExtType(2, msgpack.packb([[1]]))]),
}


@pytest.mark.parametrize("body", UNDECODABLE_BODIES.values(), ids=UNDECODABLE_BODIES.keys())
def test_frames_undecodable_body_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(_with_header(body))


def test_frames_malformed_frame_after_valid_one_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(encode_frame([Kind.PING, 1]) + _raw_frame([99, 1]))


def test_frames_deeply_nested_malformed_body_is_protocol_error() -> None:
    """A body nested just under msgpack's depth limit decodes, then must be refused cleanly.

    Building the error message must not blow up on the repr of a deep structure: anything but
    ProtocolError escapes the connection's error handling.
    """
    body = b"\x91" * 1020 + b"\xc0"  # [[[...[nil]...]]], 1020 arrays deep: not [kind, id]
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(_with_header(body))


def test_frames_encode_unencodable_value_is_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        encode_frame([Kind.CALL, 1, object()])


def test_frames_encode_out_of_range_int_is_type_error() -> None:
    """An int msgpack cannot carry is an unencodable value like any other: TypeError."""
    with pytest.raises(TypeError):
        encode_frame([Kind.RESULT, 1, 2**64])


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames(4, 12), data=st.data())
def test_frames_round_trip_any_native_values_any_chunking(
    frames: list[list[Any]], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    decoded = _feed_pieces(stream, cuts)
    expected = _as_sent(frames)
    assert decoded == expected
    # == treats True as 1 and -0.0 as 0.0; repr does not.
    assert repr(decoded) == repr(expected)


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_frames_random_bytes_give_frames_or_protocol_error(data: bytes) -> None:
    _feed_or_protocol_error(FrameDecoder(max_size=1024), data)


# A valid array head ``[kind, id, ...`` then random bytes: reaches the field and ext decoding.
_FRAME_HEAD = st.builds(
    lambda n, kind, cid: bytes([0x90 | n, kind, cid]),
    st.integers(2, 15),
    st.sampled_from([int(k) for k in Kind]),
    st.integers(0, 0x7F),
)


@settings(max_examples=300)
@given(head=st.just(b"") | _FRAME_HEAD, rest=st.binary(max_size=200))
def test_frames_random_body_behind_valid_header_gives_frame_or_protocol_error(
    head: bytes, rest: bytes
) -> None:
    _feed_or_protocol_error(FrameDecoder(), _with_header(head + rest))


_MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate"]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=255),
)


def _mutate(data: bytearray, op: str, where: int, byte: int) -> None:
    pos = where % (len(data) + 1)
    if op == "insert":
        data[pos:pos] = bytes([byte])
    elif not data:
        return
    elif op == "flip":
        data[pos % len(data)] ^= byte
    elif op == "delete":
        del data[pos % len(data)]
    else:
        del data[pos:]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames(3, 6), mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_frames_mutated_frames_give_frames_or_protocol_error(
    frames: list[list[Any]], mutations: list[tuple[str, int, int]]
) -> None:
    data = bytearray(b"".join(encode_frame(f) for f in frames))
    for op, where, byte in mutations:
        _mutate(data, op, where, byte)
    _feed_or_protocol_error(FrameDecoder(max_size=1 << 20), bytes(data))
