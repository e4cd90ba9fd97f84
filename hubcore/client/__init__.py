"""The client side: a process's connection to the hub, proxies, subscriptions, the module API.

Built on :mod:`hubcore.rpc`; used by apps (:mod:`hubcore.app`), :mod:`hubcore.sync`, the
worker and the CLI. Nothing here starts or supervises processes.

- :class:`Client` and :class:`Publication` (``_client``): the hub connection, the directory
  mirror, the pool of connections to other processes, publishing;
- :class:`Proxy` (``_proxy``): attribute access becomes a remote call; the proxy's own
  operations are functions (``_proxy_ops``: :func:`call`, :func:`stream`, ...);
- :class:`Subscription` and :class:`ObjectEvent` (``_subscriptions``): events that follow a
  name across restarts;
- :func:`connect`, :func:`publish_object`, :func:`get_proxy` (``_api``): the entry points,
  and the default client built from the environment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcore.client._api import connect, get_proxy, publish_object
    from hubcore.client._client import Client, Publication
    from hubcore.client._proxy import Proxy, RemoteMethod
    from hubcore.client._proxy_ops import (
        broadcast,
        call,
        events,
        get_property,
        name_of,
        stream,
        subscribe,
        with_timeout,
    )
    from hubcore.client._subscriptions import ObjectEvent, Subscription

__all__ = (
    "Client",
    "ObjectEvent",
    "Proxy",
    "Publication",
    "RemoteMethod",
    "Subscription",
    "broadcast",
    "call",
    "connect",
    "events",
    "get_property",
    "get_proxy",
    "name_of",
    "publish_object",
    "stream",
    "subscribe",
    "with_timeout",
)

# Each name loads its module on first use: the ``hubcore`` command's blocking calls
# (``_blocking``, ``_hubview``) need none of the event loop's machinery.
_HOME = {
    "connect": "_api",
    "get_proxy": "_api",
    "publish_object": "_api",
    "Client": "_client",
    "Publication": "_client",
    "Proxy": "_proxy",
    "RemoteMethod": "_proxy",
    "ObjectEvent": "_subscriptions",
    "Subscription": "_subscriptions",
    **dict.fromkeys(
        (
            "broadcast",
            "call",
            "events",
            "get_property",
            "name_of",
            "stream",
            "subscribe",
            "with_timeout",
        ),
        "_proxy_ops",
    ),
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
