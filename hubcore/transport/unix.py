"""Unix domain socket transport on trio: socket mode 0600, peer credentials.

anyio opens, accepts and closes the sockets; a connected stream's reads and writes use the
socket itself through trio's lowlevel waits (:class:`UnixStream`), because anyio's stream
costs a receive buffer, a copy and several checkpoints per read, and a task switch per write.
asyncio and uvloop use :mod:`hubcore.transport.aio` instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio
import anyio.abc

from hubcore._errors import ConnectionLost, reason
from hubcore.transport._accept import EXHAUSTED, SKIPPED, AcceptPause
from hubcore.transport._mapping import map_exceptions
from hubcore.transport.base import RECEIVE_SIZE, ByteStream, Receiver

__all__ = (
    "RECEIVE_SIZE",
    "Credentials",
    "UnixListener",
    "UnixStream",
    "connect_unix",
    "listen_unix",
    "peer_credentials",
)

HIGH_WATER = 64 * 1024  # queued bytes above which writers wait (as asyncio's transports do)
LOW_WATER = 16 * 1024  # ... until the queue is back below this
SEND_BUFFERS = 512  # buffers per sendmsg (IOV_MAX is 1024 on Linux)


@dataclass(frozen=True)
class Credentials:
    """Peer pid and uid from SO_PEERCRED (None where the platform has no such thing)."""

    pid: int | None = None
    uid: int | None = None


def peer_credentials(sock: socket.socket) -> Credentials:
    """Read SO_PEERCRED of a connected Unix socket."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return Credentials()
    fmt = "3i"
    raw = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize(fmt))
    pid, uid, _gid = struct.unpack(fmt, raw)
    return Credentials(pid=pid, uid=uid)


