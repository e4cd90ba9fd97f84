"""Frame kind numbers, and the decorator every frame class is made with.

The classes are frozen for the type checker but plain slots dataclasses at run time: a frozen
dataclass's ``__init__`` sets each field through ``object.__setattr__`` and costs about four
times as much, on every frame of the call path (``python -m bench.frames --forms``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

__all__ = ("Kind", "frame_class")


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


# Plain ints on the wire: the codec's strict types send an IntEnum through its slow path.
_HELLO, _CHALLENGE, _AUTH, _WELCOME = 1, 2, 3, 4
_CALL, _RESULT, _ERROR, _CANCEL = 10, 11, 12, 13
_STREAM_ITEM, _STREAM_END, _STREAM_CREDIT = 14, 15, 16
_EVENT, _PING, _PONG, _GOODBYE = 17, 18, 19, 20

_C = TypeVar("_C")


@dataclass_transform(frozen_default=True)
def frame_class(cls: type[_C]) -> type[_C]:
    return dataclass(slots=True)(cls)
