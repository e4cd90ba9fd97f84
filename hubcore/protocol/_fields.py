"""Reading and writing the fields of a frame's msgpack array, for the frame classes.

A field that is missing or of the wrong type raises :class:`ProtocolError` naming the frame
kind, the field and the type received, never the value: a hostile value's ``repr`` can be
huge, or deep enough to blow the stack.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from hubcore._errors import ProtocolError

__all__ = ("appended", "malformed", "required", "trimmed")

_TYPE_NAMES = {int: "an integer", str: "a string", bytes: "bytes", list: "an array", dict: "a map"}


def malformed(kind: Enum, problem: str) -> ProtocolError:
    """The error for a frame of ``kind`` whose fields are wrong."""
    return ProtocolError(f"malformed {kind.name} frame: {problem}")


def required(wire: list[Any], i: int, kind: Enum, name: str, expected: type) -> Any:
    """Field ``i`` of ``wire``, which must be there and of type ``expected`` (bool is no int).

    :raises ProtocolError: it is missing or of another type.
    """
    if len(wire) <= i:
        raise malformed(kind, f"{len(wire)} fields, {name} missing")
    value = wire[i]
    if not isinstance(value, expected) or isinstance(value, bool):
        wanted = _TYPE_NAMES.get(expected, expected.__name__)
        raise malformed(kind, f"{name} must be {wanted}, got {type(value).__name__}")
    return value


def appended(wire: list[Any], i: int, kind: Enum, name: str, expected: type, default: Any) -> Any:
    """An appended field: ``default`` if absent or nil, else as :func:`required`."""
    if len(wire) <= i or wire[i] is None:
        return default
    return required(wire, i, kind, name, expected)


def trimmed(wire: list[Any], defaults: tuple[Any, ...]) -> list[Any]:
    """``wire`` without its trailing fields that hold their defaults (the last ``defaults``),
    as the frame was sent before those fields were appended."""
    end = len(wire)
    for default in reversed(defaults):
        if wire[end - 1] != default:
            break
        end -= 1
    return wire[:end]
