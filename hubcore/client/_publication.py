"""What a client publishes: the handle it returns, and what it tells the hub of an object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubcore._directory import ObjectInfo
from hubcore._errors import HubError
from hubcore.client._proxy import unreachable
from hubcore.rpc._dispatch import Published

if TYPE_CHECKING:
    from hubcore.client._client import Client

__all__ = ("Publication", "check_reachable", "publish_data")


class Publication:
    """An object this process publishes. Emit events through it, or withdraw it."""

    def __init__(self, client: Client, published: Published, info: ObjectInfo) -> None:
        self._client = client
        self._published = published
        self.info = info
        published.instance, published.generation = info.instance, info.generation

    def _renewed(self, info: ObjectInfo) -> None:
        """Published again (on a restarted hub): events now carry the new generation."""
        self.info = info
        self._published.instance, self._published.generation = info.instance, info.generation

    @property
    def name(self) -> str:
        """The published name."""
        return self.info.name

    @property
    def generation(self) -> int:
        """Grows with every publication on the hub: a restart shows as a new generation."""
        return self.info.generation

    def emit(self, event: str, data: Any = None) -> int:
        """Send ``event`` with ``data`` to every subscriber.

        :raises TypeError: ``data`` cannot be encoded.
        :return: how many subscribed connections it went to.
        """
        return self._published.emit(event, data)

    async def unpublish(self) -> None:
        """Withdraw the name from the hub and stop serving it."""
        await self._client.unpublish(self.name)


def publish_data(published: Published, address: str) -> dict[str, Any]:
    """What the hub's ``publish`` takes for an object served at ``address``."""
    shape = published.shape
    return {
        "name": published.name,
        "address": address,
        "methods": list(shape.methods),
        "streams": sorted(shape.streams),
        "properties": list(shape.properties),
    }


def check_reachable(name: str, methods: tuple[str, ...]) -> None:
    """Refuse a method that a proxy could not reach as ``proxy.<method>(...)``."""
    for method in methods:
        reason = unreachable(method)
        if reason is not None:
            raise HubError(
                f"cannot publish {name!r}: its method {method!r} could not be called as "
                f"proxy.{method}(...) because {reason}; rename it, start its name with _ to "
                f"keep it local, or leave it out with publish(..., hidden=[{method!r}])"
            )
