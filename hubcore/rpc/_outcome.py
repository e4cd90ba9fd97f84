"""How a call ends, decided from the frames and the connection's facts alone.

Both connections make calls: the async :class:`~hubcore.rpc.Connection` (``_calls``) and the
blocking one of ``hubcore.sync`` (``_blocking``). They wait differently, but every decision
about what a call's caller gets is taken here, once:

- a RESULT gives its value; a value the codec could not decode is a ``TypeError``;
- an ERROR gives the :class:`~hubcore.RemoteError` of ``_error_frames``;
- a connection that closed first gives ``CallNotTaken`` if the other end's GOODBYE says it never
  took the call, a ``ConnectionLost`` if it left on purpose (or this end closed it), and
  otherwise a crash, which only the caller's client can describe (it asks the hub);
- no answer in time gives ``CallTimeout`` (the caller has sent CANCEL), and so does the
  callee's answer to a CANCEL not yet sent (its watchdog answers for a plain method that holds
  the loop past the deadline, :mod:`hubcore.rpc._watchdog`; the caller's own timer may be late).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from hubcore._errors import CallNotTaken, CallTimeout, ConnectionLost
from hubcore.protocol import CANCELLED, RUNNING, Error, Goodbye
from hubcore.protocol._codec import Undecodable

__all__ = (
    "NOWHERE",
    "STACK_WAIT",
    "Stuck",
    "cancelled_note",
    "closed_error",
    "goodbye_reason",
    "not_taken",
    "not_taken_error",
    "result_value",
    "stuck",
    "timeout_error",
)

#: Seconds a call that timed out waits for the callee's answer to its CANCEL (where the
#: method was waiting). A callee that cannot answer (its loop is blocked, or it is older)
#: costs the caller this much more than its timeout.
STACK_WAIT = 0.25


def result_value(value: Any, what: str) -> Any:
    """The value a RESULT carried for call ``what`` (``"object.method"``).

    :raises TypeError: the value could not be decoded here (an unregistered type).
    """
    if isinstance(value, Undecodable):
        raise TypeError(f"{what}: {value.message}")
    return value


def not_taken(cid: int, goodbye: bool, remote_took: int | None) -> bool:
    """Whether call ``cid`` never ran: the other end's GOODBYE named an earlier last call."""
    return goodbye and remote_took is not None and cid > remote_took


def not_taken_error(what: str, label: str) -> CallNotTaken:
    """The error of a call that never ran because the other end left first."""
    return CallNotTaken(f"{what} was not run: {label} left before taking it")


def closed_error(label: str, close_reason: str) -> ConnectionLost:
    """The error of calls on a connection that closed on purpose (a GOODBYE, or this end)."""
    return ConnectionLost(f"connection to {label} closed: {close_reason}")


class Stuck(NamedTuple):
    """Where a callee's method was when its caller gave up: the callee's answer to the CANCEL."""

    stack: tuple[str, ...] = ()  #: its frames, innermost last (empty: the callee did not say)
    blocked: bool = False  #: a plain method, still running: it holds its loop, uncancelled


NOWHERE = Stuck()


def stuck(frame: Error) -> Stuck | None:
    """What an ERROR answering a CANCEL says; None for any other ERROR."""
    if frame.type_name != CANCELLED:
        return None
    return Stuck(frame.stack, frame.message == RUNNING)


def cancelled_note(blocked: bool) -> str:
    """How a ``CallTimeout``'s message ends: what became of the method on the callee."""
    if blocked:
        return (
            ": it is still running, a plain method holding its process's event loop, which "
            "cannot be cancelled (make it async, or run its blocking part in a thread)"
        )
    return " (the call was cancelled on the callee)"


def timeout_error(what: str, timeout: float | None, where: Stuck = NOWHERE) -> CallTimeout:
    """The error of a call that got no answer within ``timeout`` (CANCEL was sent).

    :param where: where the callee's method was, from its answer to the CANCEL.
    """
    error = CallTimeout(f"{what} did not answer within {timeout}s{cancelled_note(where.blocked)}")
    error.call, error.remote_stack, error.remote_blocked = what, where.stack, where.blocked
    return error


def goodbye_reason(frame: Goodbye) -> str | None:
    """Why the other end hung up, when its GOODBYE says (it broke no rule of ours: it left)."""
    return f"the other end hung up: {frame.reason}" if frame.reason else None
