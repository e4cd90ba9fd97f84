"""Event subscriptions of one client: one EVENT per connection fanned out to every local
subscriber, ``$restarted`` when a new generation replaces an instance, unsubscribing.

The publishers are pretend processes over in-memory connections (tests/unit/memory_peers.py).
"""

from __future__ import annotations

import anyio
import pytest

from hubcore.client._subscriptions import ObjectEvent
from hubcore.protocol import RESTARTED
from tests.unit.memory_peers import MemoryClient, Publisher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0


class Clock:
    """A published object whose events the tests emit through its publication."""

    def now(self) -> int:
        return 0


class Inbox:
    """A subscription callback that the test can wait on."""

    def __init__(self) -> None:
        self.events: list[ObjectEvent] = []
        self._changed = anyio.Event()

    def __call__(self, event: ObjectEvent) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, count: int) -> list[ObjectEvent]:
        with anyio.fail_after(WAIT):
            while len(self.events) < count:
                await self._changed.wait()
        return self.events


async def _flush(client: MemoryClient, publisher: Publisher) -> None:
    """Every frame sent on the connection before now has arrived: frames keep their order,
    so a call's reply comes after them."""
    conn = await client.connection(publisher.info)
    assert await conn.call(publisher.info.name, "now", timeout=WAIT) == 0


async def test_subscriptions_one_event_per_connection_reaches_every_subscriber(
    client: MemoryClient,
) -> None:
    clock = client.publish("clock", Clock(), generation=1)
    first, second, every = Inbox(), Inbox(), Inbox()
    await client.subscribe("clock", "tick", first)
    await client.subscribe("clock", "tick", second)
    await client.subscribe("clock", "*", every)
    assert clock.published.emit("tick", 1) == 1  # one connection, whoever listens on it
    assert clock.published.emit("tock", 2) == 1  # "*" listens to it
    await _flush(client, clock)
    tick = ObjectEvent("clock", "tick", 1, 1, 0)
    assert first.events == [tick]
    assert second.events == [tick]
    assert every.events == [tick, ObjectEvent("clock", "tock", 2, 1, 0)]


async def test_subscriptions_events_of_another_name_are_not_delivered(
    client: MemoryClient,
) -> None:
    clock = client.publish("clock", Clock(), generation=1)
    other = client.publish("other", Clock(), generation=2)
    inbox = Inbox()
    await client.subscribe("clock", "*", inbox)
    assert other.published.emit("tick") == 0  # nobody subscribed to "other"
    clock.published.emit("tick")
    assert [e.source for e in await inbox.until(1)] == ["clock"]


async def test_subscriptions_iterated_subscription_gets_the_events(client: MemoryClient) -> None:
    clock = client.publish("clock", Clock(), generation=1)
    async with await client.subscribe("clock", "tick", None) as sub:
        clock.published.emit("tick", "a")
        clock.published.emit("tick", "b")
        with anyio.fail_after(WAIT):
            assert [(await sub.__anext__()).data for _ in range(2)] == ["a", "b"]


async def test_subscriptions_new_generation_is_subscribed_and_announced(
    client: MemoryClient,
) -> None:
    """A restart: generation 2 replaces instance 0. The client subscribes to it on its own and
    tells its subscribers with ``$restarted``; its events then arrive as before."""
    gen1 = client.publish("clock", Clock(), generation=1)
    inbox = Inbox()
    await client.subscribe("clock", "tick", inbox)
    gen1.crash()
    gen2 = client.publish("clock", Clock(), generation=2)
    await client.settled()
    assert inbox.events == [ObjectEvent("clock", RESTARTED, None, 2, 0)]
    assert gen2.published.emit("tick", "after") == 1
    await inbox.until(2)
    assert inbox.events[1] == ObjectEvent("clock", "tick", "after", 2, 0)


async def test_subscriptions_first_publication_is_not_a_restart(client: MemoryClient) -> None:
    """Subscribing before anything publishes the name: the first instance is attached to,
    without ``$restarted``."""
    inbox = Inbox()
    await client.subscribe("clock", "tick", inbox)
    clock = client.publish("clock", Clock(), generation=1)
    await client.settled()  # the client subscribed to it
    assert clock.published.emit("tick", 1) == 1
    assert await inbox.until(1) == [ObjectEvent("clock", "tick", 1, 1, 0)]


async def test_subscriptions_last_unsubscribe_tells_the_publisher(client: MemoryClient) -> None:
    clock = client.publish("clock", Clock(), generation=1)
    first, second = Inbox(), Inbox()
    sub1 = await client.subscribe("clock", "tick", first)
    sub2 = await client.subscribe("clock", "tick", second)
    await sub1.aclose()
    assert clock.published.emit("tick", 1) == 1  # the other subscriber still listens
    await _flush(client, clock)
    assert (len(first.events), len(second.events)) == (0, 1)
    await sub2.aclose()
    assert clock.published.emit("tick", 2) == 0  # nobody here listens: the publisher knows
