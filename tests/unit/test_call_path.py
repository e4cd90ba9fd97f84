"""What a call costs in structure, not in time (speed is never asserted by a timed test): the
tasks it starts on each end, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from tests.unit.memory_peers import Pair, connection_pair, on_asyncio

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

CALLS = 200


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with connection_pair() as pair:
        pair.publish("svc", Service())
        yield pair


class Service:
    def plain(self, x: int) -> int:
        return x

    async def coroutine(self, x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return x


@contextmanager
def counting_tasks() -> Iterator[list[str]]:
    """The names of the tasks started in this process meanwhile (either end of the pair)."""
    started: list[str] = []
    if on_asyncio():
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            started.append(getattr(coro, "__qualname__", repr(coro)))
            if previous is not None:
                return previous(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(factory)
        try:
            yield started
        finally:
            loop.set_task_factory(previous)
        return
    import trio

    class Spawned(trio.abc.Instrument):
        def task_spawned(self, task: trio.lowlevel.Task) -> None:
            started.append(task.name)

    instrument = Spawned()
    trio.lowlevel.add_instrument(instrument)
    try:
        yield started
    finally:
        trio.lowlevel.remove_instrument(instrument)


async def test_call_path_plain_method_calls_start_no_task_on_either_end(pair: Pair) -> None:
    """Sequential and concurrent calls to a plain method: the caller parks on its reply and
    the callee runs the method inline, so neither end starts a task per call."""
    with counting_tasks() as started:
        for x in range(CALLS):
            assert await pair.caller.call("svc", "plain", (x,), timeout=5) == x
    assert started == []


async def test_call_path_concurrent_calls_start_only_the_callers_tasks(pair: Pair) -> None:
    results: list[int] = []

    async def caller(x: int) -> None:
        results.append(await pair.caller.call("svc", "plain", (x,), timeout=5))

    with counting_tasks() as started:
        async with anyio.create_task_group() as tg:
            for x in range(CALLS):
                tg.start_soon(caller, x)
    assert sorted(results) == list(range(CALLS))
    assert len(started) == CALLS  # the test's own callers, and nothing else


async def test_call_path_coroutine_method_gets_one_task_per_call(pair: Pair) -> None:
    """A coroutine method needs a task of its own (CANCEL cancels it): exactly one."""
    with counting_tasks() as started:
        for x in range(CALLS):
            assert await pair.caller.call("svc", "coroutine", (x,), timeout=5) == x
    assert len(started) == CALLS
