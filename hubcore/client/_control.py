"""What the hub may ask of a client, for test harnesses: call records and fault injection.

Each client serves this object to the hub as ``$client`` (``protocol.CONTROL_TARGET``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubcore.rpc._tracing import Fault, Tracer

if TYPE_CHECKING:
    from hubcore.client._client import Client

__all__ = ("Control",)


class Control:
    """What the hub may ask of a client, for test harnesses: call records, fault injection."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def trace(self, on: bool) -> None:
        client = self._client
        client.tracer = Tracer(client.process, client.instance or 0) if on else None

    def drain(self) -> list[dict[str, Any]]:
        tracer = self._client.tracer
        return [r.to_wire() for r in tracer.drain()] if tracer is not None else []

    def in_flight(self) -> list[dict[str, Any]]:
        tracer = self._client.tracer
        return [r.to_wire() for r in tracer.in_flight()] if tracer is not None else []

    def inject(
        self,
        target: str,
        method: str,
        delay: float = 0.0,
        error: list[str] | None = None,
        crash: bool = False,
    ) -> bool:
        """Install a fault on a method this process publishes; False if it publishes none."""
        dispatcher = self._client._dispatcher
        if target not in dispatcher.objects:
            return False
        err = (str(error[0]), str(error[1])) if error else None
        dispatcher.faults[(target, method)] = Fault(delay, err, crash)
        return True

    def clear_faults(self) -> None:
        self._client._dispatcher.faults.clear()
