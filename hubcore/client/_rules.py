"""The rules every proxy call follows, awaited (:class:`~hubcore.client.Proxy`) or blocking
(``hubcore.sync``, the ``hubcore`` command: :mod:`hubcore.client._blocking`).

Both make a call the same way, around the same decisions, kept here: whether a method may be
called and is a stream (:func:`check_method`), which failed calls never ran and may go to the
process that publishes the name next (:func:`never_ran`), the errors a caller sees, and the
record a tracer keeps of each call (:class:`CallRecorder`). Nothing here waits or does I/O.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hubcore._errors import (
    CallNotTaken,
    CallTimeout,
    ConnectionLost,
    ProcessCrashed,
    unknown_name,
)
from hubcore.rpc._chain import chain_timeout
from hubcore.rpc._outcome import cancelled_note

if TYPE_CHECKING:
    from hubcore._directory import ObjectInfo
    from hubcore.rpc._chain import Chained
    from hubcore.rpc._tracing import Tracer

__all__ = (
    "CallRecorder",
    "call_timeout",
    "check_method",
    "never_ran",
    "no_method_message",
    "timed_out",
)

_OUTCOMES = {"CallTimeout": "timeout", "ProcessCrashed": "crash"}

# Attributes a proxy had before its operations became functions: a user who still writes
# ``proxy.call(...)`` is told where the operation went.
_FORMER_OPERATIONS = {
    "call": "call",
    "stream": "stream",
    "name": "name_of",
    "events": "events",
    "subscribe": "subscribe",
    "broadcast": "broadcast",
    "with_timeout": "with_timeout",
    "get_property": "get_property",
}


def check_method(name: str, method: str, info: ObjectInfo, *, streams_ok: bool) -> bool:
    """Whether ``method`` of ``name`` (published as ``info``) is a stream; checked before
    anything is sent.

    :raises AttributeError: the object has no such method.
    :raises TypeError: it is an async generator and ``streams_ok`` is false.
    """
    if method not in info.methods:
        raise AttributeError(no_method_message(name, method, info))
    if method not in info.streams:
        return False
    if streams_ok:
        return True
    raise TypeError(
        f"{name}.{method} is an async generator: iterate it with `async for` "
        "(by name: hubcore.stream), do not await it"
    )


def never_ran(exc: ConnectionLost, sent_at: float, *, goodbye: bool, closed: bool) -> bool:
    """Whether a call that failed with ``exc`` certainly never ran, so that it may go to the
    process that publishes its name next (a call runs at most once).

    :param sent_at: ``time.time()`` when the call was about to be sent.
    :param goodbye: the connection's other end said GOODBYE.
    :param closed: the connection is closed.
    """
    if isinstance(exc, ProcessCrashed):
        return exc.ended_at is not None and exc.ended_at < sent_at  # dead before it left
    if isinstance(exc, CallNotTaken):
        return True  # its publisher left before taking it
    return closed and not goodbye  # nothing listened any more


class CallRecorder:
    """Records one call in a client's :class:`Tracer`: where it went and how it ended."""

    __slots__ = ("_call", "_id", "_started", "_tracer", "callee")

    def __init__(
        self,
        tracer: Tracer,
        name: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
    ) -> None:
        self._tracer = tracer
        self._call = (name, method, args, kwargs or {})
        self._started = time.perf_counter()
        #: Each instance the call was sent to, in order (the caller appends).
        self.callee: list[tuple[str, int]] = [("", 0)]
        # In flight (listed at a crash) until recorded.
        self._id = tracer.begin(name, method, (args, kwargs), self.callee)

    def returned(self, value: Any) -> None:
        """The call returned ``value``."""
        self._record("result", value)

    @property
    def call_id(self) -> str:
        """The call's id in the record (sent with the call: the callee's calls name it)."""
        return self._id

    def failed(self, exc: BaseException) -> None:
        """The call raised ``exc`` (a cancelled call is recorded as an error without detail)."""
        if isinstance(exc, Exception):
            self._record(_OUTCOMES.get(type(exc).__name__, "error"), exc)
        else:
            self._record("error", None)

    def _record(self, outcome: str, detail: Any) -> None:
        name, method, args, kwargs = self._call
        self._tracer.record(
            self.callee[-1],
            name,
            method,
            (args, kwargs),
            outcome,
            detail,
            self._started,
            call_id=self._id,
        )


def no_method_message(name: str, method: str, info: ObjectInfo) -> str:
    """The AttributeError text for ``proxy.<method>`` on an object that lacks it."""
    listing = f"it has: {', '.join(info.methods)}" if info.methods else "it has no public methods"
    operation = _FORMER_OPERATIONS.get(method)
    # A property or a former operation has its own explanation below: no guess at a method.
    known = () if method in info.properties or operation is not None else info.methods
    text = unknown_name(f"{name!r} has no remote method {method!r}", method, known, listing)
    if method in info.properties:
        text += f"; {method!r} is a property: read it with hubcore.get_property(proxy, {method!r})"
    if operation is not None:
        text += (
            f" (the proxy's own operations are functions now: hubcore.{operation}(proxy, ...), "
            f"or hubcore.sync.{operation}(proxy, ...) for a blocking proxy)"
        )
    return text


def timed_out(
    name: str,
    method: str,
    timeout: float | None,
    chain: Chained | None,
    cause: CallTimeout | None = None,
) -> CallTimeout:
    """The ``CallTimeout`` of a call that got no answer within ``timeout``: it names the hop
    of the chain when the deadline of the call being served ended it.

    :param cause: the connection's timeout error, whose ``remote_stack`` and
        ``remote_blocked`` it keeps.
    """
    blocked = cause is not None and cause.remote_blocked
    if chain is None or chain.parent is None:
        error = call_timeout(name, method, timeout, blocked)
    else:
        error = chain_timeout(chain, name, method, blocked)
    error.call = f"{name}.{method}"
    if cause is not None:
        error.remote_stack, error.remote_blocked = cause.remote_stack, blocked
    return error


def call_timeout(
    name: str, method: str, timeout: float | None, blocked: bool = False
) -> CallTimeout:
    """The ``CallTimeout`` of a proxy's call, naming its whole timeout.

    :param blocked: the method still runs (see :func:`~hubcore.rpc._outcome.cancelled_note`).
    """
    return CallTimeout(
        f"{name}.{method} did not answer within {timeout:g}s{cancelled_note(blocked)}"
    )
