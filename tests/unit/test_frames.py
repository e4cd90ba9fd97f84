"""Frames on the wire: typed frames <-> length-prefixed msgpack arrays, fed in any pieces."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcore import PayloadTooLarge, ProtocolError
from hubcore.protocol import (
    DEFAULT_CODEC,
    HEADER,
    Auth,
    BadCall,
    Call,
    Cancel,
    Challenge,
    Error,
    Event,
    Frame,
    FrameDecoder,
    Goodbye,
    Hello,
    Incoming,
    Kind,
    Ping,
    Pong,
    Result,
    StreamCredit,
    StreamEnd,
    StreamItem,
    Welcome,
    encode_frame,
)

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


def _typed_frames(leaves: int) -> st.SearchStrategy[Frame]:
    """Any frame of any kind, with any valid field values."""
    value, text, count = _natives(leaves), st.text(max_size=10), st.integers(0, 2**31)
    info = st.dictionaries(st.text(max_size=10), _natives(leaves), max_size=3)
    args = st.lists(_natives(leaves), max_size=3)
    kwargs = st.dictionaries(st.text(max_size=10), _natives(leaves), max_size=3)
    maybe_text = st.none() | st.text(min_size=1, max_size=10)
    return st.one_of(
        st.builds(Hello, INT64, st.binary(max_size=32), info),
        st.builds(Challenge, st.binary(max_size=32), st.binary(max_size=32), info),
        st.builds(Auth, st.binary(max_size=32)),
        st.builds(Welcome, info),
        st.builds(Call, INT64, text, text, args, kwargs, count),
        st.builds(Result, INT64, value),
        st.builds(Error, INT64, text, text, text, args.map(tuple), text, INT64, text),
        st.builds(Cancel, INT64),
        st.builds(StreamItem, INT64, value),
        st.builds(StreamEnd, INT64),
        st.builds(StreamCredit, INT64, count),
        st.builds(Event, text, text, value, INT64, INT64),
        st.builds(Ping, INT64),
        st.builds(Pong, INT64),
        st.builds(Goodbye, maybe_text, st.none() | INT64),
    )


def _with_header(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def _raw_frame(value: Any) -> bytes:
    """A correctly length-prefixed body holding any msgpack value, valid frame or not."""
    return _with_header(msgpack.packb(value))


def _feed_pieces(data: bytes, cuts: list[int], **kwargs: Any) -> list[Incoming]:
    decoder = FrameDecoder(**kwargs)
    out: list[Incoming] = []
    bounds = [0, *sorted(cuts), len(data)]
    for start, stop in itertools.pairwise(bounds):
        out += decoder.feed(data[start:stop])
    assert decoder.buffered == 0
    return out


_CLASSES = (
    Hello,
    Challenge,
    Auth,
    Welcome,
    Call,
    BadCall,
    Result,
    Error,
    Cancel,
    StreamItem,
    StreamEnd,
    StreamCredit,
    Event,
    Ping,
    Pong,
    Goodbye,
)


def _feed_or_protocol_error(decoder: FrameDecoder, data: bytes) -> None:
    """The fuzz contract: typed frames come out, or ProtocolError; nothing else."""
    try:
        frames = decoder.feed(data)
    except ProtocolError:
        return
    assert isinstance(frames, list)
    for frame in frames:
        assert type(frame) in _CLASSES
        assert type(frame).KIND in set(Kind)


# -- every kind, as it looks on the wire -------------------------------------------------------

#: One frame of each kind and the array it is on the wire: these arrays are the format that
#: older and newer peers read (docs/protocol.md), so they never change.
WIRE = {
    "HELLO": (Hello(1, b"n" * 32, {"process": "web"}), [1, 0, 1, b"n" * 32, {"process": "web"}]),
    "CHALLENGE": (Challenge(b"s", b"p", {"hub_pid": 7}), [2, 0, b"s", b"p", {"hub_pid": 7}]),
    "AUTH": (Auth(b"p"), [3, 0, b"p"]),
    "WELCOME": (Welcome({}), [4, 0, {}]),
    "CALL": (Call(7, "greeter", "greet", ["Ada"], {}), [10, 7, "greeter", "greet", ["Ada"], {}]),
    "CALL with a window": (
        Call(8, "logs", "tail", ["app.log"], {}, 16),
        [10, 8, "logs", "tail", ["app.log"], {}, 16],
    ),
    "CALL with a deadline": (
        Call(9, "web", "snapshot", [], {}, 0, 3.0),
        [10, 9, "web", "snapshot", [], {}, 0, 3.0],
    ),
    "CALL of a chain": (
        Call(9, "page", "take", [], {}, 0, 2.5, 3.0),
        [10, 9, "page", "take", [], {}, 0, 2.5, 3.0],
    ),
    "CALL with its id in the caller's record": (
        Call(9, "page", "take", [], {}, 0, 2.5, None, "pytest.0/7:1"),
        [10, 9, "page", "take", [], {}, 0, 2.5, None, "pytest.0/7:1"],
    ),
    "RESULT": (Result(7, "Hello, Ada!"), [11, 7, "Hello, Ada!"]),
    "RESULT of None": (Result(7), [11, 7, None]),
    "ERROR": (
        Error(7, "PageError", "no page", "Traceback...", ("p",), "web", 1, "ValueError"),
        [12, 7, "PageError", "no page", "Traceback...", ["p"], "web", 1, "ValueError"],
    ),
    "ERROR that answers a CANCEL": (
        Error(7, "$cancelled", "", "", (), "web", 0, "", ("kv.py:14 in slow: `await x`",)),
        [12, 7, "$cancelled", "", "", [], "web", 0, "", ["kv.py:14 in slow: `await x`"]],
    ),
    "ERROR of a refused handshake": (
        Error(0, "AuthenticationFailed", "wrong token"),
        [12, 0, "AuthenticationFailed", "wrong token"],
    ),
    "CANCEL": (Cancel(7), [13, 7]),
    "STREAM_ITEM": (StreamItem(8, "line 1"), [14, 8, "line 1"]),
    "STREAM_END": (StreamEnd(8), [15, 8]),
    "STREAM_CREDIT": (StreamCredit(8, 8), [16, 8, 8]),
    "EVENT": (Event("clock", "tick", {"n": 1}, 3, 1), [17, 0, "clock", "tick", {"n": 1}, 3, 1]),
    "PING": (Ping(5), [18, 5]),
    "PONG": (Pong(5), [19, 5]),
    "GOODBYE": (Goodbye(), [20, 0]),
    "GOODBYE with the last call taken": (Goodbye(None, 7), [20, 0, None, 7]),
    "GOODBYE with a reason": (
        Goodbye("you broke the protocol: x"),
        [20, 0, "you broke the protocol: x"],
    ),
}


@pytest.mark.parametrize(("frame", "wire"), WIRE.values(), ids=WIRE.keys())
def test_frames_encode_to_the_documented_array(frame: Frame, wire: list[Any]) -> None:
    assert encode_frame(frame) == _raw_frame(wire)


@pytest.mark.parametrize(("frame", "wire"), WIRE.values(), ids=WIRE.keys())
def test_frames_round_trip_every_kind(frame: Frame, wire: list[Any]) -> None:
    (decoded,) = FrameDecoder().feed(encode_frame(frame))
    assert type(decoded) is type(frame)
    assert decoded == frame


def test_frames_every_kind_has_a_class() -> None:
    kinds = {frame.KIND for frame, _ in WIRE.values()}
    assert kinds == set(Kind)


def test_frames_of_different_kinds_with_the_same_fields_differ() -> None:
    assert Cancel(3) != StreamEnd(3)
    assert Ping(3) != Pong(3)


def test_frames_encoding_is_length_header_plus_msgpack_array() -> None:
    data = encode_frame(Cancel(7))
    body = msgpack.packb([13, 7])
    assert data == len(body).to_bytes(4, "big") + body


# -- appended fields: older and newer peers --------------------------------------------------

OLDER = {
    "CALL without a window": ([10, 1, "t", "m", [], {}], Call(1, "t", "m", [], {}, 0)),
    "RESULT without a value": ([11, 1], Result(1, None)),
    "ERROR with type and message only": ([12, 1, "KeyError", "k"], Error(1, "KeyError", "k")),
    "ERROR without a base": (
        [12, 1, "KeyError", "k", "tb", ["k"], "web", 2],
        Error(1, "KeyError", "k", "tb", ("k",), "web", 2, ""),
    ),
    "ERROR with nil fields": (
        [12, 1, "KeyError", "k", None, None, None, None, None],
        Error(1, "KeyError", "k"),
    ),
    "STREAM_CREDIT without a number": ([16, 1], StreamCredit(1, 1)),
    "EVENT without generation and instance": ([17, 0, "s", "e", 5], Event("s", "e", 5, 0, 0)),
    "EVENT without data": ([17, 0, "s", "e"], Event("s", "e", None, 0, 0)),
    "GOODBYE without the last call": ([20, 0], Goodbye(None, None)),
    "GOODBYE with an empty reason": ([20, 0, ""], Goodbye("", None)),
}


@pytest.mark.parametrize(("wire", "frame"), OLDER.values(), ids=OLDER.keys())
def test_frames_absent_appended_fields_take_their_defaults(wire: list[Any], frame: Frame) -> None:
    assert FrameDecoder().feed(_raw_frame(wire)) == [frame]


@pytest.mark.parametrize(("frame", "wire"), WIRE.values(), ids=WIRE.keys())
def test_frames_fields_a_newer_peer_appended_are_ignored(frame: Frame, wire: list[Any]) -> None:
    padded = wire + [None] * (11 - len(wire)) + ["from the future", {"x": 1}]
    (decoded,) = FrameDecoder().feed(_raw_frame(padded))
    assert type(decoded) is type(frame)
    assert decoded == frame


# -- pieces and buffering ------------------------------------------------------------------------


def test_frames_split_at_every_byte_offset_yields_same_frames() -> None:
    frames = [Call(1, "svc", "m", [1, 2], {}), Result(1, b"x" * 300), Ping(2)]
    stream = b"".join(encode_frame(f) for f in frames)
    for offset in range(len(stream) + 1):
        assert _feed_pieces(stream, [offset]) == frames, offset


def test_frames_fed_one_byte_at_a_time_yields_same_frames() -> None:
    frames: list[Frame] = [Event("src", "evt", {"a": 1}, 3, 0), Goodbye()]
    stream = b"".join(encode_frame(f) for f in frames)
    assert _feed_pieces(stream, list(range(1, len(stream)))) == frames


def test_frames_partial_tail_is_kept_until_completed() -> None:
    data = encode_frame(Result(5, "value"))
    decoder = FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.buffered == len(data) - 1
    assert decoder.feed(data[-1:]) == [Result(5, "value")]
    assert decoder.buffered == 0


def test_frames_many_frames_in_one_feed_come_out_in_order() -> None:
    frames = [StreamItem(i, i * 2) for i in range(1000)]
    decoder = FrameDecoder()
    assert decoder.feed(b"".join(encode_frame(f) for f in frames)) == frames
    assert decoder.buffered == 0


def test_frames_complete_frames_returned_and_tail_kept_in_one_feed() -> None:
    first, second = encode_frame(Ping(1)), encode_frame(Pong(1))
    decoder = FrameDecoder()
    assert decoder.feed(first + second[:3]) == [Ping(1)]
    assert decoder.feed(second[3:]) == [Pong(1)]


def test_frames_empty_feed_yields_nothing() -> None:
    assert FrameDecoder().feed(b"") == []


# -- size limit ---------------------------------------------------------------------------------


def test_frames_encode_exactly_at_limit_is_accepted() -> None:
    frame = Result(1, b"x" * 1000)
    limit = len(DEFAULT_CODEC.packb(frame.to_wire()))
    data = encode_frame(frame, max_size=limit)
    assert FrameDecoder(max_size=limit).feed(data) == [frame]


def test_frames_encode_one_above_limit_raises_payload_too_large() -> None:
    frame = Result(1, b"x" * 1000)
    size = len(DEFAULT_CODEC.packb(frame.to_wire()))
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
        decoder.feed(encode_frame(Ping(1)) + (101).to_bytes(HEADER, "big"))


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


#: Frames of a known kind whose fields are wrong, and the field the error names.
MALFORMED_FIELDS = {
    "HELLO without info": ([1, 0, 1, b"n"], "info missing"),
    "HELLO with a string version": ([1, 0, "1", b"n", {}], "version must be an integer, got str"),
    "HELLO with a bool version": ([1, 0, True, b"n", {}], "version must be an integer, got bool"),
    "HELLO with a str nonce": ([1, 0, 1, "n", {}], "nonce must be bytes, got str"),
    "HELLO with a list as info": ([1, 0, 1, b"n", []], "info must be a map, got list"),
    "CHALLENGE with an int proof": ([2, 0, b"n", 5, {}], "proof must be bytes, got int"),
    "AUTH without a proof": ([3, 0], "proof missing"),
    "WELCOME with nil info": ([4, 0, None], "info must be a map, got NoneType"),
    "ERROR without a message": ([12, 1, "KeyError"], "message missing"),
    "ERROR with an int type name": ([12, 1, 5, "m"], "type name must be a string, got int"),
    "ERROR with a map as args": ([12, 1, "E", "m", "", {}], "args must be an array, got dict"),
    "ERROR with a str instance": ([12, 1, "E", "m", "", [], "p", "1"], "instance must be an"),
    "STREAM_CREDIT of a string": ([16, 1, "8"], "number of items must be an integer, got str"),
    "STREAM_CREDIT below zero": ([16, 1, -1], "the number of items is negative"),
    "EVENT without a name": ([17, 0, "src"], "event name missing"),
    "EVENT with a float generation": ([17, 0, "s", "e", 1, 1.5], "generation must be an integer"),
    "GOODBYE with an int reason": ([20, 0, 5], "reason must be a string, got int"),
    "GOODBYE with a str call id": ([20, 0, None, "7"], "last call id must be an integer"),
}


@pytest.mark.parametrize(
    ("wire", "problem"), MALFORMED_FIELDS.values(), ids=MALFORMED_FIELDS.keys()
)
def test_frames_wrong_fields_are_protocol_error_naming_the_field(
    wire: list[Any], problem: str
) -> None:
    kind = Kind(wire[0]).name
    with pytest.raises(ProtocolError, match=f"malformed {kind} frame: .*{problem}"):
        FrameDecoder().feed(_raw_frame(wire))


def test_frames_wrong_field_error_never_shows_the_value() -> None:
    with pytest.raises(ProtocolError) as info:
        FrameDecoder().feed(_raw_frame([12, 1, "E", ["secret value"]]))
    assert "secret" not in str(info.value)


#: CALL frames with a valid id and wrong fields: they fail alone (docs/protocol.md).
BAD_CALLS = {
    "short": ([10, 7, "t", "m"], "expected [kind, id, target, method, args, kwargs], got 4 fields"),
    "target": ([10, 7, None, "m", [], {}], "target and method must be strings"),
    "method": ([10, 7, "t", 7, [], {}], "target and method must be strings"),
    "args": ([10, 7, "t", "m", "not an array", {}], "args must be an array, got str"),
    "kwargs": ([10, 7, "t", "m", [], ["a"]], "kwargs must be a map, got list"),
    "keys": ([10, 7, "t", "m", [], {1: 2}], "kwargs keys must be strings"),
    "window type": ([10, 7, "t", "m", [], {}, "16"], "window must be an integer, got str"),
    "negative window": ([10, 7, "t", "m", [], {}, -1], "window must not be negative"),
    "left type": ([10, 7, "t", "m", [], {}, 0, "3"], "left must be a number of seconds, got str"),
    "negative left": ([10, 7, "t", "m", [], {}, 0, -1.0], "left must not be negative"),
    "budget type": (
        [10, 7, "t", "m", [], {}, 0, 1, True],
        "budget must be a number of seconds, got bool",
    ),
    "call id type": ([10, 7, "t", "m", [], {}, 0, 1, 2, 3], "call_id must be a string, got int"),
}


@pytest.mark.parametrize(("wire", "problem"), BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_frames_call_with_wrong_fields_decodes_to_bad_call(wire: list[Any], problem: str) -> None:
    assert FrameDecoder().feed(_raw_frame(wire)) == [BadCall(7, problem)]


def test_frames_bad_call_does_not_stop_the_frames_behind_it() -> None:
    data = _raw_frame([10, 1, "t", "m", "x", {}]) + encode_frame(Cancel(2))
    assert FrameDecoder().feed(data) == [BadCall(1, "args must be an array, got str"), Cancel(2)]


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
        FrameDecoder().feed(encode_frame(Ping(1)) + _raw_frame([99, 1]))


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
        encode_frame(Call(1, "t", "m", [object()], {}))


def test_frames_encode_out_of_range_int_is_type_error() -> None:
    """An int msgpack cannot carry is an unencodable value like any other: TypeError."""
    with pytest.raises(TypeError):
        encode_frame(Result(1, 2**64))


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(_typed_frames(12), min_size=1, max_size=4), data=st.data())
def test_frames_round_trip_any_frames_any_chunking(
    frames: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    decoded = _feed_pieces(stream, cuts)
    assert decoded == frames
    # == treats True as 1 and -0.0 as 0.0; repr does not.
    assert repr(decoded) == repr(frames)


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
@given(
    frames=st.lists(_typed_frames(6), min_size=1, max_size=3),
    mutations=st.lists(_MUTATION, min_size=1, max_size=4),
)
def test_frames_mutated_frames_give_frames_or_protocol_error(
    frames: list[Frame], mutations: list[tuple[str, int, int]]
) -> None:
    data = bytearray(b"".join(encode_frame(f) for f in frames))
    for op, where, byte in mutations:
        _mutate(data, op, where, byte)
    _feed_or_protocol_error(FrameDecoder(max_size=1 << 20), bytes(data))


@pytest.mark.parametrize(
    ("wire", "frame"),
    [
        pytest.param([14, 3], StreamItem(3, None), id="stream-item-without-value"),
        pytest.param([14, 3, None], StreamItem(3, None), id="stream-item-nil"),
        pytest.param([16, 3, 0], StreamCredit(3, 0), id="stream-credit-of-zero"),
        pytest.param([16, 3], StreamCredit(3, 1), id="stream-credit-default"),
    ],
)
def test_frames_edge_values_of_the_table_decode(wire: list[Any], frame: Frame) -> None:
    """protocol.md's table: a STREAM_ITEM's value may be absent (nil), a STREAM_CREDIT may
    count 0 items (and counts 1 when absent). Fixed cases: the fuzz tests hit them by chance."""
    assert FrameDecoder().feed(_raw_frame(wire)) == [frame]
