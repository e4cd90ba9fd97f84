"""hubcore: publish an object in one process, call it from any other on the machine.

The package, from the bottom up (each layer imports only the ones below it):

- :mod:`hubcore.protocol`: frames, values and handshake maths, no I/O;
- :mod:`hubcore.transport`: byte streams over Unix sockets (asyncio, uvloop, trio);
- :mod:`hubcore.rpc`: the connection between two processes;
- ``_hub`` (the hub) and :mod:`hubcore.client` (client, proxies, subscriptions, the module API);
- :mod:`hubcore.app`: procfiles, the supervisor, services and :class:`App`;
- :mod:`hubcore.sync`, ``worker`` and :mod:`hubcore.cli` on top.

Everything public is re-exported here. Only the error classes load with ``import hubcore``;
every other name loads on first use (``hubcore.connect`` loads the client, ``hubcore.App`` the
supervisor), so a program pays for the parts it uses, and the ``hubcore`` command starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hubcore._errors import (
    AuthenticationFailed,
    BootFailed,
    CallTimeout,
    ConnectionLost,
    HubError,
    HubUnreachable,
    ObjectNotFound,
    PayloadTooLarge,
    ProcessCrashed,
    ProcfileError,
    ProtocolError,
    RemoteError,
    remote_class_named,
)

if TYPE_CHECKING:
    from hubcore._directory import ObjectInfo
    from hubcore._hub import Hub, serve_hub
    from hubcore._rundir import app_rundir
    from hubcore.app import (
        App,
        ProcessRecord,
        ProcessState,
        Service,
        ServiceContext,
        load_procfile,
    )
    from hubcore.client import (
        Client,
        ObjectEvent,
        Proxy,
        Publication,
        Subscription,
        broadcast,
        call,
        connect,
        events,
        get_property,
        get_proxy,
        name_of,
        publish_object,
        stream,
        subscribe,
        with_timeout,
    )
    from hubcore.protocol import register_codec
    from hubcore.rpc import CallRecord, Tracer

__all__ = (
    "App",
    "AuthenticationFailed",
    "BootFailed",
    "CallRecord",
    "CallTimeout",
    "Client",
    "ConnectionLost",
    "Hub",
    "HubError",
    "HubUnreachable",
    "ObjectEvent",
    "ObjectInfo",
    "ObjectNotFound",
    "PayloadTooLarge",
    "ProcessCrashed",
    "ProcessRecord",
    "ProcessState",
    "ProcfileError",
    "ProtocolError",
    "Proxy",
    "Publication",
    "RemoteError",
    "Service",
    "ServiceContext",
    "Subscription",
    "Tracer",
    "app_rundir",
    "broadcast",
    "call",
    "connect",
    "events",
    "get_property",
    "get_proxy",
    "load_procfile",
    "name_of",
    "publish_object",
    "register_codec",
    "serve_hub",
    "stream",
    "subscribe",
    "with_timeout",
)

#: Where each name that loads on first use lives. Importing hubcore costs the error classes
#: only; the first use of a name of a module loads that module and names all of its names.
_LAZY: dict[str, tuple[str, ...]] = {
    "hubcore._directory": ("ObjectInfo",),
    "hubcore._hub": ("Hub", "serve_hub"),
    "hubcore._rundir": ("app_rundir",),
    "hubcore.app": (
        "App",
        "ProcessRecord",
        "ProcessState",
        "Service",
        "ServiceContext",
        "load_procfile",
    ),
    "hubcore.client": (
        "Client",
        "ObjectEvent",
        "Proxy",
        "Publication",
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
    ),
    "hubcore.protocol": ("register_codec",),
    "hubcore.rpc": ("CallRecord", "Tracer"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def _public(value: Any) -> Any:
    """Name a re-exported class or function as hubcore names it: ``hubcore.Proxy``."""
    if getattr(value, "__module__", "").startswith("hubcore."):
        value.__module__ = __name__
    return value


for _name in __all__:
    if _name not in _HOME:
        _public(globals()[_name])


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is not None:
        loaded = importlib.import_module(module)
        for each in _LAZY[module]:
            globals()[each] = _public(getattr(loaded, each))
        return globals()[name]
    remote = remote_class_named(name)  # RemoteKeyError & co, as tracebacks name them
    if remote is not None:
        return remote
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