class UnixStream:
    """A connected Unix socket as a :class:`ByteStream`, on trio.

    anyio opens and closes the socket; the hot path uses the socket itself, through trio's
    lowlevel waits: ``receive_into`` reads straight into the receiver's buffer, and
    ``write_nowait`` sends at once from the calling task, without waking a writer (what the
    socket does not take waits in a queue that :meth:`run_writer`, the connection's writer
    task, sends as the socket drains, several buffers per ``sendmsg``).
    """

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        import trio  # a trio run is going on: this stream is made only there

        self._trio = trio
        self._stream = stream
        self._sock: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        self._credentials = peer_credentials(self._sock)
        self._reading: trio.Event | None = None  # set while reading is paused
        self._queue: deque[memoryview] = deque()  # what the socket did not take yet
        self._queued = 0  # bytes in the queue
        self._wake = trio.Event()  # the writer has something to send (or a send failed)
        self._room = trio.Event()  # the queue went below the low-water mark
        self._room.set()
        self._empty = trio.Event()  # nothing is queued
        self._empty.set()
        self._writing = False  # run_writer runs
        # More than the high-water mark waits to be sent, until it is back below the low one.
        self.writing_paused = False
        self._failed: OSError | None = None

    @property
    def credentials(self) -> Credentials:
        """The peer's pid and uid, read once at connection time."""
        return self._credentials

    async def receive(self) -> bytes:
        with map_exceptions("receive failed"):
            try:
                return await self._stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                return b""

    async def receive_into(self, receiver: Receiver) -> None:
        """Read into ``receiver``'s buffers until the end of the stream.

        :raises ConnectionLost: the connection broke.
        """
        lowlevel, sock = self._trio.lowlevel, self._sock
        with self._mapped("receive failed"):
            while True:
                while self._reading is not None:  # paused
                    await self._reading.wait()
                await lowlevel.wait_readable(sock)  # also the checkpoint of each read
                try:
                    n = sock.recv_into(receiver.get_buffer(-1))
                except BlockingIOError:
                    continue
                if not n:
                    return
                receiver.buffer_updated(n)

    @contextlib.contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        trio = self._trio
        try:
            yield
        except (trio.ClosedResourceError, trio.BrokenResourceError, OSError) as exc:
            raise ConnectionLost(f"{what}: {reason(exc)}") from exc

    def pause_reading(self) -> None:
        """Stop reading from the socket until :meth:`resume_reading`."""
        if self._reading is None:
            self._reading = self._trio.Event()

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`."""
        if self._reading is not None:
            self._reading.set()
            self._reading = None

    def write_nowait(self, data: bytes | memoryview) -> None:
        """Send now what the socket takes; queue the rest for :meth:`run_writer` (dropped
        once a send failed: :meth:`run_writer` raises that failure)."""
        if self._failed is not None:
            return
        if not self._queue:
            try:
                n = self._sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._fail(exc)
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
        view = memoryview(data)
        if not self._queue:
            self._empty = self._trio.Event()
        self._queue.append(view)
        self._queued += view.nbytes
        if self._queued > HIGH_WATER and self._room.is_set():
            self._room = self._trio.Event()
            self.writing_paused = True
        self._wake.set()

    def write_aside(self, data: bytes) -> bytes | None:
        """Send ``data`` from another thread, while trio's thread is held in a task step that
        writes nothing (see :mod:`hubcore.rpc._watchdog`); only if nothing waits in the queue,
        so that it follows whole writes.

        :return: what the socket did not take, which trio's thread must write first
            (:meth:`write_nowait`) once it is back; None if nothing was sent.
        """
        if self._failed is not None or self._queue:
            return None
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return None  # gone: the reader finds out
        return data[sent:]

    def _fail(self, exc: OSError) -> None:
        self._failed = exc
        self._queue.clear()
        self._queued = 0
        self._wake.set()
        self._room.set()
        self._empty.set()
        self.writing_paused = False

    async def run_writer(self) -> None:
        """Send the queue as the socket takes it, until cancelled.

        :raises ConnectionLost: a send failed (later writes are dropped).
        """
        self._writing = True
        try:
            while True:
                await self._wake.wait()
                self._wake = self._trio.Event()
                await self._send_queue()
        finally:
            self._writing = False

    async def _send_queue(self) -> None:
        """Send until the queue is empty (one task at a time: the writer, or ``send`` before
        the writer runs).

        :raises ConnectionLost: a send failed.
        """
        lowlevel, sock = self._trio.lowlevel, self._sock
        with self._mapped("send failed"):
            while self._queue and self._failed is None:
                await lowlevel.wait_writable(sock)
                try:
                    self._sent(sock.sendmsg(list(itertools.islice(self._queue, SEND_BUFFERS))))
                except BlockingIOError:
                    pass
                except OSError as exc:
                    self._fail(exc)
        if self._failed is not None:
            raise ConnectionLost(f"send failed: {reason(self._failed)}")

    def _sent(self, n: int) -> None:
        queue = self._queue
        self._queued -= n
        while n:
            head = queue[0]
            if n < head.nbytes:
                queue[0] = head[n:]
                break
            n -= head.nbytes
            queue.popleft()
        if self._queued <= LOW_WATER:
            self._room.set()
            self.writing_paused = False
            if not queue:
                self._empty.set()

    async def drain(self) -> None:
        """Wait until what waits to be sent is below the low-water mark (or a send failed)."""
        await self._room.wait()

    async def send(self, data: bytes) -> None:
        if self._failed is not None:
            raise ConnectionLost(f"send failed: {reason(self._failed)}")
        self.write_nowait(data)
        if self._queue or self._failed is not None:
            await self._send_queue()
        else:
            await self._trio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        """End our direction, after everything written before.

        :raises ConnectionLost: a send failed.
        """
        if self._writing:
            await self._empty.wait()
        else:
            await self._send_queue()
        if self._failed is not None:
            raise ConnectionLost(f"send_eof failed: {reason(self._failed)}")
        with map_exceptions("send_eof failed"):
            await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def connect_unix(path: str) -> UnixStream:
    """Connect to a Unix socket.

    :raises ConnectionLost: nobody listens there (the message says where).
    """
    with map_exceptions(f"cannot connect to {path}"):
        return UnixStream(await anyio.connect_unix(path))


class UnixListener:
    """A listening Unix socket, mode 0600."""

    def __init__(self, listener: anyio.abc.SocketListener, address: str) -> None:
        self._listener = listener
        self.address = address

    async def serve(self, handler: Callable[[ByteStream], Awaitable[None]]) -> None:
        # Not anyio's serve(): an accept() that fails for lack of file descriptors would end it.
        pause = AcceptPause(self.address)

        async def accepted(stream: anyio.abc.SocketStream) -> None:
            await handler(UnixStream(stream))

        async with anyio.create_task_group() as tg:
            while True:
                try:
                    stream = await self._listener.accept()
                except anyio.BrokenResourceError as exc:
                    cause = exc.__cause__
                    if not isinstance(cause, OSError) or cause.errno not in EXHAUSTED | SKIPPED:
                        raise
                    if cause.errno in EXHAUSTED:
                        await pause.failed(cause)
                    continue
                pause.accepted()
                tg.start_soon(accepted, stream)

    async def aclose(self) -> None:
        await self._listener.aclose()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)


async def listen_unix(path: str) -> UnixListener:
    """Listen on ``path`` (a stale socket file there is replaced), owner-only access."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    # The run directory is 0700, so the moment between bind and chmod exposes nothing.
    listener = await anyio.create_unix_listener(path)
    os.chmod(path, 0o600)
    return UnixListener(listener, path)
