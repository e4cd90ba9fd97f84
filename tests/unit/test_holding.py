"""A connection serves at most ``serving.limit`` calls at once in tasks; the CALLs behind them
are held, unread bytes behind those stay in the stream, and a held call counts as not taken."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from hubcore._errors import CallNotTaken, ConnectionLost
from hubcore.protocol import (
    CANCELLED,
    Call,
    Cancel,
    Error,
    FrameDecoder,
    Incoming,
    Result,
    encode_frame,
)
from hubcore.rpc import Connection, Dispatcher
from hubcore.transport.memory import memory_stream_pair
from tests.unit.memory_peers import Pair, connection_pair, on_asyncio

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0
LIMIT = 2


class Waiter:
    """Coroutine calls that wait until released; counts what ran."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = anyio.Event()
        self._changed = anyio.Event()

    async def hold(self, n: int) -> int:
        self.started.append(n)
        self._changed.set()
        self._changed = anyio.Event()
        await self.release.wait()
        return n

    def plain(self, n: int) -> int:
        return n

    async def until_started(self, count: int) -> None:
        with anyio.fail_after(WAIT):
            while len(self.started) < count:
                await self._changed.wait()
        await anyio.wait_all_tasks_blocked()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with connection_pair() as pair:
        pair.callee.serving.limit = LIMIT
        yield pair


async def _call(pair: Pair, n: int, into: dict[int, Any]) -> None:
    try:
        into[n] = await pair.caller.call("svc", "hold", (n,), timeout=WAIT)
    except ConnectionLost as exc:
        into[n] = exc


async def test_holding_runs_at_most_the_limit_and_the_rest_in_order(pair: Pair) -> None:
    svc = Waiter()
    pair.publish("svc", svc)
    results: dict[int, Any] = {}
    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(_call, pair, n, results)
            await anyio.wait_all_tasks_blocked()  # so the CALLs leave in order
        await svc.until_started(LIMIT)
        assert svc.started == [0, 1]  # the others are held, not run
        svc.release.set()
    assert sorted(svc.started) == [0, 1, 2, 3, 4]
    assert results == {n: n for n in range(5)}


async def test_holding_plain_calls_are_not_held_back_by_running_ones(pair: Pair) -> None:
    """Plain methods run inline: with the limit reached by coroutine calls, a plain call
    behind them still waits its turn (frames keep their order), then runs at once."""
    svc = Waiter()
    pair.publish("svc", svc)
    results: dict[int, Any] = {}
    async with anyio.create_task_group() as tg:
        for n in range(LIMIT):
            tg.start_soon(_call, pair, n, results)
        await svc.until_started(LIMIT)
        with anyio.move_on_after(0.2):
            await pair.caller.call("svc", "plain", (7,), timeout=WAIT)
            pytest.fail("a call behind the held ones ran before them")
        svc.release.set()
    assert await pair.caller.call("svc", "plain", (8,), timeout=WAIT) == 8


async def test_holding_a_held_call_cancelled_before_it_started_never_runs() -> None:
    """The CANCEL of a held call, read with it: the call is forgotten, and never runs; the
    CANCEL's answer (``$cancelled``) has no stack, since nothing of the call ran."""
    ours, theirs = memory_stream_pair(write_nowait=on_asyncio())
    svc, dispatcher = Waiter(), Dispatcher()
    dispatcher.add("svc", svc)
    conn = Connection(theirs, handler=dispatcher, label="raw peer")
    conn.serving.limit = LIMIT
    decoder = FrameDecoder()
    async with anyio.create_task_group() as tg:
        await tg.start(conn.run)
        await ours.send(
            b"".join(encode_frame(Call(n, "svc", "hold", [n], {})) for n in (1, 2, 3, 4))
            + encode_frame(Cancel(3))
        )
        await svc.until_started(LIMIT)
        svc.release.set()
        replies: list[Incoming] = []
        with anyio.fail_after(WAIT):
            while len(replies) < 4:
                replies += decoder.feed(await ours.receive())
        tg.cancel_scope.cancel()
    assert sorted(svc.started) == [1, 2, 4]  # 3 never ran (trio may start 1 and 2 either way)
    assert sorted(r.id for r in replies if isinstance(r, Result)) == [1, 2, 4]
    (answer,) = [r for r in replies if isinstance(r, Error)]
    assert (answer.id, answer.type_name, answer.stack) == (3, CANCELLED, ())


async def test_holding_a_callee_that_leaves_did_not_take_its_held_calls(pair: Pair) -> None:
    """Its GOODBYE names the last call it took: the running ones may have run
    (ConnectionLost), the held ones never did (CallNotTaken: a proxy sends them again)."""
    svc = Waiter()
    pair.publish("svc", svc)
    results: dict[int, Any] = {}
    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(_call, pair, n, results)
            await anyio.wait_all_tasks_blocked()
        await svc.until_started(LIMIT)
        await pair.callee.aclose()
    assert svc.started == [0, 1]
    assert [type(results[n]) for n in range(4)] == [
        ConnectionLost,
        ConnectionLost,
        CallNotTaken,
        CallNotTaken,
    ]
