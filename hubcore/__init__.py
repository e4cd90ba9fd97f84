"""hubcore: publish an object in one process, call it from any other on the machine."""

from __future__ import annotations

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

__all__ = (
    "AuthenticationFailed",
    "BootFailed",
    "CallTimeout",
    "ConnectionLost",
    "HubError",
    "ObjectNotFound",
    "PayloadTooLarge",
    "ProcessCrashed",
    "ProcfileError",
    "ProtocolError",
    "RemoteError",
)
