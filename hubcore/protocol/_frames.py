"""Frames as classes: one small class per frame kind, with named fields.

How it works: on the wire a frame is one msgpack array ``[kind, id, *fields]``
(docs/protocol.md). Each class turns itself into that array (:meth:`to_wire`) and builds itself
from one (:meth:`from_wire`), checking every field it reads: a frame whose fields are wrong
raises :class:`ProtocolError`, except a CALL with a valid id, which decodes to :class:`BadCall`
so that only that call fails. :mod:`hubcore.protocol._framing` adds the length header.

Invariants: kind numbers never change; fields are only appended, each with a default that
means "as before", and a frame encodes without its trailing fields while they hold their
defaults where older code sent it that way, so the bytes on the wire are what they always
were. Receivers ignore fields they do not know. Never ``repr()`` a received value in an error:
deep nesting makes repr itself blow the stack.

The kind numbers and the class decorator are in :mod:`._kinds`, the handshake's frames in
:mod:`._handshake_frames` (re-exported here).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hubcore.protocol._fields import appended, malformed, required, trimmed
from hubcore.protocol._handshake_frames import Auth, Challenge, Hello, Welcome
from hubcore.protocol._kinds import (
    _CALL,
    _CANCEL,
    _ERROR,
    _EVENT,
    _GOODBYE,
    _PING,
    _PONG,
    _RESULT,
    _STREAM_CREDIT,
    _STREAM_END,
    _STREAM_ITEM,
    Kind,
    frame_class,
)

__all__ = (
    "Auth",
    "BadCall",
    "Call",
    "Cancel",
    "Challenge",
    "Error",
    "Event",
    "Goodbye",
    "Hello",
    "Kind",
    "Ping",
    "Pong",
    "Result",
    "StreamCredit",
    "StreamEnd",
    "StreamItem",
    "Welcome",
)


# -- calls ----------------------------------------------------------------------------------


@frame_class
class Call:
    """CALL: run ``target.method(*args, **kwargs)`` on the other end.

    Appended fields, each absent or nil meaning its default:

    - ``window`` (0) is set for an async-generator method only: how many items the producer
      may send ahead of the consumer;
    - ``left`` (None: no limit): the seconds the caller waits for the answer, counted from
      when it sent the call. The callee's own calls, made while it serves this one, wait no
      longer than what is left of it: one deadline bounds a whole chain of calls;
    - ``budget`` (None: ``left`` itself): the whole timeout of the chain this call is part
      of, when it is less than ``left`` by now (an error names both);
    - ``call_id`` (""): the caller's record of this call, when the caller records its calls;
      the calls the callee makes while serving it name it as their parent.
    """

    KIND: ClassVar[Kind] = Kind.CALL
    id: int
    target: str
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    window: int = 0
    left: float | None = None
    budget: float | None = None
    call_id: str = ""

    def to_wire(self) -> list[Any]:
        # Up to the last field that differs from its default: a call without a deadline has
        # the bytes of a call from before those fields were appended. Each list is written
        # out whole: this runs for every call, and building one in steps costs more.
        i, t, m, a, k, w = self.id, self.target, self.method, self.args, self.kwargs, self.window
        if self.call_id:
            return [_CALL, i, t, m, a, k, w, self.left, self.budget, self.call_id]
        if self.budget is not None:
            return [_CALL, i, t, m, a, k, w, self.left, self.budget]
        if self.left is not None:
            return [_CALL, i, t, m, a, k, w, self.left]
        if w:
            return [_CALL, i, t, m, a, k, w]
        return [_CALL, i, t, m, a, k]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Call | BadCall:
        """The call, or a :class:`BadCall` for its id if its fields are wrong."""
        n = len(f)
        if n < 6:
            return BadCall(
                f[1], f"expected [kind, id, target, method, args, kwargs], got {n} fields"
            )
        _kind, cid, target, method, args, kwargs = f[:6]
        window = f[6] if n > 6 else 0
        if type(target) is not str or type(method) is not str:
            return BadCall(cid, "target and method must be strings")
        if type(args) is not list:
            return BadCall(cid, f"args must be an array, got {type(args).__name__}")
        if type(kwargs) is not dict:
            return BadCall(cid, f"kwargs must be a map, got {type(kwargs).__name__}")
        for key in kwargs:
            if type(key) is not str:
                return BadCall(cid, "kwargs keys must be strings")
        if window is None:
            window = 0
        elif type(window) is not int:
            return BadCall(cid, f"window must be an integer, got {type(window).__name__}")
        elif window < 0:
            return BadCall(cid, "window must not be negative")
        if n <= 7:
            return cls(cid, target, method, args, kwargs, window)
        if n == 8 and type(left := f[7]) is float and left >= 0:  # a deadline alone: common
            return cls(cid, target, method, args, kwargs, window, left)
        chain = _chain_fields(f, cid)
        if type(chain) is BadCall:
            return chain
        left, budget, call_id = chain  # type: ignore[misc]
        return cls(cid, target, method, args, kwargs, window, left, budget, call_id)


def _chain_fields(f: list[Any], cid: int) -> tuple[float | None, float | None, str] | BadCall:
    """The fields of a call chain that a CALL carries (``left`` and after), checked."""
    n = len(f)
    left = f[7]
    budget = f[8] if n > 8 else None
    call_id = f[9] if n > 9 else None
    for name, value in (("left", left), ("budget", budget)):
        if value is None:
            continue
        if type(value) is not float and type(value) is not int:
            kind = type(value).__name__
            return BadCall(cid, f"{name} must be a number of seconds, got {kind}")
        if value < 0:
            return BadCall(cid, f"{name} must not be negative")
    if call_id is not None and type(call_id) is not str:
        return BadCall(cid, f"call_id must be a string, got {type(call_id).__name__}")
    return left, budget, call_id or ""


@frame_class
class BadCall:
    """A CALL whose id is valid but whose fields are not: answered with an ERROR for that id.

    Never sent: it is what decoding such a frame gives, so that one bad call fails alone
    instead of closing the connection with every other call in flight on it.
    """

    KIND: ClassVar[Kind] = Kind.CALL
    id: int
    reason: str


@frame_class
class Result:
    """RESULT: the value a call returned."""

    KIND: ClassVar[Kind] = Kind.RESULT
    id: int
    value: Any = None

    def to_wire(self) -> list[Any]:
        return [_RESULT, self.id, self.value]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Result:
        return cls(f[1], f[2] if len(f) > 2 else None)


@frame_class
class Error:
    """ERROR: what a call raised (or, with id 0, why the handshake was refused).

    Appended fields, each absent or nil meaning its default: the remote traceback text, the
    exception's ``args``, the process and instance that raised it, ``base``, the nearest
    builtin class of a user exception (``ValueError`` for ``class PageError(ValueError)``), and
    ``stack``: where a cancelled method was waiting (``path:line in function: `code```,
    innermost last), in the ERROR of type ``$cancelled`` that answers a CANCEL, and in the
    ERROR of a method that raised a ``CallTimeout`` carrying one (a call of a chain).
    """

    KIND: ClassVar[Kind] = Kind.ERROR
    id: int
    type_name: str
    message: str
    traceback: str = ""
    args: tuple[Any, ...] = ()
    process: str = ""
    instance: int = 0
    base: str = ""
    stack: tuple[str, ...] = ()

    def to_wire(self) -> list[Any]:
        wire = [_ERROR, self.id, self.type_name, self.message, self.traceback, list(self.args)]
        wire += [self.process, self.instance, self.base]
        if self.stack:
            wire.append(list(self.stack))
            return wire
        return trimmed(wire, ("", [], "", 0, ""))

    @classmethod
    def from_wire(cls, f: list[Any]) -> Error:
        k = Kind.ERROR
        return cls(
            f[1],
            required(f, 2, k, "type name", str),
            required(f, 3, k, "message", str),
            appended(f, 4, k, "traceback", str, ""),
            tuple(appended(f, 5, k, "args", list, ())),
            appended(f, 6, k, "process", str, ""),
            appended(f, 7, k, "instance", int, 0),
            appended(f, 8, k, "base", str, ""),
            _stack(appended(f, 9, k, "stack", list, ())),
        )


def _stack(lines: list[Any] | tuple[()]) -> tuple[str, ...]:
    if not lines:
        return ()
    if any(type(line) is not str for line in lines):
        raise malformed(Kind.ERROR, "the stack must be an array of strings")
    return tuple(lines)


@frame_class
class Cancel:
    """CANCEL: the caller stopped waiting; the callee cancels the running method."""

    KIND: ClassVar[Kind] = Kind.CANCEL
    id: int

    def to_wire(self) -> list[Any]:
        return [_CANCEL, self.id]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Cancel:
        return cls(f[1])


# -- streams --------------------------------------------------------------------------------


@frame_class
class StreamItem:
    """STREAM_ITEM: one item of an async-generator method."""

    KIND: ClassVar[Kind] = Kind.STREAM_ITEM
    id: int
    value: Any = None

    def to_wire(self) -> list[Any]:
        return [_STREAM_ITEM, self.id, self.value]

    @classmethod
    def from_wire(cls, f: list[Any]) -> StreamItem:
        return cls(f[1], f[2] if len(f) > 2 else None)


@frame_class
class StreamEnd:
    """STREAM_END: the generator finished."""

    KIND: ClassVar[Kind] = Kind.STREAM_END
    id: int

    def to_wire(self) -> list[Any]:
        return [_STREAM_END, self.id]

    @classmethod
    def from_wire(cls, f: list[Any]) -> StreamEnd:
        return cls(f[1])


@frame_class
class StreamCredit:
    """STREAM_CREDIT: the consumer took ``items`` more items; the producer may send as many."""

    KIND: ClassVar[Kind] = Kind.STREAM_CREDIT
    id: int
    items: int = 1

    def to_wire(self) -> list[Any]:
        return [_STREAM_CREDIT, self.id, self.items]

    @classmethod
    def from_wire(cls, f: list[Any]) -> StreamCredit:
        items = appended(f, 2, Kind.STREAM_CREDIT, "number of items", int, 1)
        if items < 0:
            raise malformed(Kind.STREAM_CREDIT, "the number of items is negative")
        return cls(f[1], items)


# -- events and the rest ------------------------------------------------------------------


@frame_class
class Event:
    """EVENT: ``source`` (a published name, or ``$hub``) emitted ``name`` with ``data``."""

    KIND: ClassVar[Kind] = Kind.EVENT
    source: str
    name: str
    data: Any = None
    generation: int = 0
    instance: int = 0

    def to_wire(self) -> list[Any]:
        return [_EVENT, 0, self.source, self.name, self.data, self.generation, self.instance]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Event:
        k = Kind.EVENT
        return cls(
            required(f, 2, k, "source", str),
            required(f, 3, k, "event name", str),
            f[4] if len(f) > 4 else None,
            appended(f, 5, k, "generation", int, 0),
            appended(f, 6, k, "instance", int, 0),
        )


@frame_class
class Ping:
    """PING: answered with a PONG of the same id."""

    KIND: ClassVar[Kind] = Kind.PING
    id: int = 0

    def to_wire(self) -> list[Any]:
        return [_PING, self.id]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Ping:
        return cls(f[1])


@frame_class
class Pong:
    """PONG: the answer to the PING of the same id."""

    KIND: ClassVar[Kind] = Kind.PONG
    id: int = 0

    def to_wire(self) -> list[Any]:
        return [_PONG, self.id]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Pong:
        return cls(f[1])


@frame_class
class Goodbye:
    """GOODBYE: this end closes on purpose.

    ``reason`` is set when it hangs up because the other end broke the protocol;
    ``last_taken`` (on a deliberate close) is the id of the last call it took: later ones
    never ran. Both are appended fields, absent or nil when not known.
    """

    KIND: ClassVar[Kind] = Kind.GOODBYE
    reason: str | None = None
    last_taken: int | None = None

    def to_wire(self) -> list[Any]:
        return trimmed([_GOODBYE, 0, self.reason, self.last_taken], (None, None))

    @classmethod
    def from_wire(cls, f: list[Any]) -> Goodbye:
        k = Kind.GOODBYE
        return cls(
            appended(f, 2, k, "reason", str, None), appended(f, 3, k, "last call id", int, None)
        )
