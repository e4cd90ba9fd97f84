"""A hub asked with blocking calls: a client without an event loop, for short-lived programs.

How it works: a :class:`HubView` holds one :class:`~hubcore.rpc._blocking.BlockingConnection`
to a hub and asks it what a command needs (``processes``, ``objects``, ``control``...). Its
mirror of the directory is the snapshot of its last :meth:`HubView.objects`; it watches
nothing. It is what :class:`~hubcore.client._blocking.BlockingCalls` needs of a client, so a
program can call published objects with the proxies' rules (retries, timeouts, crashes):
waiting for a name asks the hub again until the name is there, and a crash's facts come from
the hub's ``exit_info``. The ``hubcore`` command's ``ps``, ``objects``, ``call`` and
``restart`` use it, and start no event loop.
"""

from __future__ import annotations

import contextlib
import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubcore._directory import Directory, ObjectInfo
from hubcore._errors import HubError
from hubcore.client._failures import crashed, dropped, not_found
from hubcore.protocol import DEFAULT_MAX_FRAME, HUB_TARGET
from hubcore.rpc._blocking import BlockingConnection

if TYPE_CHECKING:
    from hubcore.rpc._tracing import Tracer

__all__ = ("HubView",)

HUB_CALL_TIMEOUT = 10.0  # as the async client's
POLL_INTERVAL = 0.05  # seconds between two looks at the directory while waiting for a name
EXIT_INFO_WAIT = 0.5  # what the async client asks the hub to wait for a supervisor's report


class HubView:
    """A blocking connection to a hub, with the client facts blocking calls need."""

    def __init__(self, conn: BlockingConnection, token: bytes, *, process: str) -> None:
        self._conn = conn
        self._token = token
        self.process = process
        self.instance: int | None = None
        self.max_frame = DEFAULT_MAX_FRAME
        self.tracer: Tracer | None = None
        self.directory = Directory()

    @classmethod
    def open(
        cls, address: str, token: bytes, *, process: str, timeout: float = HUB_CALL_TIMEOUT
    ) -> HubView:
        """Connect to the hub at ``address``.

        :raises ConnectionLost: nothing listens there.
        :raises AuthenticationFailed: the token was refused.
        :raises TimeoutError: the hub did not answer within ``timeout``.
        """
        hello = {"process": process, "instance": None, "pid": os.getpid()}
        conn = BlockingConnection.open(address, token, hello, label="hub", timeout=timeout)
        return cls(conn, token, process=process)

    def __enter__(self) -> HubView:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say GOODBYE to the hub and close (idempotent)."""
        self._conn.close()

    # -- asking the hub --------------------------------------------------------------------

    def call(self, method: str, *args: Any, timeout: float = HUB_CALL_TIMEOUT) -> Any:
        """Call a hub method (``objects``, ``processes``, ``control``, ...)."""
        return self._conn.call(HUB_TARGET, method, args, timeout=timeout)

    def objects(self) -> list[ObjectInfo]:
        """Every published instance of every name; the mirror becomes this snapshot."""
        infos = [ObjectInfo.from_wire(d) for d in self.call("objects")]
        self.directory.replace_all(sorted(infos, key=lambda i: (i.name, i.instance)))
        return infos

    def processes(self) -> list[dict[str, Any]]:
        """The hub's process table (filled when a supervisor runs the hub)."""
        table: list[dict[str, Any]] = self.call("processes")
        return table

    # -- what BlockingCalls needs of a client ----------------------------------------------

    @property
    def token(self) -> bytes:
        """The hub's token, for connections to its publishers too."""
        return self._token

    def _hello(self) -> dict[str, Any]:
        return {"process": self.process, "instance": self.instance, "pid": os.getpid()}

    def token_after_refusal(self, refused: bytes) -> bytes | None:
        """None: this view's token is the only one it has."""
        return None

    def resolve(
        self, name: str, instance: int | None, timeout: float | None, exclude: frozenset[int]
    ) -> ObjectInfo:
        """An instance of ``name`` (not of an ``exclude`` generation), asking the hub again
        until one is published, up to ``timeout``.

        :raises ObjectNotFound: none within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.directory.pick(name, instance)
            if info is not None and info.generation not in exclude:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise not_found(name, instance, timeout, self.directory.names())
            time.sleep(POLL_INTERVAL)  # this view watches nothing: look again
            self.objects()

    def crash_error(self, conn: BlockingConnection) -> BaseException:
        """The error of a call whose publisher vanished: what the hub knows of its end."""
        if (error := dropped(conn)) is not None:
            return error
        pid = conn.remote.get("pid")
        details: dict[str, Any] = {}
        if isinstance(pid, int):
            with contextlib.suppress(HubError):  # bounded, as the async client's question
                details = self.call("exit_info", pid, EXIT_INFO_WAIT, timeout=1.0) or {}
        return crashed(conn, details)
