"""The connections other processes open to this client: its listener and what it accepted.

A client listens once it publishes something, on ``<rundir>/peer-<process>-<pid>-<n>.sock``
(see docs/design.md: peer sockets are named after the process, its pid and the client). A hub
that stopped removes the run directory it had created, the listener's socket file with it:
the next publication then listens again on a new socket, and the connections the old
listener accepted stay open.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING

import anyio

from hubcore.rpc._connection import Connection
from hubcore.rpc._open import accept_connection
from hubcore.rpc._refusals import RefusalLog
from hubcore.transport import ByteStream, Listener, listen_unix

if TYPE_CHECKING:
    from hubcore.client._client import Client

__all__ = ("Incoming",)

_LISTENERS = itertools.count()  # several clients of one process each get their own socket


class Incoming:
    """One client's listener, and the connections it accepted (served by its dispatcher)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.connections: set[Connection] = set()
        self._address: str | None = None
        self._inode = 0
        self._scope: anyio.CancelScope | None = None
        self._lock = anyio.Lock()
        self._refusals = RefusalLog(f"{client.process} peer listener")

    async def address(self) -> str:
        """The listener's socket (listening on first use, or again if its file is gone)."""
        async with self._lock:
            if self._address is None or not self._in_place():
                client = self._client
                if self._scope is not None:
                    self._scope.cancel()  # the connections it accepted stay open
                name = f"peer-{client.process[:24]}-{os.getpid()}-{next(_LISTENERS)}.sock"
                path = os.path.join(client.rundir, name)
                listener = await listen_unix(path)
                self._inode = os.stat(path).st_ino
                self._scope = anyio.CancelScope()
                client.start_soon(self._serve, listener, self._scope)
                self._address = path
            return self._address

    def _in_place(self) -> bool:
        try:
            return os.stat(str(self._address)).st_ino == self._inode
        except OSError:
            return False

    async def _serve(self, listener: Listener, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                await listener.serve(self._accepted)
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def _accepted(self, stream: ByteStream) -> None:
        client = self._client
        conn = await accept_connection(
            stream,
            client.token,
            {"process": client.process},
            handler=client._dispatcher,
            refusals=self._refusals,
            max_frame=client.max_frame,
        )
        if conn is None:
            return
        conn.identity = (client.process, client.instance or 0)
        self.connections.add(conn)
        # In the client's task group, not the listener's: a listener replaced after a hub
        # restart leaves the connections it accepted open.
        client.start_soon(self._run, conn)

    async def _run(self, conn: Connection) -> None:
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
