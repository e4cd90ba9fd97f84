"""Values on the wire: msgpack natives, hubcore's ext types, and registered user types."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import tracemalloc
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest

import hubcore
from hubcore.protocol import Call, Codec, FrameDecoder, Result, encode_frame
from hubcore.protocol._codec import DEFAULT_CODEC, Undecodable

MIB = 1024 * 1024


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Unknown:
    pass


class Color(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):  # noqa: UP042 -- the str-mixin form is the case under test
    FAST = "fast"


class Level(enum.StrEnum):
    HIGH = "high"


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyFloat(float):
    pass


class MyBytes(bytes):
    pass


class MyList(list[Any]):
    pass


class MyDict(dict[str, Any]):
    pass


def _typed(value: Any) -> Any:
    """A comparable form of ``value`` that also records every type, at every depth."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_typed(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value).__name__, frozenset(_typed(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_typed(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, dt.datetime):
        return ("datetime", value, value.utcoffset())
    return (type(value).__name__, value)


def _round_trip(value: Any, codec: Codec | None = None) -> Any:
    codec = codec or Codec()
    return codec.unpackb(codec.packb(value))


def _point_codec() -> Codec:
    codec = Codec()
    codec.register(Point, lambda p: [p.x, p.y], lambda s: Point(*s))
    return codec


UTC = dt.UTC
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

EXT_VALUES = {
    "tuple": (1, "a", None),
    "empty tuple": (),
    "set": {1, 2, 3},
    "empty set": set(),
    "frozenset": frozenset({"a", "b"}),
    "empty frozenset": frozenset(),
    "naive datetime": dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
    "utc datetime": dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
    "+05:30 datetime": dt.datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=IST),
    "date": dt.date(1999, 12, 31),
    "timedelta": dt.timedelta(days=3, seconds=7, microseconds=11),
    "negative timedelta": dt.timedelta(days=-1, microseconds=1),
    "zero timedelta": dt.timedelta(),
}


@pytest.mark.parametrize("value", EXT_VALUES.values(), ids=EXT_VALUES.keys())
def test_codec_ext_type_round_trips(value: Any) -> None:
    assert _typed(_round_trip(value)) == _typed(value)


def test_codec_nested_ext_types_round_trip() -> None:
    value = {
        "sets": {(1, 2), (3, frozenset({4, (5,)}))},
        "when": [(dt.date(2020, 1, 2), dt.datetime(2020, 1, 2, 3, 4, tzinfo=IST))],
        "durations": ({"d": dt.timedelta(hours=1)},),
        "frozen": frozenset({frozenset({1}), (None, b"x")}),
    }
    assert _typed(_round_trip(value)) == _typed(value)


def test_codec_tuple_and_frozenset_keys_round_trip() -> None:
    value = {(1, "a"): "tuple key", frozenset({2}): "frozenset key", 3: "int key"}
    assert _typed(_round_trip(value)) == _typed(value)


def test_codec_aware_datetime_keeps_its_offset() -> None:
    value = dt.datetime(2024, 6, 1, 8, 30, tzinfo=IST)
    out = _round_trip(value)
    assert out.tzinfo is not None
    assert out.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert out == value
    assert (out.hour, out.minute) == (8, 30)


def test_codec_naive_datetime_stays_naive() -> None:
    out = _round_trip(dt.datetime(2024, 6, 1, 8, 30))
    assert out.tzinfo is None


def test_codec_datetime_is_not_decoded_as_date() -> None:
    assert type(_round_trip(dt.datetime(2024, 1, 1))) is dt.datetime
    assert type(_round_trip(dt.date(2024, 1, 1))) is dt.date


def test_codec_registered_user_type_round_trips() -> None:
    codec = _point_codec()
    value = {"p": Point(1, 2), "nested": [(Point(3, 4),), {Point(5, 6)}]}
    assert _typed(_round_trip(value, codec)) == _typed(value)


def test_codec_user_type_decodes_by_wire_name_on_another_codec() -> None:
    @dataclass
    class OtherPoint:
        x: int
        y: int

    sender, receiver = Codec(), Codec()
    sender.register(Point, lambda p: [p.x, p.y], lambda s: Point(*s), name="geo.Point")
    receiver.register(OtherPoint, lambda p: [p.x, p.y], lambda s: OtherPoint(*s), name="geo.Point")
    assert receiver.unpackb(sender.packb(Point(1, 2))) == OtherPoint(1, 2)


def test_codec_user_type_unregistered_on_receiver_decodes_to_undecodable() -> None:
    sender, receiver = _point_codec(), Codec()
    out = receiver.unpackb(sender.packb([1, Point(1, 2), "after"]))
    assert out[0] == 1
    assert out[2] == "after"
    assert isinstance(out[1], Undecodable)
    assert "Point" in out[1].message
    assert "register_codec" in out[1].message


