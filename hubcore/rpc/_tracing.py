"""Call records and fault injection: what a test harness needs to see and steer calls.

Both are off by default and cost one attribute check on the call path when off. A harness
turns them on through a client's ``$client`` control object, which the hub can call.

A tracer knows each call from the moment it is made (:meth:`Tracer.begin`) to the moment it
ends (:meth:`Tracer.record`): a harness that looks while a call waits (a test's report, right
after the callee died) sees it in :meth:`Tracer.in_flight`, and the finished record once it
ended. A call is in one of the two, never in neither; looking at the calls in flight first and
at the records second may see a call in both (it ended in between): the record wins.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import anyio

from hubcore._errors import _builtin_exception
from hubcore.rpc._chain import SERVING, parent_id

__all__ = ("CallRecord", "Fault", "Tracer", "summarise")

TRACE_LIMIT = 10_000
BYTES_SHOWN = 64


@dataclass(frozen=True)
class CallRecord:
    """One cross-process call, seen from its caller."""

    #: The outcome of a call that has not ended yet (:meth:`Tracer.in_flight`).
    IN_FLIGHT: ClassVar[str] = "in flight"

    caller: str
    caller_instance: int
    callee: str
    callee_instance: int
    object: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outcome: str  # "result", "error", "timeout" or "crash"; IN_FLIGHT while it waits
    detail: str  # repr of the result (shortened) or the error
    started: float  # time.time()
    duration: float  # seconds
    call_id: str = ""  # unique on the machine: "<process>.<instance>/<pid>:<n>"
    parent: str = ""  # the call_id of the call being served when this one was made, if any

    def to_wire(self) -> dict[str, Any]:
        """Plain values for the wire."""
        return asdict(self)

    def call_text(self, width: int = 70) -> str:
        """The call as written in Python, ``object.method(args)``, cut to ``width``
        characters: ``page_snapshot.take('http://a', width=320)``."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.object}.{self.method}({', '.join(parts)})"[:width]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> CallRecord:
        """Rebuild from :meth:`to_wire` output."""
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["args"] = tuple(data.get("args", ()))
        return cls(**data)


def summarise(value: Any) -> Any:
    """Keep a value small enough to record: long bytes become a ``<N bytes>`` marker."""
    if isinstance(value, bytes | bytearray) and len(value) > BYTES_SHOWN:
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return type(value)(summarise(v) for v in value)
    if isinstance(value, dict):
        return {k: summarise(v) for k, v in value.items()}
    return value


@dataclass
class _Pending:
    """A call made and not ended yet: what its record will say, but the end."""

    target: str
    method: str
    call: tuple[tuple[Any, ...], dict[str, Any]]
    callee: list[tuple[str, int]]  # the caller's: its last entry is the instance tried last
    started: float  # time.perf_counter()
    parent: str


class Tracer:
    """Records the calls one client makes, until drained, and knows those still waiting."""

    def __init__(self, process: str, instance: int) -> None:
        self.process = process
        self.instance = instance
        self.records: deque[CallRecord] = deque(maxlen=TRACE_LIMIT)
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"{process}.{instance}/{os.getpid()}:"

    def new_call_id(self) -> str:
        """An id for a call about to be made, unique on the machine."""
        return f"{self._prefix}{next(self._ids)}"

    def begin(
        self,
        target: str,
        method: str,
        call: tuple[tuple[Any, ...], dict[str, Any] | None],
        callee: list[tuple[str, int]],
        *,
        parent: str = "",
    ) -> str:
        """Note a call being made, until :meth:`record` ends it; return its id.

        :param parent: the id of the call it is made for; by default, the one being served
            here (:mod:`hubcore.rpc._chain`), if its caller sent its id.
        :param callee: where the call goes, filled in by the caller as it picks an instance
            (read when the call is looked at, so it names the instance tried last).
        """
        call_id = self.new_call_id()
        if not parent:
            parent = parent_id(SERVING.get())
        args, kwargs = call
        self._pending[call_id] = _Pending(
            target, method, (args, kwargs or {}), callee, time.perf_counter(), parent
        )
        return call_id

    def record(
        self,
        callee: tuple[str, int],
        target: str,
        method: str,
        call: tuple[tuple[Any, ...], dict[str, Any]],
        outcome: str,
        detail: Any,
        started: float,
        *,
        call_id: str = "",
        parent: str = "",
    ) -> None:
        """Add one finished call (``started`` is its ``time.perf_counter()``); it is no longer
        in flight. Its ``parent`` is the one given to :meth:`begin` unless given here."""
        pending = self._pending.pop(call_id, None)
        if not parent and pending is not None:
            parent = pending.parent
        text = repr(summarise(detail))[:200]
        self.records.append(
            self._record(callee, (target, method), call, (outcome, text), started, call_id, parent)
        )

    def _record(
        self,
        callee: tuple[str, int],
        what: tuple[str, str],
        call: tuple[tuple[Any, ...], dict[str, Any]],
        end: tuple[str, str],
        started: float,
        call_id: str,
        parent: str,
    ) -> CallRecord:
        """A record of a call so far; ``end`` is its outcome and the text of its detail."""
        (target, method), (args, kwargs), (outcome, detail) = what, call, end
        elapsed = time.perf_counter() - started
        return CallRecord(
            self.process,
            self.instance,
            callee[0],
            callee[1],
            target,
            method,
            summarise(tuple(args)),
            summarise(dict(kwargs)),
            outcome,
            detail,
            time.time() - elapsed,
            elapsed,
            call_id,
            parent,
        )

    def in_flight(self) -> list[CallRecord]:
        """The calls made and not ended yet, oldest first: outcome ``CallRecord.IN_FLIGHT``, the
        duration so far, the callee tried last (``("", 0)`` before one was picked)."""
        found = []
        for call_id, p in list(self._pending.items()):  # a copy: another thread may add one
            callee = p.callee[-1] if p.callee else ("", 0)
            what, end = (p.target, p.method), (CallRecord.IN_FLIGHT, "")
            found.append(self._record(callee, what, p.call, end, p.started, call_id, p.parent))
        return sorted(found, key=lambda r: r.started)

    def drain(self) -> list[CallRecord]:
        """Return and forget every record so far.

        One record at a time: blocking calls record from their own threads meanwhile, and a
        record they add during the drain stays for the next one instead of being lost.
        """
        records = []
        pop = self.records.popleft
        while self.records:
            records.append(pop())
        return records


@dataclass(frozen=True)
class Fault:
    """What to do to calls of one method: wait first, raise, or kill the process."""

    delay: float = 0.0
    error: tuple[str, str] | None = None  # (builtin exception name, message)
    crash: bool = False

    async def apply(self) -> None:
        """Run the fault before the real method (cancellable like the call itself)."""
        if self.delay:
            await anyio.sleep(self.delay)
        if self.crash:
            os._exit(70)  # an abrupt death, as a real crash would be
        if self.error is not None:
            raise _local_error(*self.error)


def _local_error(type_name: str, message: str) -> Exception:
    cls = _builtin_exception(type_name) or RuntimeError
    return cls(message)
