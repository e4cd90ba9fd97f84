"""The served call a method sees (``hubcore.rpc._chain``): set from the CALL's fields by the
connection, for plain methods and coroutine tasks alike, and never left behind; the maths of
a nested call's timeout and the error that names its hop. Connections back to back in
memory, on asyncio, uvloop and trio."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from hubcore.protocol import Call
from hubcore.rpc._chain import MARGIN, SERVING, chain_timeout, chained, deadline, parent_id
from tests.unit.memory_peers import Pair, connection_pair

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0


class Seer:
    """Says what it sees of the call it serves: its name, what is left, its caller's id."""

    def plain(self) -> Any:
        return _seen()

    async def coroutine(self) -> Any:
        await anyio.lowlevel.checkpoint()
        return _seen()


def _seen() -> Any:
    served = SERVING.get()
    if served is None:
        return None
    frame, _ = served
    ends = deadline(served)
    left = None if ends is None else ends - time.monotonic()
    return [f"{frame.target}.{frame.method}", left, parent_id(served)]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with connection_pair() as pair:
        pair.publish("seer", Seer())
        yield pair


@pytest.mark.parametrize("method", ["plain", "coroutine"])
async def test_chain_method_sees_the_call_it_serves(pair: Pair, method: str) -> None:
    what, left, parent = await pair.caller.calls.call(
        "seer", method, (), {}, 3.0, None, "pytest.0/1:7"
    )
    assert what == f"seer.{method}"
    assert 2.0 < left <= 3.0
    assert parent == "pytest.0/1:7"


@pytest.mark.parametrize("method", ["plain", "coroutine"])
async def test_chain_call_without_deadline_or_id_serves_no_chain(pair: Pair, method: str) -> None:
    assert await pair.caller.calls.call("seer", method, (), {}, None) is None


async def test_chain_served_call_is_not_left_behind(pair: Pair) -> None:
    await pair.caller.calls.call("seer", "plain", (), {}, 3.0)
    assert await pair.caller.calls.call("seer", "plain", (), {}, None) is None
    assert SERVING.get() is None


async def test_chain_connection_made_while_serving_does_not_carry_that_call() -> None:
    """A connection made while a call was served (its reader's context is a copy of that
    moment's) serves later calls without a deadline as no part of it."""
    stale = Call(1, "web", "snapshot", [], {}, 0, 0.01)
    token = SERVING.set((stale, time.monotonic() - 60))
    try:
        async with connection_pair() as pair:
            pair.publish("seer", Seer())
            SERVING.reset(token)
            with anyio.fail_after(WAIT):
                assert await pair.caller.calls.call("seer", "plain", (), {}, None) is None
    finally:
        if SERVING.get() is not None:
            SERVING.reset(token)


def _served(left: float | None, budget: float | None = None, ago: float = 0.0) -> Any:
    frame = Call(1, "web", "snapshot", [], {}, 0, left, budget)
    return frame, time.monotonic() - ago


def test_chained_call_keeps_its_own_timeout_when_it_is_shorter() -> None:
    assert chained(_served(3.0), 1.0) == (1.0, None, None, None)
    assert chained(_served(None), 7.0) == (7.0, None, None, None)


def test_chained_call_waits_what_is_left_less_the_margin() -> None:
    timeout, budget, parent, left = chained(_served(3.0, ago=0.5), 10.0)
    assert 2.4 < left <= 2.5
    assert timeout == pytest.approx(left - MARGIN)
    assert budget == 3.0
    assert parent is not None
    assert parent.target == "web"
    small = chained(_served(0.5), None)  # a tenth of what is left, below a second
    assert small.timeout == pytest.approx(small.left * 0.9)
    assert chained(_served(1.0, ago=5.0), 2.0).timeout == 0.0  # already over


def test_chained_call_names_the_budget_of_the_chain() -> None:
    assert chained(_served(2.0, budget=3.0), 10.0).budget == 3.0


def test_chain_timeout_names_the_hop_what_was_left_and_the_whole() -> None:
    chain = chained(_served(3.0, ago=0.05), None)
    message = str(chain_timeout(chain, "page_snapshot", "take"))
    assert message.startswith(
        "web.snapshot → page_snapshot.take did not answer within 2.9 s left of 3 s"
    )
    short = chained(_served(0.25, ago=0.0), None)
    assert " within 0.25 s left of 0.25 s" in str(chain_timeout(short, "kv", "get"))
