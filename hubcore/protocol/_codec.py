"""Values on the wire: msgpack natives plus tuples, sets, datetimes and registered user types.

No pickle: a value the codec does not know is a ``TypeError`` on the sender, before anything is
sent. msgpack ext type codes are part of the wire format and never change.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

__all__ = ("DEFAULT_CODEC", "Codec", "Undecodable", "register_codec")

EXT_TUPLE = 1
EXT_SET = 2
EXT_FROZENSET = 3
EXT_DATETIME = 4
EXT_DATE = 5
EXT_TIMEDELTA = 6
EXT_BULK = 7  # a reference to raw bytes sent before the frame (see _bulk); frames only
EXT_USER = 16


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a received user type that this process has not registered.

    The frame around it stays usable; whoever meets it reports ``message`` as a TypeError.
    """

    message: str


@dataclass(frozen=True)
class _UserType:
    name: str
    cls: type[Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


#: A thread's packer is kept for the next value only if it packed at most this many bytes.
_KEEP_PACKER = 256 * 1024


class Codec:
    """msgpack with hubcore's extension types and a registry of user types."""

    def __init__(self) -> None:
        self._by_cls: dict[type[Any], _UserType] = {}
        self._by_name: dict[str, _UserType] = {}
        # One packer per thread, reused: msgpack.packb makes a new one for every value, which
        # costs three times the packing of a small frame. A value packed while the thread's
        # packer is busy (an extension's payload) gets a packer of its own. A packer keeps its
        # buffer at the largest size it ever packed: after a large value it is let go, so
        # that a thread does not hold a copy's worth of memory for good.
        self._local = threading.local()

    def register(
        self,
        cls: type[Any],
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
        *,
        name: str | None = None,
    ) -> None:
        """Teach the codec a user type. Register it under the same name in every process.

        :param cls: the class (exact type; subclasses need their own registration).
        :param encode: turns an instance into encodable values.
        :param decode: turns those values back into an instance.
        :param name: the wire name, by default ``module.QualName``.
        """
        wire_name = name or f"{cls.__module__}.{cls.__qualname__}"
        entry = _UserType(wire_name, cls, encode, decode)
        self._by_cls[cls] = entry
        self._by_name[wire_name] = entry

    def packb(self, value: Any) -> bytes:
        """Encode one value.

        :raises TypeError: some value in it has no encoding.
        """
        local = self._local
        packer = getattr(local, "packer", None)
        if packer is None:
            packer = local.packer = msgpack.Packer(default=self._default, strict_types=True)
            local.busy = False
        try:
            if local.busy:
                result: bytes = msgpack.packb(value, default=self._default, strict_types=True)
                return result
            local.busy = True
            try:
                packed: bytes = packer.pack(value)  # it forgets a value that failed
            finally:
                local.busy = False
            if len(packed) > _KEEP_PACKER:
                local.packer = None
            return packed
        except OverflowError as exc:
            raise TypeError(f"cannot encode an integer outside the 64-bit range: {exc}") from None

    def unpackb(self, data: bytes | memoryview, bulks: list[bytes] | None = None) -> Any:
        """Decode one value (bin stays bytes, arrays become lists).

        :param bulks: the raw values that arrived before this frame, which its references
            (extension type 7) stand for; each must be referred to.
        :raises ValueError: a reference to a raw value that did not arrive, or one left unused.
        """
        if not bulks:
            return msgpack.unpackb(data, ext_hook=self._ext_hook, raw=False, strict_map_key=False)
        used: set[int] = set()

        def hook(code: int, payload: bytes) -> Any:
            if code != EXT_BULK:
                return self._ext_hook(code, payload)
            index = int.from_bytes(payload, "big")
            if len(payload) != 4 or index >= len(bulks):
                raise ValueError(f"reference to raw value {index}, of {len(bulks)} sent")
            used.add(index)
            return bulks[index]

        value = msgpack.unpackb(data, ext_hook=hook, raw=False, strict_map_key=False)
        if len(used) != len(bulks):
            raise ValueError(f"{len(bulks) - len(used)} raw value(s) sent that no field used")
        return value

    def _default(self, obj: Any) -> Any:
        # strict_types sends every subclass here: give natives back their base type.
        if isinstance(obj, str):
            return str.__str__(obj)
        if isinstance(obj, bool | int):
            return bool(obj) if isinstance(obj, bool) else int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, bytes):
            return bytes(obj)
        if isinstance(obj, list):
            return list(obj)
        if isinstance(obj, dict):
            return dict(obj)
        kind, data = self._encode_ext(obj)
        return msgpack.ExtType(kind, data)

    def _encode_ext(self, obj: Any) -> tuple[int, bytes]:
        if isinstance(obj, tuple):
            return EXT_TUPLE, self.packb(list(obj))
        if isinstance(obj, frozenset):
            return EXT_FROZENSET, self.packb(list(obj))
        if isinstance(obj, set):
            return EXT_SET, self.packb(list(obj))
        if isinstance(obj, dt.datetime):
            return EXT_DATETIME, obj.isoformat().encode()
        if isinstance(obj, dt.date):
            return EXT_DATE, obj.isoformat().encode()
        if isinstance(obj, dt.timedelta):
            return EXT_TIMEDELTA, self.packb([obj.days, obj.seconds, obj.microseconds])
        entry = self._by_cls.get(type(obj))
        if entry is None:
            raise TypeError(
                f"cannot encode object of type {type(obj).__module__}.{type(obj).__qualname__}: "
                "pass msgpack natives, bytes, tuples, sets or datetimes, or register the type "
                "with hubcore.register_codec()"
            )
        return EXT_USER, self.packb([entry.name, entry.encode(obj)])

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == EXT_TUPLE:
            return tuple(self.unpackb(data))
        if code == EXT_SET:
            return set(self.unpackb(data))
        if code == EXT_FROZENSET:
            return frozenset(self.unpackb(data))
        if code == EXT_DATETIME:
            return dt.datetime.fromisoformat(data.decode())
        if code == EXT_DATE:
            return dt.date.fromisoformat(data.decode())
        if code == EXT_TIMEDELTA:
            days, seconds, micros = self.unpackb(data)
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == EXT_USER:
            return self._decode_user(data)
        raise ValueError(f"unknown extension type {code}")

    def _decode_user(self, data: bytes) -> Any:
        name, state = self.unpackb(data)
        entry = self._by_name.get(name)
        if entry is None:
            return Undecodable(
                f"received a {name!r} but that type is not registered in this process: "
                "call hubcore.register_codec() for it here too"
            )
        return entry.decode(state)


DEFAULT_CODEC = Codec()


def register_codec(
    cls: type[Any],
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
    *,
    name: str | None = None,
) -> None:
    """Register a user type with the default codec (see :meth:`Codec.register`)."""
    DEFAULT_CODEC.register(cls, encode, decode, name=name)
