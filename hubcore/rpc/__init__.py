"""The connection between two processes: calls, cancels, streams and events over one socket.

Layers below: :mod:`hubcore.protocol` (frames, values, handshake maths; no I/O) and
:mod:`hubcore.transport` (byte streams). Layers above: the hub (:mod:`hubcore._hub`) and the
client (:mod:`hubcore.client`). Nothing here knows of names, proxies or apps.

- :class:`Connection`: one authenticated, multiplexed, two-way connection (``_connection``),
  with the calls it makes (``_calls``), the calls it serves (``_serving``), its write path
  (``_outbox``), streams with back-pressure (``_streams``: :class:`RemoteStream`) and ERROR
  frames both ways (``_error_frames``);
- :func:`open_connection` / :func:`accept_connection`: the handshake around it (``_open``,
  ``_handshake``);
- :class:`Dispatcher`: the callee side, turning CALL frames into method calls (``_dispatch``),
  and the watchdog thread that answers for a plain method holding the loop past its caller's
  deadline (``_watchdog``);
- :class:`Tracer`, :class:`CallRecord`, :class:`Fault`: call records and injected faults
  for test harnesses (``_tracing``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcore.rpc._connection import CallHandler, Connection
    from hubcore.rpc._dispatch import Dispatcher, Published, Shape, describe
    from hubcore.rpc._open import accept_connection, open_connection
    from hubcore.rpc._streams import RemoteStream
    from hubcore.rpc._tracing import CallRecord, Fault, Tracer

__all__ = (
    "CallHandler",
    "CallRecord",
    "Connection",
    "Dispatcher",
    "Fault",
    "Published",
    "RemoteStream",
    "Shape",
    "Tracer",
    "accept_connection",
    "describe",
    "open_connection",
)

# Each name loads its module on first use: the blocking connection (``_blocking``, which the
# ``hubcore`` command uses) needs none of the event loop's machinery.
_HOME = {
    "CallHandler": "_connection",
    "Connection": "_connection",
    "Dispatcher": "_dispatch",
    "Published": "_dispatch",
    "Shape": "_dispatch",
    "describe": "_dispatch",
    "accept_connection": "_open",
    "open_connection": "_open",
    "RemoteStream": "_streams",
    "CallRecord": "_tracing",
    "Fault": "_tracing",
    "Tracer": "_tracing",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
