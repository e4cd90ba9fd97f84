"""hubcore: publish an object in one process, call it from any other on the machine."""

from __future__ import annotations

from hubcore._api import connect, get_proxy, publish_object
from hubcore._app import App
from hubcore._client import Client, Publication
from hubcore._directory import ObjectInfo
from hubcore._errors import (
    AuthenticationFailed,
    BootFailed,
    CallTimeout,
    ConnectionLost,
    HubError,
    ObjectNotFound,
    PayloadTooLarge,
    ProcessCrashed,
    ProcfileError,
    ProtocolError,
    RemoteError,
)
from hubcore._hub import Hub, serve_hub
from hubcore._procfile import load_procfile
from hubcore._proxy import ObjectEvent, Proxy
from hubcore._proxy_ops import (
    broadcast,
    call,
    events,
    get_property,
    name_of,
    stream,
    subscribe,
    with_timeout,
)
from hubcore._rundir import app_rundir
from hubcore._service import Service, ServiceContext
from hubcore._subscriptions import Subscription
from hubcore._supervisor import ProcessRecord, ProcessState
from hubcore._tracing import CallRecord, Tracer
from hubcore.protocol import register_codec

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
