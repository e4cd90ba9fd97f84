"""Services: the classes a procfile runs. Subclassing :class:`Service` is optional.

A service class is constructed with a :class:`ServiceContext` and may define ``async start()``
and ``async stop()``. The worker starts services in dependency order and stops them in reverse.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubcore._errors import BootFailed, reason
from hubcore.client._client import Client, Publication
from hubcore.client._proxy import Proxy

__all__ = ("Service", "ServiceContext", "call_hook", "load_class")


@dataclass
class ServiceContext:
    """What a service knows of its surroundings."""

    name: str
    config: Mapping[str, Any]
    process: str
    instance: int
    client: Client
    logger: logging.Logger
    publication: Publication | None = field(default=None, repr=False)

    async def get_proxy(
        self, name: str, *, timeout: float = 10.0, instance: int | None = None
    ) -> Proxy:
        """A proxy for another published service (see :meth:`hubcore.Client.get_proxy`)."""
        return await self.client.get_proxy(name, timeout=timeout, instance=instance)

    def emit(self, event: str, data: Any = None) -> int:
        """Send an event to the subscribers of this service (it must be published).

        :raises RuntimeError: the service is not published (yet).
        """
        if self.publication is None:
            raise RuntimeError(f"service {self.name!r} is not published: it cannot emit events")
        return self.publication.emit(event, data)


class Service:
    """Optional base class: keeps the context as ``self.ctx``; start/stop do nothing."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        """Acquire resources; the service is published once this returns."""

    async def stop(self) -> None:
        """Release what start() acquired."""


def load_class(import_path: str, service: str) -> type[Any]:
    """Import ``"module.path:Attr"``.

    :raises BootFailed: the module or attribute is missing (the error says which).
    """
    module_name, _, attr = import_path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise BootFailed(
            f"service {service!r}: cannot load {import_path}: {reason(exc)}", service=service
        ) from exc


async def call_hook(obj: Any, hook: str) -> None:
    """Await ``obj.start()``/``obj.stop()`` if the class defines it (sync ones are called)."""
    fn = getattr(obj, hook, None)
    if fn is None:
        return
    result = fn()
    if inspect.isawaitable(result):
        await result
