"""The words of the protocol layer's errors: what a malformed frame or value says.

protocol.md promises that a protocol violation is logged with what was wrong (the frame kind,
the field, the type received), and core.md that a value that cannot be encoded says what to
do. These tests pin those messages, field by field, so that a message naming the wrong field
or none fails here (mutation testing found them unchecked).
"""

from __future__ import annotations

import re
from typing import Any

import msgpack
import pytest

import hubcore
from hubcore.protocol import Codec, FrameDecoder, encode_frame
from hubcore.protocol._codec import Undecodable
from hubcore.protocol._fields import required
from hubcore.protocol._frames import Call, Kind

# Frame kinds of docs/protocol.md.
CHALLENGE, ERROR, STREAM_CREDIT, EVENT = 2, 12, 16, 17


def body(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def decode_error(data: bytes) -> str:
    with pytest.raises(hubcore.ProtocolError) as info:
        FrameDecoder().feed(body(data))
    return str(info.value)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        pytest.param(
            [ERROR, 5, "KeyError", "k", 7],
            "malformed ERROR frame: traceback must be a string, got int",
            id="error-traceback",
        ),
        pytest.param(
            [ERROR, 5, "KeyError", "k", "", [], 7],
            "malformed ERROR frame: process must be a string, got int",
            id="error-process",
        ),
        pytest.param(
            [ERROR, 5, "KeyError", "k", "", [], "p", 0, 7],
            "malformed ERROR frame: base must be a string, got int",
            id="error-base",
        ),
        pytest.param(
            [EVENT, 0, 7, "tick"],
            "malformed EVENT frame: source must be a string, got int",
            id="event-source",
        ),
        pytest.param(
            [EVENT, 0, "clock", "tick", None, 1, "x"],
            "malformed EVENT frame: instance must be an integer, got str",
            id="event-instance",
        ),
        pytest.param(
            [CHALLENGE, 0, "n", b"proof", {}],
            "malformed CHALLENGE frame: nonce must be bytes, got str",
            id="challenge-nonce",
        ),
        pytest.param(
            [CHALLENGE, 0, b"n", b"proof", 7],
            "malformed CHALLENGE frame: info must be a map, got int",
            id="challenge-info",
        ),
        pytest.param(
            [STREAM_CREDIT, 3, -1],
            "malformed STREAM_CREDIT frame: the number of items is negative",
            id="credit-negative",
        ),
        pytest.param(
            "hello",
            "malformed frame: expected [kind, id, ...], got a str",
            id="not-an-array",
        ),
    ],
)
def test_a_malformed_frame_names_its_kind_and_field(wire: Any, message: str) -> None:
    assert decode_error(msgpack.packb(wire, use_bin_type=True)) == message


def test_an_undecodable_frame_says_why() -> None:
    message = decode_error(b"\xc1")  # 0xc1 is never valid msgpack
    assert message.startswith("undecodable frame: ")
    assert len(message) > len("undecodable frame: ")


def test_an_unknown_extension_type_is_named() -> None:
    data = msgpack.packb([EVENT, 0, "clock", "tick", msgpack.ExtType(99, b"")])
    assert re.fullmatch(r"undecodable frame: .*unknown extension type 99", decode_error(data))


def test_a_field_of_an_unnamed_type_is_named_by_its_class() -> None:
    with pytest.raises(hubcore.ProtocolError) as info:
        required([0, 0, "x"], 2, Kind.CALL, "ratio", float)
    assert str(info.value) == "malformed CALL frame: ratio must be float, got str"


def test_a_frame_over_the_limit_says_what_to_do() -> None:
    with pytest.raises(hubcore.PayloadTooLarge) as info:
        encode_frame(Call(1, "big", "put", (b"x" * 2048,), {}), max_size=1024)
    assert str(info.value) == (
        f"frame of {info.value.size} bytes exceeds the limit of 1024 bytes: send smaller "
        "payloads or raise max_frame_size on both ends"
    )


def test_an_integer_out_of_range_says_so() -> None:
    with pytest.raises(TypeError) as info:
        Codec().packb(2**64)
    assert str(info.value).startswith("cannot encode an integer outside the 64-bit range: ")


def test_a_value_of_an_unknown_type_says_what_can_be_sent() -> None:
    with pytest.raises(TypeError) as info:
        Codec().packb(object())
    assert str(info.value) == (
        "cannot encode object of type builtins.object: pass msgpack natives, bytes, tuples, "
        "sets or datetimes, or register the type with hubcore.register_codec()"
    )


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def test_a_user_type_unknown_here_says_to_register_it_here_too() -> None:
    sender = Codec()
    sender.register(Money, lambda m: m.cents, Money, name="tests.Money")
    received = Codec().unpackb(sender.packb(Money(5)))
    assert isinstance(received, Undecodable)
    assert received.message == (
        "received a 'tests.Money' but that type is not registered in this process: "
        "call hubcore.register_codec() for it here too"
    )
