"""Event subscriptions that follow a name across restarts.

How it works: subscribing asks every current instance of the name to send us its events
(``$subscribe`` on the shared peer connection). When the hub announces a new publication of a
subscribed name, the client subscribes to it too, and tells the subscribers with a
``$restarted`` event if it replaces an instance they already heard from. The publisher sends
each event once per connection; the client fans it out to its local subscriptions.

When the hub restarts, every publisher publishes its objects again: new generations, same
``origin``. That is the same object, whose events kept coming over the peer connection, so it
is subscribed to again (where it listens now) but is not a ``$restarted``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from hubcore._directory import ObjectInfo
from hubcore._errors import HubError, reason
from hubcore.protocol import RESTARTED, SUBSCRIBE, UNSUBSCRIBE, Event

if TYPE_CHECKING:
    from hubcore._directory import Directory
    from hubcore.rpc import Connection

__all__ = ("ObjectEvent", "Subscription", "SubscriptionOwner", "Subscriptions")

log = logging.getLogger("hubcore.events")

BUFFER = 1000


@dataclass(frozen=True)
class ObjectEvent:
    """An event a published object emitted: its name, data, and which instance/generation."""

    source: str
    name: str
    data: Any
    generation: int
    instance: int


class SubscriptionOwner(Protocol):
    """What subscriptions need from the client that owns them."""

    @property
    def directory(self) -> Directory: ...

    async def connection(self, info: ObjectInfo) -> Connection: ...

    def existing_connection(self, info: ObjectInfo) -> Connection | None: ...

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None: ...


class Subscription:
    """One subscription: calls a callback, or is iterated (``async for event in sub``)."""

    def __init__(
        self,
        owner: Subscriptions,
        name: str,
        event: str,
        callback: Callable[[ObjectEvent], Any] | None,
    ) -> None:
        self._owner = owner
        self.name = name
        self.event = event
        self.callback = callback
        self.closed = False
        self._send, self._receive = anyio.create_memory_object_stream[ObjectEvent](BUFFER)

    def deliver(self, event: ObjectEvent) -> None:
        """Hand over one event (an iterator that fell ``BUFFER`` events behind loses it)."""
        if self.closed:
            return
        if self.callback is None:
            try:
                self._send.send_nowait(event)
            except anyio.WouldBlock:
                log.warning(
                    "subscriber of %s.%s is %d events behind: dropped one",
                    self.name,
                    self.event,
                    BUFFER,
                )
            return
        result = self.callback(event)
        if inspect.isawaitable(result):
            self._owner.client.start_soon(_await, result)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ObjectEvent:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Unsubscribe; an iteration in progress ends."""
        if not self.closed:
            self.closed = True
            self._send.close()
            await self._owner.remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _heard(info: ObjectInfo) -> tuple[int, str]:
    """What a subscriber remembers of a publication: its origin, and where it listens."""
    return info.origin or info.generation, info.address


async def _await(result: Any) -> None:
    try:
        await result
    except Exception:
        log.exception("an event callback raised")


class Subscriptions:
    """All subscriptions of one client."""

    def __init__(self, client: SubscriptionOwner) -> None:
        self.client = client
        self._by_name: dict[str, list[Subscription]] = {}
        # (name, instance) -> the publication heard from: its origin and address
        self._seen: dict[tuple[str, int], tuple[int, str]] = {}

    async def subscribe(
        self, name: str, event: str, callback: Callable[[ObjectEvent], Any] | None
    ) -> Subscription:
        """Register a subscription and attach it to every current instance of ``name``."""
        if not event:
            raise HubError("subscribe to a named event, or to '*' for every event")
        sub = Subscription(self, name, event, callback)
        self._by_name.setdefault(name, []).append(sub)
        for info in self.client.directory.instances(name):
            await self._attach(info, event)
        return sub

    async def _attach(self, info: ObjectInfo, event: str) -> None:
        conn = await self.client.connection(info)
        await conn.call(info.name, SUBSCRIBE, (event,), timeout=10.0)
        self._seen.setdefault((info.name, info.instance), _heard(info))

    async def _reattach(self, info: ObjectInfo) -> None:
        events = {sub.event for sub in self._by_name.get(info.name, [])}
        try:
            for event in events:
                await self._attach(info, event)
        except Exception as exc:  # the new instance may already be gone again
            log.warning("could not resubscribe to %s: %s", info.label, reason(exc))
            return
        previous = self._seen.get((info.name, info.instance))
        self._seen[(info.name, info.instance)] = _heard(info)
        if previous is None:
            return
        origin, address = previous
        if origin != _heard(info)[0]:
            self._fan_out(ObjectEvent(info.name, RESTARTED, None, info.generation, info.instance))
        elif address != info.address:  # the same object, listening elsewhere since the restart
            await self._detach(replace(info, address=address), events)

    async def _detach(self, old: ObjectInfo, events: set[str]) -> None:
        """Unsubscribe on the connection to where ``old`` listened (its events would come
        twice), if it is still open."""
        conn = self.client.existing_connection(old)
        if conn is None:
            return
        with anyio.move_on_after(2.0):
            for event in events:
                try:
                    await conn.call(old.name, UNSUBSCRIBE, (event,), timeout=2.0)
                except Exception as exc:
                    log.debug("could not unsubscribe from %s: %s", old.label, reason(exc))
                    return

    def published(self, info: ObjectInfo) -> None:
        """The hub announced a publication: subscribe to it if anyone listens to that name."""
        if self._by_name.get(info.name):
            self.client.start_soon(self._reattach, info)

    def on_event(self, frame: Event) -> None:
        """An EVENT frame from a peer."""
        self._fan_out(
            ObjectEvent(frame.source, frame.name, frame.data, frame.generation, frame.instance)
        )

    def _fan_out(self, event: ObjectEvent) -> None:
        for sub in list(self._by_name.get(event.source, [])):
            if sub.event in (event.name, "*") or event.name == RESTARTED:
                sub.deliver(event)

    async def remove(self, sub: Subscription) -> None:
        """Forget ``sub``; tell publishers when nobody here listens to that event any more."""
        subs = self._by_name.get(sub.name, [])
        if sub in subs:
            subs.remove(sub)
        if any(other.event == sub.event for other in subs):
            return
        for info in self.client.directory.instances(sub.name):
            conn = self.client.existing_connection(info)
            if conn is not None:
                with anyio.move_on_after(2.0):
                    await conn.call(info.name, UNSUBSCRIBE, (sub.event,), timeout=2.0)
