"""Call chains: the call a process is serving, seen by the calls it makes meanwhile.

How it works: when a CALL carries a deadline (``left``) or the caller's id of it
(``call_id``), the connection that takes it sets :data:`SERVING` to that frame and its
arrival time (:data:`Served`) around the handler, so the method sees it: a plain method as it
runs inline, a coroutine method in its task (a task starts with a copy of the context it was
made in), and a thread that the method starts with a copy of its context
(``anyio.to_thread``). A call made then, by a proxy
or by ``hubcore.sync``'s blocking client, reads it (:func:`chained`): it waits no longer than
what is left of the served call, says so in its CALL, and its record names the served call as
its parent. A CALL that carries neither field sets nothing, and the call it starts is part
of no chain: a call made outside any chain costs one context lookup.

The deadline is sent as the seconds left, not as a clock reading: the two ends share no clock
but the machine's monotonic one, and only the callee's reading of it matters.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from typing import NamedTuple, TypeAlias

from hubcore._errors import CallTimeout
from hubcore.protocol import Call
from hubcore.rpc._outcome import cancelled_note

__all__ = (
    "MARGIN",
    "SERVING",
    "Chained",
    "Served",
    "chain_timeout",
    "chained",
    "deadline",
    "parent_id",
)

#: The call being served: its CALL frame, and ``time.monotonic()`` when it arrived. A plain
#: tuple: the callee makes one per call, and a class of its own costs several times more.
Served: TypeAlias = tuple[Call, float]

#: The call this task (or thread) is serving, if any.
SERVING: ContextVar[Served | None] = ContextVar("hubcore_serving", default=None)


def deadline(served: Served) -> float | None:
    """``time.monotonic()`` at which the caller of the served call stops waiting (None: never)."""
    frame, arrived = served
    return None if frame.left is None else arrived + frame.left


def parent_id(served: Served | None) -> str:
    """The id of the served call in its caller's record ("" if none), for a record's parent."""
    return "" if served is None else served[0].call_id


#: A call of a chain gives up a little before the call it is made for: a tenth of what is
#: left, at most this many seconds, so that its error (which names it) reaches the first
#: caller before that caller's own timeout.
MARGIN = 0.1


class Chained(NamedTuple):
    """How a call made while serving another one is bounded (:func:`chained`)."""

    timeout: float | None  #: the call's own timeout, or less if the chain's deadline is nearer
    budget: float | None  #: the chain's whole timeout if that deadline bounds the call
    parent: Call | None  #: the call served, if its deadline bounds this call
    left: float | None = None  #: what was left of the served call when this one was made


def chained(served: Served, timeout: float | None) -> Chained:
    """The timeout of a call made while serving ``served``: its own ``timeout`` or what is
    left of the served call (less :data:`MARGIN`), whichever ends first."""
    frame, arrived = served
    if frame.left is None:
        return Chained(timeout, None, None)
    left = max(0.0, arrived + frame.left - time.monotonic())
    bound = left - min(MARGIN, left / 10)
    if timeout is not None and timeout <= bound:
        return Chained(timeout, None, None)
    budget = frame.left if frame.budget is None else frame.budget
    return Chained(bound, budget, frame, left)


def chain_timeout(chain: Chained, name: str, method: str, blocked: bool = False) -> CallTimeout:
    """The ``CallTimeout`` of a call that the deadline of the chain it was made in ended:
    ``web.snapshot → page_snapshot.take did not answer within 2.9 s left of 3 s``.

    :param blocked: the method still runs (see :func:`~hubcore.rpc._outcome.cancelled_note`).
    """
    parent = chain.parent
    assert parent is not None
    whole = f" of {_seconds(chain.budget)}" if chain.budget is not None else ""
    return CallTimeout(
        f"{parent.target}.{parent.method} → {name}.{method} did not answer within "
        f"{_seconds(chain.left, down=True)} left{whole}{cancelled_note(blocked)}"
    )


def _seconds(value: float | None, *, down: bool = False) -> str:
    """``2.9 s``: tenths from a second on, two significant digits below.

    :param down: round down (what is left is no more than it says).
    """
    if value is None:
        return "no limit"
    if value < 1:
        return f"{value:.2g} s"
    return f"{(math.floor(value * 10) / 10 if down else round(value, 1)):g} s"
