"""What serves the calls that arrive on a connection: published objects (``_dispatch``), or
the hub (``hubcore._hub``). It answers through the connection's ``send_*`` methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("CallHandler",)


class CallHandler(Protocol):
    """The serving side of a connection (published objects, or the hub)."""

    def handle_call(
        self,
        conn: Connection,
        cid: int,
        target: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        window: int,
    ) -> None: ...

    def connection_closed(self, conn: Connection) -> None: ...
