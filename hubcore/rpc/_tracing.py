"""Call records and fault injection: what a test harness needs to see and steer calls.

Both are off by default and cost one attribute check on the call path when off. A harness
turns them on through a client's ``$client`` control object, which the hub can call.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from hubcore._errors import _builtin_exception

__all__ = ("CallRecord", "Fault", "Tracer", "summarise")

TRACE_LIMIT = 10_000
BYTES_SHOWN = 64


@dataclass(frozen=True)
class CallRecord:
    """One cross-process call, seen from its caller."""

    caller: str
    caller_instance: int
    callee: str
    callee_instance: int
    object: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outcome: str  # "result", "error", "timeout" or "crash"
    detail: str  # repr of the result (shortened) or the error
    started: float  # time.time()
    duration: float  # seconds
    call_id: str = ""  # unique on the machine: "<process>.<instance>/<pid>:<n>"
    parent: str = ""  # the call_id of the call being served when this one was made, if any

    def to_wire(self) -> dict[str, Any]:
        """Plain values for the wire."""
        return asdict(self)

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


class Tracer:
    """Records the calls one client makes, until drained."""

    def __init__(self, process: str, instance: int) -> None:
        self.process = process
        self.instance = instance
        self.records: deque[CallRecord] = deque(maxlen=TRACE_LIMIT)
        self._ids = itertools.count(1)
        self._prefix = f"{process}.{instance}/{os.getpid()}:"

    def new_call_id(self) -> str:
        """An id for a call about to be made, unique on the machine."""
        return f"{self._prefix}{next(self._ids)}"

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
        """Add one finished call (``started`` is its ``time.perf_counter()``)."""
        args, kwargs = call
        self.records.append(
            CallRecord(
                self.process,
                self.instance,
                callee[0],
                callee[1],
                target,
                method,
                summarise(tuple(args)),
                summarise(dict(kwargs)),
                outcome,
                repr(summarise(detail))[:200],
                time.time() - (time.perf_counter() - started),
                time.perf_counter() - started,
                call_id,
                parent,
            )
        )

    def drain(self) -> list[CallRecord]:
        """Return and forget every record so far."""
        records = list(self.records)
        self.records.clear()
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