def test_codec_unregistered_user_type_leaves_the_frame_usable() -> None:
    frame = Call(9, "svc", "method", [Point(1, 2)], {"k": "v"})
    data = encode_frame(frame, codec=_point_codec())
    (decoded,) = FrameDecoder(codec=Codec()).feed(data)
    assert isinstance(decoded, Call)
    assert (decoded.id, decoded.target, decoded.method) == (9, "svc", "method")
    assert isinstance(decoded.args[0], Undecodable)
    assert decoded.kwargs == {"k": "v"}


@pytest.mark.parametrize(
    "value",
    [Unknown(), [1, Unknown()], {"k": Unknown()}, (Unknown(),), {"k": [(1, {Unknown()})]}],
    ids=["bare", "in list", "in dict", "in tuple", "deep"],
)
def test_codec_unknown_type_is_type_error_naming_it(value: Any) -> None:
    with pytest.raises(TypeError, match=r"test_codec\.Unknown") as info:
        Codec().packb(value)
    assert "hubcore.register_codec" in str(info.value)


def test_codec_subclass_of_registered_type_is_not_encoded() -> None:
    """Registration is by exact type: a subclass needs its own."""

    class SubPoint(Point):
        pass

    with pytest.raises(TypeError, match="SubPoint"):
        _point_codec().packb(SubPoint(1, 2))


SUBCLASSES = {
    "IntEnum": (Color.RED, 1),
    "str-mixin Enum": (Mode.FAST, "fast"),
    "StrEnum": (Level.HIGH, "high"),
    "str subclass": (MyStr("abc"), "abc"),
    "int subclass": (MyInt(7), 7),
    "float subclass": (MyFloat(1.5), 1.5),
    "bytes subclass": (MyBytes(b"\x00\x01"), b"\x00\x01"),
    "list subclass": (MyList([1, 2]), [1, 2]),
    "dict subclass": (MyDict(a=1), {"a": 1}),
    "OrderedDict": (collections.OrderedDict(b=2, a=1), {"b": 2, "a": 1}),
    "defaultdict": (collections.defaultdict(int, {"a": 1}), {"a": 1}),
}


@pytest.mark.parametrize(("value", "expected"), SUBCLASSES.values(), ids=SUBCLASSES.keys())
def test_codec_native_subclass_is_sent_as_its_base_type(value: Any, expected: Any) -> None:
    assert _typed(_round_trip(value)) == _typed(expected)


def test_codec_subclass_inside_containers_is_sent_as_base_type() -> None:
    value = {MyStr("k"): [Color.RED, (Mode.FAST,)]}
    assert _typed(_round_trip(value)) == _typed({"k": [1, ("fast",)]})


def test_codec_bool_stays_bool() -> None:
    assert _typed(_round_trip([True, False, 1, 0])) == _typed([True, False, 1, 0])


def test_codec_bytes_stay_bytes_as_msgpack_bin() -> None:
    codec = Codec()
    packed = codec.packb(b"abc")
    assert packed[:1] == b"\xc4"  # bin 8, not str
    assert _typed(codec.unpackb(packed)) == _typed(b"abc")
    assert _typed(_round_trip("abc")) == _typed("abc")


def test_codec_one_mib_bytes_round_trips() -> None:
    value = bytes(range(256)) * (MIB // 256)
    assert _round_trip(value) == value
    (frame,) = FrameDecoder().feed(encode_frame(Result(1, value)))
    assert isinstance(frame, Result)
    assert type(frame.value) is bytes
    assert frame.value == value


def test_codec_holds_no_copy_of_a_large_value_it_packed() -> None:
    # A packer kept for the thread's next value keeps its buffer at the largest size it packed.
    codec = Codec()
    tracemalloc.start()
    try:
        codec.packb(b"small")  # the thread's packer, and whatever buffer a new one starts with
        before = tracemalloc.get_traced_memory()[0]
        packed = codec.packb(bytes(4 * MIB))
        assert len(packed) > 4 * MIB
        del packed
        assert codec.packb(b"small") == msgpack.packb(b"small")  # the thread's next packer
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < MIB // 2, f"the codec holds {held} bytes more after packing a 4 MiB value"


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1], ids=["2**64", "-2**63-1"])
def test_codec_out_of_range_int_is_type_error(value: int) -> None:
    """The send paths catch TypeError for unencodable values; msgpack's OverflowError escapes."""
    with pytest.raises(TypeError):
        Codec().packb(value)


@pytest.mark.parametrize("value", [2**64 - 1, -(2**63)], ids=["uint64 max", "int64 min"])
def test_codec_int_range_limits_round_trip(value: int) -> None:
    assert _round_trip(value) == value


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Celsius) and other.degrees == self.degrees

    __hash__ = None  # type: ignore[assignment]


def test_register_codec_registers_with_the_default_codec_under_its_name() -> None:
    hubcore.register_codec(Celsius, lambda c: c.degrees, Celsius, name="tests.Celsius")
    (frame,) = FrameDecoder().feed(encode_frame(Result(1, Celsius(21.5))))
    assert isinstance(frame, Result)
    assert frame.value == Celsius(21.5)
    ext = msgpack.unpackb(DEFAULT_CODEC.packb(Celsius(1.5)))
    assert (ext.code, msgpack.unpackb(ext.data)) == (16, ["tests.Celsius", 1.5])
