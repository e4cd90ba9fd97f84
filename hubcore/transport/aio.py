"""Unix sockets on asyncio's own protocol/transport layer: the fast path on asyncio.

anyio's socket stream waits for readability through the selector on every receive (about
four times the system calls of asyncio's transports, and a formatted KeyError per wait), so
on asyncio the bytes come from ``asyncio.BufferedProtocol`` instead: the loop reads straight
into the receiver's buffer and hands it the bytes from its read callback, with no task woken in
between (``receive_into``). Writes go to ``transport.write`` at once, without a writer task;
the connection above coalesces the ones it makes together. trio keeps its own implementation
(:mod:`hubcore.transport.unix`).

A write that fails (the other end has closed) makes the loop drop the socket with bytes still
unread in it, among them the other end's last frames (its GOODBYE). So each stream holds a
second descriptor of its socket, and reads what is left through it when the connection is lost.
It takes that descriptor before its first write (no write, no failed write): a connection that
never gets an answer (one that is refused for sending nothing) costs one descriptor, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from typing import cast

import anyio

from hubcore._errors import ConnectionLost, reason
from hubcore.transport._accept import EXHAUSTED, SKIPPED, AcceptPause
from hubcore.transport._direct import LOW_WATER as DIRECT_LOW_WATER
from hubcore.transport._direct import DirectWrites, transport_copies
from hubcore.transport.base import ByteStream, Receiver, feed_receiver
from hubcore.transport.unix import RECEIVE_SIZE, Credentials, peer_credentials

__all__ = ("AsyncioListener", "AsyncioStream", "connect", "listen")

SCRATCH_SIZE = 4 * 1024  # the read buffer before a receiver gives its own (the handshake)
LARGE_WRITE = 64 * 1024  # writes above this size go to the transport as memoryviews


class _Protocol(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.stream: AsyncioStream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods without being its subclass.
        self.stream = AsyncioStream(cast(asyncio.Transport, transport))

    def get_buffer(self, sizehint: int) -> memoryview:
        assert self.stream is not None
        return self.stream._get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        assert self.stream is not None
        self.stream._buffer_updated(nbytes)

    def eof_received(self) -> bool:
        assert self.stream is not None
        self.stream._ended(None)
        return True  # keep our half open: we may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.stream._ended(exc, lost=True)

    def pause_writing(self) -> None:
        assert self.stream is not None
        self.stream._pause()

    def resume_writing(self) -> None:
        assert self.stream is not None
        self.stream._resume()


class AsyncioStream:
    """A connected Unix socket as a :class:`ByteStream`, on asyncio transports.

    The loop reads into a buffer it asks for (``asyncio.BufferedProtocol``): a scratch buffer
    of the stream's while ``receive`` is used (the handshake), the receiver's own once
    ``receive_into`` gave one, so bytes are parsed where the kernel put them.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._chunks: list[bytes] = []
        self._scratch: bytearray | None = None
        self._receiver: Receiver | None = None
        self._refused: Exception | None = None  # what the receiver raised
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._lost: Exception | None = None
        self._closed = False
        self._paused = False
        # The bytes waiting to be sent are above the high-water mark (the transport's, or the
        # direct queue's), until they are back below the low-water mark.
        self.writing_paused = False
        self._drained: list[asyncio.Future[None]] = []  # writers waiting for room
        self._sock = transport.get_extra_info("socket")
        self._credentials = peer_credentials(self._sock) if self._sock else Credentials()
        # Keeps the socket readable after the loop closed its own descriptor (see above).
        self._spare: socket.socket | None = None
        # Large writes past a transport that would copy them (Python 3.11: see _direct).
        self._direct: DirectWrites | None = None
        self._direct_ok = transport_copies(transport)

    @property
    def credentials(self) -> Credentials:
        """The peer's pid and uid, read once at connection time."""
        return self._credentials

    def _wake(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _get_buffer(self, sizehint: int) -> memoryview:
        if self._receiver is not None:
            return self._receiver.get_buffer(sizehint)
        if self._scratch is None:
            self._scratch = bytearray(SCRATCH_SIZE)
        return memoryview(self._scratch)

    def _buffer_updated(self, nbytes: int) -> None:
        receiver = self._receiver
        if receiver is None:
            assert self._scratch is not None
            self._chunks.append(bytes(memoryview(self._scratch)[:nbytes]))
            self._wake(self._waiter)
            return
        try:
            receiver.buffer_updated(nbytes)
        except Exception as exc:  # it refused the bytes (a protocol violation): stop reading
            self._refuse(exc)

    def _refuse(self, exc: Exception) -> None:
        self._refused = self._refused or exc
        self._receiver = None
        self.pause_reading()
        self._wake(self._waiter)

    def _keep_spare(self) -> None:
        """Take the second descriptor, before the first write (see the module's docstring)."""
        if self._spare is not None or self._sock is None or self._closed:
            return
        try:
            self._spare = socket.socket(fileno=os.dup(self._sock.fileno()))
        except OSError:  # out of descriptors: the connection works, without that safety net
            self._sock = None

    def _first_write(self) -> None:
        self._keep_spare()
        spare = self._spare
        if self._direct_ok and spare is not None:
            self._direct = DirectWrites(self._loop, spare, self._level)

    def _ended(self, exc: Exception | None, lost: bool = False) -> None:
        if lost and exc is not None and not self._eof:
            self._read_leftovers()
        if lost:
            self._sock = None  # the loop closes it: no spare from now on
            if self._direct is not None:
                self._direct.close()
            if self._spare is not None:
                self._spare.close()
                self._spare = None
        self._eof = True
        self._closed = self._closed or lost
        self._lost = self._lost or exc
        self._wake(self._waiter)
        self._wake_writers()

    def _read_leftovers(self) -> None:
        """What the other end sent before the connection broke (never blocks)."""
        if self._spare is None:
            return
        self._spare.setblocking(False)
        with contextlib.suppress(OSError):  # nothing more (EAGAIN), or reset after the data
            while data := self._spare.recv(RECEIVE_SIZE):
                if self._receiver is None:
                    self._chunks.append(data)
                    continue
                try:
                    feed_receiver(self._receiver, data)
                except Exception as exc:
                    self._refuse(exc)
                    return

    def _pause(self) -> None:
        self._paused = self.writing_paused = True

    def _resume(self) -> None:
        self._paused = False
        self._level()
        self._wake_writers()

    def _level(self) -> None:
        direct = self._direct
        self.writing_paused = self._paused or (direct is not None and direct.high)

    def _wake_writers(self) -> None:
        waiters, self._drained = self._drained, []
        for waiter in waiters:
            self._wake(waiter)

    async def receive(self) -> bytes:
        while not self._chunks:
            if self._eof:
                if self._lost is not None:
                    raise ConnectionLost(f"receive failed: {reason(self._lost)}")
                return b""
            self._waiter = self._loop.create_future()
            await self._waiter
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        return data

    async def receive_into(self, receiver: Receiver) -> None:
        """From now on, received bytes go into ``receiver`` from the loop's read callback;
        return at the end of the stream (see :class:`ByteStream`).

        :raises ConnectionLost: the connection broke.
        """
        self._receiver, self._scratch = receiver, None
        if self._chunks:  # what came through receive()'s buffer and was not taken
            data = b"".join(self._chunks)
            self._chunks.clear()
            feed_receiver(receiver, data)
        while self._refused is None and not self._eof:
            self._waiter = self._loop.create_future()
            await self._waiter
        if self._refused is not None:
            raise self._refused
        if self._lost is not None:
            raise ConnectionLost(f"receive failed: {reason(self._lost)}")

    def pause_reading(self) -> None:
        """Stop reading from the socket (the sender is held back by the kernel's buffers)."""
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`."""
        if not self._transport.is_closing() and self._refused is None:
            self._transport.resume_reading()

    async def drain(self) -> None:
        """Wait until the bytes waiting to be sent are below the low-water mark (or the
        connection ended)."""
        while self._paused and not self._closed:
            waiter = self._loop.create_future()
            self._drained.append(waiter)
            await waiter
        if self._direct is not None:
            await self._direct.wait_below(DIRECT_LOW_WATER)

    def write_nowait(self, data: bytes | memoryview) -> None:
        """Write now, without waiting: the transport buffers what the socket does not take."""
        if self._closed or self._transport.is_closing():
            return
        if self._spare is None:
            self._first_write()
        direct = self._direct
        if len(data) < LARGE_WRITE and (direct is None or not direct.queued):
            self._transport.write(data)  # the common case
            return
        if direct is not None and direct.take(data, not self._transport.get_write_buffer_size()):
            return
        if type(data) is bytes:
            # What the socket does not take now is sliced off: a view is not copied for that.
            data = memoryview(data)
        self._transport.write(data)

    def write_aside(self, data: bytes) -> bytes | None:
        """Send ``data`` from another thread, while the loop's thread is held in a callback
        that writes nothing (see :mod:`hubcore.rpc._watchdog`); only if nothing else waits to
        be sent, so that it follows whole writes.

        :return: what the socket did not take, which the loop's thread must write first
            (:meth:`write_nowait`) once it is back; None if nothing was sent.
        """
        transport, direct = self._transport, self._direct
        if self._closed or transport.is_closing() or transport.get_write_buffer_size():
            return None
        if (direct is not None and direct.queued) or self._sock is None:
            return None
        try:
            sent = os.write(self._sock.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return None  # gone: the loop's reader finds out
        return data[sent:]

    async def send(self, data: bytes) -> None:
        if self._closed or self._transport.is_closing():
            raise ConnectionLost("send failed: the connection is closed")
        self.write_nowait(data)
        await self.drain()

    async def send_eof(self) -> None:
        if self._direct is not None:
            await self._direct.wait_below(0)  # our EOF comes after every byte written
        if self._closed or self._transport.is_closing():
            raise ConnectionLost("send_eof failed: the connection is closed")
        self._keep_spare()
        self._transport.write_eof()

    async def aclose(self) -> None:
        self._closed = True
        if self._direct is not None:
            self._direct.close()
        self._transport.close()  # connection_lost follows, and closes the spare


async def connect(path: str) -> AsyncioStream:
    """Connect to a Unix socket.

    :raises ConnectionLost: nobody listens there.
    """
    loop = asyncio.get_running_loop()
    try:
        _transport, protocol = await loop.create_unix_connection(_Protocol, path)
    except OSError as exc:
        raise ConnectionLost(f"cannot connect to {path}: {reason(exc)}") from exc
    assert protocol.stream is not None
    return protocol.stream


class AsyncioListener:
    """A listening Unix socket (mode 0600) handing each connection to a task.

    It runs its own accept loop rather than ``loop.create_unix_server``, so that running out
    of file descriptors is handled, and logged, the same way on every loop (:mod:`._accept`).
    """

    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address
        self._sock = sock

    async def serve(self, handler: Callable[[ByteStream], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        pause = AcceptPause(self.address)
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    conn, _ = await loop.sock_accept(self._sock)
                except OSError as exc:
                    if exc.errno in SKIPPED:
                        continue
                    if exc.errno not in EXHAUSTED:
                        raise
                    await pause.failed(exc)
                    continue
                pause.accepted()
                tg.start_soon(_serve_accepted, loop, conn, handler)

    async def aclose(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)


async def _serve_accepted(
    loop: asyncio.AbstractEventLoop,
    conn: socket.socket,
    handler: Callable[[ByteStream], Awaitable[None]],
) -> None:
    try:
        _transport, protocol = await loop.connect_accepted_socket(_Protocol, conn)
    except OSError:
        conn.close()  # gone already, or no room for it: the other end sees it closed
        return
    assert protocol.stream is not None
    await handler(protocol.stream)


async def listen(path: str) -> AsyncioListener:
    """Listen on ``path`` (a stale socket file there is replaced)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(path)
        # The run directory is 0700, so the moment between bind and chmod exposes nothing.
        os.chmod(path, 0o600)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return AsyncioListener(path, sock)
