"""Async-generator methods stream with back-pressure; events follow a name across restarts."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

import hubcore
from hubcore.rpc._connection import STREAM_WINDOW
from tests.integration.helpers import eventually, start_publisher, wait_for_new

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_stream_yields_every_item_in_order(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    assert [i async for i in proxy.numbers(500)] == list(range(500))


async def test_slow_consumer_holds_the_producer_back(spawn, hub_env, client):
    await start_publisher(spawn, hub_env, client, "info")
    proxy = await client.get_proxy("info")
    counter = await client.get_proxy("info")
    stream = proxy.numbers(10_000)
    consumed = 0
    async for _ in stream:
        consumed += 1
        if consumed == 50:
            break
    produced = (await counter.counts())["produced"]
    assert produced <= consumed + STREAM_WINDOW + 1, f"producer ran {produced - consumed} ahead"
    await stream.aclose()


async def test_stream_closed_early_cancels_the_producer(hub, client):
    state = {"closed": False}

    class Endless:
        async def forever(self):
            try:
                i = 0
                while True:
                    yield i
                    i += 1
            finally:
                state["closed"] = True

    await client.publish("endless", Endless())
    proxy = await client.get_proxy("endless")
    async with proxy.forever() as stream:
        async for item in stream:
            if item == 3:
                break

    async def producer_closed() -> bool:
        return state["closed"]

    await eventually(producer_closed)


async def test_event_subscription_with_callback_and_iterator(client):
    publication = await client.publish("emitter", object())
    proxy = await client.get_proxy("emitter")
    seen: list[hubcore.ObjectEvent] = []
    sub = await hubcore.subscribe(proxy, "ping", seen.append)
    async with await hubcore.events(proxy, "ping") as events:
        assert publication.emit("ping", {"n": 1}) == 1
        event = await anext(events)
    assert (event.name, event.data, event.generation) == ("ping", {"n": 1}, publication.generation)
    assert [e.data for e in seen] == [{"n": 1}]
    await sub.aclose()
    assert publication.emit("ping", 2) == 0  # nobody listens any more


async def test_subscription_survives_publisher_restart(spawn, hub_env, client):
    first = await start_publisher(spawn, hub_env, client, "ticker")
    proxy = await client.get_proxy("ticker", timeout=15)
    async with await hubcore.events(proxy, "*") as events:
        with anyio.fail_after(10):
            before = await anext(events)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        old = {before.generation}
        second = await start_publisher(spawn, hub_env, client, "ticker")
        info = await wait_for_new(client, "ticker", old, second.pid)
        names = []
        with anyio.fail_after(10):
            async for event in events:
                names.append(event.name)
                if event.name == "tick" and event.generation == info.generation:
                    break
    assert before.name == "tick"
    assert "$restarted" in names


async def test_round_robin_pin_and_broadcast_over_instances(spawn, hub_env, client):
    a = await start_publisher(spawn, hub_env, client, "multi", process="w", instance=0)
    b = await start_publisher(spawn, hub_env, client, "multi", process="w", instance=1)
    proxy = await client.get_proxy("multi")
    pids = [await proxy.get_pid() for _ in range(4)]
    assert set(pids[:2]) == {a.pid, b.pid}
    assert pids[2:] == pids[:2]
    pinned = await client.get_proxy("multi", instance=1)
    assert {await pinned.get_pid() for _ in range(3)} == {b.pid}
    assert await hubcore.broadcast(proxy, "get_pid") == {0: a.pid, 1: b.pid}
    results = await hubcore.broadcast(proxy, "fail", "k")
    assert all(isinstance(r, KeyError) for r in results.values())
    assert set(results) == {0, 1}


async def test_second_publisher_of_same_instance_gets_a_free_number(hub, client):
    await client.publish("twice", object())
    async with hubcore.connect(hub.address, token=hub.token) as other:
        publication = await other.publish("twice", object())
    assert publication.info.instance == 1
