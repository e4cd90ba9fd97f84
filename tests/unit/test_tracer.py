"""A tracer knows each call from the moment it is made until it ends: while it waits it is in
``in_flight()`` (with the callee it went to), once it ended it is a record, never both and
never neither. Proxies over in-memory connections (tests/unit/memory_peers.py) make the calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import hubcore
from hubcore import ProcessCrashed
from hubcore.client._proxy import Proxy
from tests.unit.memory_peers import MemoryClient

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0


@pytest.fixture
async def client() -> AsyncIterator[MemoryClient]:
    async with anyio.create_task_group() as tg:
        client = MemoryClient(tg)
        client.tracer = hubcore.Tracer("web", 1)
        yield client
        tg.cancel_scope.cancel()


class Browser:
    """Takes snapshots; ``hang`` waits until the test lets it go (``started`` is set once
    ``expected`` calls of it wait)."""

    def __init__(self, expected: int = 1) -> None:
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.expected = expected

    def take(self, url: str, width: int = 800) -> str:
        return f"jpeg of {url} at {width}"

    async def hang(self, url: str) -> str:
        self.expected -= 1
        if self.expected == 0:
            self.started.set()
        await self.release.wait()
        return f"late {url}"


def _proxy(client: MemoryClient) -> Proxy:
    return Proxy(client, "browser", timeout=WAIT, methods=("take", "hang"))


async def _fail(outcome: list[BaseException], call: Any) -> None:
    try:
        await call
    except Exception as exc:
        outcome.append(exc)


async def test_tracer_shows_a_waiting_call_in_flight_then_as_a_record(
    client: MemoryClient,
) -> None:
    browser = Browser()
    client.publish("browser", browser, generation=1)
    tracer = client.tracer
    assert tracer is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_proxy(client).hang, "http://a")
        with anyio.fail_after(WAIT):
            await browser.started.wait()
        [pending] = tracer.in_flight()
        assert tracer.records == type(tracer.records)()  # not a record yet
        browser.release.set()
    assert (pending.caller, pending.caller_instance) == ("web", 1)
    assert (pending.callee, pending.callee_instance) == ("worker-1", 0)
    assert (pending.object, pending.method, pending.args) == ("browser", "hang", ("http://a",))
    assert (pending.outcome, pending.detail) == (hubcore.CallRecord.IN_FLIGHT, "")
    assert hubcore.CallRecord.IN_FLIGHT == "in flight"
    assert pending.duration >= 0
    assert pending.call_id.startswith("web.1/")
    assert tracer.in_flight() == []
    [done] = tracer.drain()
    assert (done.call_id, done.outcome, done.detail) == (
        pending.call_id,
        "result",
        "'late http://a'",
    )
    assert done.started == pytest.approx(pending.started, abs=0.01)


async def test_tracer_records_a_call_whose_callee_died_as_a_crash_and_forgets_it_in_flight(
    client: MemoryClient,
) -> None:
    browser = Browser()
    gen1 = client.publish("browser", browser, generation=1)
    tracer = client.tracer
    assert tracer is not None
    outcome: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_fail, outcome, _proxy(client).hang("http://b"))
        with anyio.fail_after(WAIT):
            await browser.started.wait()
        [pending] = tracer.in_flight()
        gen1.crash()
    assert type(outcome[0]) is ProcessCrashed
    assert tracer.in_flight() == []
    [done] = tracer.drain()
    assert (done.call_id, done.outcome, done.callee) == (pending.call_id, "crash", "worker-1")


async def test_tracer_in_flight_lists_every_waiting_call_oldest_first(
    client: MemoryClient,
) -> None:
    browser = Browser(expected=3)
    client.publish("browser", browser, generation=1)
    tracer = client.tracer
    assert tracer is not None
    async with anyio.create_task_group() as tg:
        for url in ("http://1", "http://2", "http://3"):
            tg.start_soon(_proxy(client).hang, url)
        with anyio.fail_after(WAIT):
            await browser.started.wait()
        pending = tracer.in_flight()
        assert {r.args for r in pending} == {("http://1",), ("http://2",), ("http://3",)}
        assert [r.started for r in pending] == sorted(r.started for r in pending)
        browser.release.set()
    assert tracer.in_flight() == []
    assert len(tracer.drain()) == 3


def test_tracer_begin_then_record_by_hand_names_the_callee_picked_last() -> None:
    """The callee list belongs to the caller, which appends each instance it tries."""
    tracer = hubcore.Tracer("pytest", 0)
    callee = [("", 0)]
    call_id = tracer.begin("counter", "increment", ((2,), None), callee, parent="web.0/9:4")
    assert tracer.in_flight()[0].callee == ""
    callee.append(("background", 0))
    [pending] = tracer.in_flight()
    assert (pending.callee, pending.kwargs, pending.parent) == ("background", {}, "web.0/9:4")
    tracer.record(callee[-1], "counter", "increment", ((2,), {}), "result", 3, 0.0, call_id=call_id)
    assert tracer.in_flight() == []
    assert tracer.drain()[0].call_id == call_id
