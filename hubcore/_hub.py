"""The hub: directory of published objects, process table and event bus. Not the data path.

How it works: every process keeps one connection to the hub. Through it, it publishes names
(with the address of its own peer listener) and watches the directory; calls then go peer to
peer. When a connection closes, everything it published is withdrawn and watchers are told.
The supervisor feeds the process table through :meth:`Hub.record_process`, which is how a
caller whose call a crash broke learns the exit code and the tail of stderr.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from hubcore._changes import Changes
from hubcore._directory import Directory, ObjectInfo
from hubcore._errors import ConnectionLost, HubError, reason
from hubcore._rundir import HUB_SOCKET, TOKEN_FILE
from hubcore.protocol import CONTROL_TARGET, DEFAULT_MAX_FRAME, HUB_TARGET
from hubcore.rpc._connection import CallHandler, Connection
from hubcore.rpc._handshake import HANDSHAKE_TIMEOUT
from hubcore.rpc._open import accept_connection
from hubcore.rpc._refusals import RefusalLog
from hubcore.transport import ByteStream, check_path, connect_unix, listen_unix

__all__ = ("Hub", "serve_hub")

log = logging.getLogger("hubcore.hub")

_EXITED = frozenset({"crashed", "failed", "stopped", "backoff"})


class Hub(CallHandler):
    """A running hub. Use :func:`serve_hub` to get one.

    ``handshake_timeout`` is how long a new connection gets to authenticate (seconds) before
    the hub drops it with a log line.
    """

    def __init__(self, address: str, token: bytes, token_file: str, max_frame: int) -> None:
        self.address = address
        self.token = token
        self.token_file = token_file
        self.rundir = str(Path(address).parent)
        self.max_frame = max_frame
        self.handshake_timeout = HANDSHAKE_TIMEOUT
        self.refusals = RefusalLog("hub")
        self.directory = Directory()
        self.clients: dict[Connection, dict[str, Any]] = {}
        self.processes: dict[str, dict[str, Any]] = {}
        self._exits: dict[int, dict[str, Any]] = {}
        self._exited = Changes()  # a process exit was recorded
        self._watchers: set[Connection] = set()
        self.closing = False  # serve_hub is ending: its connections close with it
        self._owned: dict[Connection, list[ObjectInfo]] = {}
        # Generations are unique across the hub's restarts too (clients remember the ones they
        # saw): they count from the time the hub started, in microseconds.
        self._generations = itertools.count(time.time_ns() // 1000)
        self.on_report: Callable[[dict[str, Any], str, Any], None] | None = None
        self.on_control: Callable[[str, dict[str, Any]], Awaitable[Any]] | None = None

    # -- connections -----------------------------------------------------------------------

    async def _on_stream(self, stream: ByteStream) -> None:
        info = {"hub_pid": os.getpid(), "rundir": self.rundir}
        conn = await accept_connection(
            stream,
            self.token,
            info,
            handler=self,
            refusals=self.refusals,
            max_frame=self.max_frame,
            handshake_timeout=self.handshake_timeout,
        )
        if conn is None:
            return
        # The kernel's word on the pid beats the client's own.
        conn.remote["pid"] = stream.credentials.pid or conn.remote.get("pid")
        self.clients[conn] = conn.remote
        await conn.run()

    def connection_closed(self, conn: Connection) -> None:
        self.clients.pop(conn, None)
        self._watchers.discard(conn)
        for info in self._owned.pop(conn, []):
            self._withdraw(info)

    # -- calls -----------------------------------------------------------------------------

    def handle_call(
        self,
        conn: Connection,
        cid: int,
        target: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        window: int,
    ) -> None:
        fn = getattr(self, f"_call_{method}", None) if target == HUB_TARGET else None
        if fn is None:
            conn.send_error(cid, "LookupError", f"the hub has no method {target}.{method}")
            return
        try:
            value = fn(conn, *args, **kwargs)
        except Exception as exc:
            _send_refusal(conn, cid, exc)
            return
        if isinstance(value, _Later):
            conn.spawn(cid, lambda: value.reply(conn, cid))
        else:
            conn.send_result(cid, value)

    def _call_watch(self, conn: Connection) -> list[dict[str, Any]]:
        """Snapshot of the directory; every later change arrives as an event, in order."""
        self._watchers.add(conn)
        return [info.to_wire() for info in self.directory.all()]

    def _call_objects(self, conn: Connection) -> list[dict[str, Any]]:
        return [info.to_wire() for info in self.directory.all()]

    def _call_publish(self, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
        """Add a publication. A client publishing again after a hub restart asks for its old
        ``instance`` and keeps its ``origin``; the generation is always a new one."""
        peer = self.clients.get(conn, {})
        generation = next(self._generations)
        info = ObjectInfo.from_wire(
            {
                **data,
                "process": peer.get("process", ""),
                "pid": peer.get("pid") or 0,
                "instance": self._free_instance(
                    data["name"], data.get("instance", peer.get("instance"))
                ),
                "generation": generation,
                "origin": data.get("origin") or generation,
            }
        )
        self._owned.setdefault(conn, []).append(info)
        self.directory.add(info)
        self._broadcast("published", info.to_wire())
        log.info("%s published by %s (pid %s)", info.name, info.label, info.pid)
        return info.to_wire()

    def _call_unpublish(self, conn: Connection, name: str) -> None:
        owned = self._owned.get(conn, [])
        for info in [i for i in owned if i.name == name]:
            owned.remove(info)
            self._withdraw(info)

    def _call_processes(self, conn: Connection) -> list[dict[str, Any]]:
        return list(self.processes.values())

    def _call_exit_info(self, conn: Connection, pid: int, wait: float = 0.5) -> _Later:
        return _Later(self._exit_info(pid, wait))

    def _call_ping(self, conn: Connection) -> str:
        return "pong"

    def _call_report(self, conn: Connection, kind: str, data: Any) -> None:
        """A worker reports on itself: ``ready``, ``boot_failed``."""
        if self.on_report is not None:
            self.on_report(self.clients.get(conn, {}), kind, data)

    def _call_control(self, conn: Connection, action: str, args: dict[str, Any]) -> _Later:
        """Ask whoever runs this hub (an app) to act: ``restart``, ``logs``, ``spec``.

        A command the app refuses is answered with that error; it never stops the hub.
        """
        if self.on_control is None:
            raise HubError("this hub runs no app: there is nothing to control")
        if not isinstance(action, str) or not isinstance(args, dict):
            raise TypeError(
                f"control(action, args) takes an action name (str) and a dict of arguments, "
                f"got {type(action).__name__} and {type(args).__name__}"
            )
        return _Later(self.on_control(action, args))

    # -- state -----------------------------------------------------------------------------

    def _free_instance(self, name: str, wanted: Any) -> int:
        taken = {e.instance for e in self.directory.instances(name)}
        if isinstance(wanted, int) and wanted not in taken:
            return wanted
        return next(i for i in itertools.count() if i not in taken)

    def _withdraw(self, info: ObjectInfo) -> None:
        self.directory.remove(info)
        if not self.closing:  # a hub going away unpublishes nothing: clients keep their mirror
            self._broadcast("unpublished", info.to_wire())

    def _broadcast(self, event: str, data: Any) -> None:
        for conn in list(self._watchers):
            try:
                conn.send_event(HUB_TARGET, event, data, 0, 0)
            except ConnectionLost:
                self._watchers.discard(conn)

    async def ask_clients(
        self, method: str, *args: Any, skip: Container[str] = (), timeout: float = 5.0
    ) -> list[Any]:
        """Call a control method on every connected client (but those of ``skip`` processes).

        A client that fails to answer is logged and left out of the results.
        """
        results: list[Any] = []

        async def one(conn: Connection) -> None:
            try:
                results.append(await conn.call(CONTROL_TARGET, method, args, timeout=timeout))
            except HubError as exc:
                log.warning("%s did not answer %s: %s", conn.label, method, reason(exc))

        async with anyio.create_task_group() as tg:
            for conn, peer in list(self.clients.items()):
                if peer.get("process") not in skip:
                    tg.start_soon(one, conn)
        return results

    def record_process(self, snapshot: dict[str, Any]) -> None:
        """Update the process table (from the supervisor) and tell watchers.

        :param snapshot: plain values: name, instance, state, pid, exit_code, signal, reason,
            stderr_tail, ...; an exited process also becomes the answer to ``exit_info``.
        """
        label = f"{snapshot.get('name')}.{snapshot.get('instance', 0)}"
        self.processes[label] = snapshot
        # A restarted process's snapshot still tells its previous death: only a snapshot in an
        # exited state is this pid's exit.
        if snapshot.get("state") in _EXITED and (
            snapshot.get("exit_code") is not None or snapshot.get("signal") is not None
        ):
            if snapshot.get("pid"):
                self._exits[int(snapshot["pid"])] = snapshot
            self._exited.notify()
        self._broadcast("process", snapshot)

    async def _exit_info(self, pid: int, wait: float) -> dict[str, Any] | None:
        supervised = any(p.get("pid") == pid for p in self.processes.values())
        if not supervised:
            return self._exits.get(pid)  # nobody will report this one's exit: answer now
        with anyio.move_on_after(min(max(wait, 0.0), 5.0)):
            while pid not in self._exits:
                await self._exited.wait()
        return self._exits.get(pid)


class _Later:
    """A hub answer that needs awaiting (runs in its own task)."""

    def __init__(self, coro: Any) -> None:
        self._coro = coro

    async def reply(self, conn: Connection, cid: int) -> None:
        try:
            value = await self._coro
        except Exception as exc:  # the caller's error: it must not end the hub's task group
            _send_refusal(conn, cid, exc)
            return
        conn.send_result(cid, value)


def _send_refusal(conn: Connection, cid: int, exc: Exception) -> None:
    """Answer a hub call with its error. A ``HubError`` is a refusal whose message says it
    all (no traceback of the hub's code); anything else may be a bug and keeps its traceback."""
    if isinstance(exc, HubError):
        conn.send_error(cid, type(exc).__name__, str(exc))
    else:
        conn.send_exception(cid, exc)


@asynccontextmanager
async def serve_hub(
    address: str | os.PathLike[str] | None = None, *, max_frame_size: int = DEFAULT_MAX_FRAME
) -> AsyncIterator[Hub]:
    """Run a hub in this process for the duration of the ``async with`` block.

    :param address: path of the hub's Unix socket, in a directory only you can enter
        (created with mode 0700 if missing); by default a fresh temporary run directory.
    :param max_frame_size: largest frame accepted or sent, in bytes.
    :raises HubError: a hub already listens at ``address``, or its directory is not private.
    :return: the hub: ``hub.address``, ``hub.token``, ``hub.token_file``.
    """
    path, created = _prepare_rundir(address)
    await _refuse_if_running(path)
    # The token is what the token file holds, byte for byte: reading the file gives the token.
    token = secrets.token_hex(32).encode()
    token_file = str(Path(path).parent / TOKEN_FILE)
    _write_private(token_file, token)
    hub = Hub(path, token, token_file, max_frame_size)
    listener = await listen_unix(path)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, hub._on_stream)
            log.info("hub listening at %s", path)
            try:
                yield hub
            finally:
                hub.closing = True
                tg.cancel_scope.cancel()
    finally:
        await listener.aclose()
        _cleanup(token_file, Path(path).parent if created else None)


def _prepare_rundir(address: str | os.PathLike[str] | None) -> tuple[str, bool]:
    if address is None:
        rundir = tempfile.mkdtemp(prefix="hubcore-")
        return str(Path(rundir) / HUB_SOCKET), True
    path = Path(address).absolute()
    check_path(str(path))  # before creating any directory
    created = not path.parent.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.parent.stat().st_mode & 0o777
    if mode & 0o077:
        raise HubError(
            f"the hub's directory {path.parent} is open to other users (mode {mode:o}): "
            "use a directory with mode 0700 (or let serve_hub() create one)"
        )
    return str(path), created


async def _refuse_if_running(path: str) -> None:
    if not os.path.exists(path):
        return
    try:
        stream = await connect_unix(path)
    except ConnectionLost:
        return  # a stale socket file from a dead hub: listen_unix replaces it
    await stream.aclose()
    raise HubError(f"a hub is already running at {path}: stop it or choose another address")


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _cleanup(token_file: str, rundir: Path | None) -> None:
    with suppress(FileNotFoundError):
        os.unlink(token_file)
    if rundir is not None:
        shutil.rmtree(rundir, ignore_errors=True)
