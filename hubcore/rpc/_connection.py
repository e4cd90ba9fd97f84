"""One connection between two processes: its life, and where each incoming frame goes.

How it works: :meth:`Connection.run` owns a task group with the reader (and, for streams that
cannot queue bytes themselves, the writer task of :class:`~hubcore.rpc._outbox.Outbox`). The
stream reads straight into the buffer of one :class:`FrameDecoder` (``receive_into``), and the
connection handles every complete frame synchronously as the bytes arrive: on asyncio from the
loop's read callback, with no task in between. A RESULT wakes its waiting caller
(:class:`~hubcore.rpc._calls.Calls`), a CALL goes to the handler (which runs plain methods
inline and spawns a task only for coroutines, :class:`~hubcore.rpc._serving.Serving`). Writers
never await the socket. The outbox is corked while a batch of frames is handled, so the
replies to a batch of calls leave in one write; on asyncio, when a batch woke several
callers, it stays corked until they have run, so their next calls leave together too.

Both ends may call: calls we made live in ``calls`` and calls we serve in ``serving``, so
their ids never collide.

States: open -> (leaving) -> closed. :meth:`aclose` says GOODBYE with the id of the last call
it took, then takes no more (a CALL crossing the GOODBYE is dropped); the other end fails its
calls above that id with ``CallNotTaken`` (never ran: may go to another process). On close
(end of stream, transport error, protocol violation or :meth:`aclose`) every pending call wakes
and fails, every running call is cancelled. A peer that said GOODBYE left on purpose; one that
vanished without it crashed (``lost_error`` makes that ``ProcessCrashed``). A failed send does
not stop the reader, so every frame that arrived (a GOODBYE) counts.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

import anyio
import anyio.abc

from hubcore._errors import ConnectionLost, ProtocolError, reason
from hubcore.protocol import (
    DEFAULT_MAX_FRAME,
    Call,
    Event,
    Frame,
    FrameDecoder,
    Goodbye,
    Incoming,
    Result,
    StreamItem,
    encode_frame,
)
from hubcore.protocol._bulk import has_large
from hubcore.protocol._framing import encode_parts
from hubcore.rpc._calls import Calls
from hubcore.rpc._chain import SERVING
from hubcore.rpc._handler import CallHandler
from hubcore.rpc._holding import Holding
from hubcore.rpc._outbox import Outbox
from hubcore.rpc._outcome import closed_error, not_taken
from hubcore.rpc._routing import route_other
from hubcore.rpc._serving import Serving
from hubcore.rpc._streams import STREAM_WINDOW, RemoteStream
from hubcore.rpc._waiting import AsyncioWaiting, TrioWaiting, for_running_loop
from hubcore.rpc._watchdog import Guard
from hubcore.transport import ByteStream

__all__ = ("STREAM_WINDOW", "CallHandler", "Connection", "RemoteStream")

log = logging.getLogger("hubcore.rpc")

_VALUES = frozenset({Call, Result, StreamItem})  # frames that may carry large values apart
READ_GRACE = 1.0  # seconds the reader gets, after a send failed, to read what had arrived
FAREWELL_TIMEOUT = 0.5  # seconds to tell a peer that broke the protocol why it is dropped
CLOSE_TIMEOUT = 1.0  # seconds aclose() waits for the queue to drain and the peer's EOF


class _Receiver:
    """What the stream reads into: the decoder's buffer; each read calls ``received``."""

    __slots__ = ("_decoder", "_received", "get_buffer")

    def __init__(self, decoder: FrameDecoder, received: Callable[[], None]) -> None:
        self._decoder = decoder
        self._received = received
        self.get_buffer = decoder.get_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._decoder.buffer_updated(nbytes)
        self._received()


class Connection:
    """A framed, multiplexed, two-way RPC connection over a :class:`ByteStream`."""

    def __init__(
        self,
        stream: ByteStream,
        *,
        decoder: FrameDecoder | None = None,
        frames: list[Incoming] | None = None,
        handler: CallHandler | None = None,
        on_event: Callable[[Event], None] | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        label: str = "remote",
        remote: dict[str, Any] | None = None,
        bulk: bool = False,
    ) -> None:
        """:param bulk: the other end takes large binary values outside the msgpack body
        (BULK frames: it listed the ``bulk`` feature in the handshake)."""
        self._stream = stream
        self._decoder = decoder or FrameDecoder()
        self._decoder.max_size = max_frame
        self._early = frames or []
        self.handler = handler
        self.on_event = on_event
        self.max_frame = max_frame
        self.bulk = bulk
        self.label = label
        self.remote: dict[str, Any] = remote or {}
        self.identity: tuple[str, int] = ("", 0)  # our process and instance, named in errors
        self.lost_error: Callable[[Connection], Awaitable[BaseException]] | None = None
        self.closed = False
        self.goodbye = False
        self.close_reason = ""
        self.remote_took: int | None = None  # from the other end's GOODBYE: the calls it took
        self._waiting = waiting = for_running_loop()
        self._loop = waiting.loop if isinstance(waiting, AsyncioWaiting) else None
        self.calls = Calls(self, waiting)
        self.serving = Serving(self, self._loop)
        self._outbox = Outbox(stream)
        self._guard = Guard.of(self, stream)  # for a plain method that holds the loop too long
        self._taken = 0  # id of the last call we took, announced in our GOODBYE
        self._holding = Holding(self)  # CALLs held back while serving is full
        self._leaving = False
        self._finished = anyio.Event()
        self._failure: BaseException | None = None
        self._failure_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    # -- running ---------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve the connection until it closes. Owners start this in their task group."""
        farewell = b""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            if self._outbox.needs_pump:
                tg.start_soon(self._writer)
            if isinstance(self._waiting, TrioWaiting):
                tg.start_soon(self._waiting.run_timer)  # the timeouts of calls on trio
            task_status.started()
            try:
                self._handle_batch(self._early)
                await self._reader()
            except ProtocolError as exc:
                why = reason(exc)
                log.warning("%s: protocol violation, closing the connection: %s", self.label, why)
                self.close_reason = f"protocol violation: {why}"
                farewell = encode_frame(Goodbye(f"you broke the protocol: {why}"))
            except ConnectionLost as exc:
                # A GOODBYE's reason, if one came, says more than the reset that may follow it
                # (an end that drops us with bytes of ours unread resets the connection).
                self.close_reason = self.close_reason or reason(exc)
            finally:
                self._closed()
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._farewell(farewell)
                    await self._stream.aclose()
                    await self.serving.finished()
                self._finished.set()

    async def _farewell(self, data: bytes) -> None:
        """Tell the other end why we hang up, so it does not take us for dead (bounded)."""
        if data:
            with anyio.move_on_after(FAREWELL_TIMEOUT):
                with contextlib.suppress(ConnectionLost):
                    await self._stream.send(data)

    async def _reader(self) -> None:
        await self._stream.receive_into(_Receiver(self._decoder, self._received))
        self.close_reason = self.close_reason or "the other end closed the connection"

    def _received(self) -> None:
        """Bytes arrived in the decoder's buffer: handle the frames they complete.

        :raises ProtocolError: they are not valid frames (the stream stops reading).
        """
        self._handle_batch(self._decoder.frames())

    def _handle_batch(self, frames: list[Incoming]) -> None:
        """Handle frames that arrived together, with the outbox corked."""
        if not frames or self.closed:
            return
        if SERVING.get() is not None:
            # The reader runs in the context its connection was made in, which may have been
            # while serving a call (a method's first call to a peer): the frames it handles
            # (calls without a deadline, events) are no part of that call. Once is enough:
            # the reader's context is its own from then on.
            SERVING.set(None)
        outbox = self._outbox
        outbox.cork()
        woke = 0
        try:
            woke = self._handle_all(frames)
        finally:
            if woke > 1 and self._loop is not None:
                self._loop.call_soon(outbox.uncork)  # after the callers it woke have run
            else:
                outbox.uncork()

    async def _writer(self) -> None:
        try:
            await self._outbox.pump()
        except ConnectionLost as exc:
            self.close_reason = self.close_reason or reason(exc)
            await anyio.sleep(READ_GRACE)  # the reader ends it first, if the stream ended
            self._closed()
            if self._tg is not None:
                self._tg.cancel_scope.cancel()

    def write(self, data: bytes) -> None:
        """Queue encoded bytes (never blocks)."""
        self._outbox.write(data)

    def send_frame(self, frame: Frame) -> None:
        """Encode and queue one frame (its large binary values apart, if the other end takes
        BULK frames).

        :raises TypeError: a value cannot be encoded.
        :raises PayloadTooLarge: the frame exceeds this connection's limit.
        """
        if self.bulk and type(frame) in _VALUES and has_large(frame):  # type: ignore[arg-type]
            self._outbox.write_parts(encode_parts(frame, max_size=self.max_frame))
        else:
            self._outbox.write(encode_frame(frame, max_size=self.max_frame))

    def write_parts(self, parts: list[bytes]) -> None:
        """Queue buffers that go out in order (never blocks): a frame and its raw values."""
        self._outbox.write_parts(parts)

    async def aclose(self) -> None:
        """Say GOODBYE, flush what is queued (briefly) and close."""
        if self.closed:
            return
        self.write(encode_frame(Goodbye(None, self._taken)))  # no reason, the last call taken
        self._leaving = True
        self._holding.held.clear()  # never taken: the GOODBYE has their callers send them again
        # Close the way TCP does: our EOF after GOODBYE, then the peer's EOF ends our reader.
        # Cancelling a reader in the middle of a receive instead loses data and, on asyncio,
        # makes the loop log InvalidStateError for the abandoned wait.
        with anyio.move_on_after(CLOSE_TIMEOUT):
            await self._outbox.drained.wait()
            try:
                await self._stream.send_eof()
            except ConnectionLost:
                pass  # already gone: nothing to wait for
            else:
                await self._finished.wait()
        self.close_reason = self.close_reason or "closed by this side"
        self._closed()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    def _closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._holding.held.clear()
        self.calls.lose_all()
        self._waiting.close()
        self.serving.close()
        self._outbox.close()
        if self._guard is not None:
            self._guard.close()
        if self.handler is not None:
            self.handler.connection_closed(self)

    def not_taken(self, cid: int) -> bool:
        """True if the other end said GOODBYE before it took call ``cid`` (it never ran)."""
        return not_taken(cid, self.goodbye, self.remote_took)

    async def failure(self) -> BaseException:
        """The error for calls that the closing of this connection broke (computed once):
        ``lost_error``'s (a crash) if the other end vanished without GOODBYE."""
        async with self._failure_lock:
            if self._failure is None:
                if self.lost_error is not None and not self.goodbye:
                    self._failure = await self.lost_error(self)
                else:
                    self._failure = closed_error(self.label, self.close_reason)
        return self._failure

    # -- incoming frames -------------------------------------------------------------------

    def _handle_all(self, frames: list[Incoming]) -> int:
        """Handle received frames in order; return how many were results (callers woken)."""
        results = 0
        for frame in frames:
            # The two frames of every call first: exact type checks, no pattern matching.
            if type(frame) is Result:
                self.calls.on_reply(frame)
                results += 1
            elif type(frame) is Call:
                self._on_call(frame)
            else:
                route_other(self, frame)
        return results

    def _on_call(self, frame: Call) -> None:
        if self._leaving:
            return  # crossed our GOODBYE, which told the caller it was not taken
        handler = self.handler
        if handler is None or self._holding.held or not self._holding.may_take():
            if handler is not None:
                self._holding.hold(frame)
            else:
                self.take(frame)
            return
        cid = frame.id  # the common case, as take does
        self._taken = max(self._taken, cid)
        if frame.left is None and not frame.call_id:
            handler.handle_call(
                self, cid, frame.target, frame.method, frame.args, frame.kwargs, frame.window
            )
        else:
            self._serve_chained(handler, frame)

    def _serve_chained(self, handler: CallHandler, frame: Call) -> None:
        """Handle a CALL that is part of a chain: the method, and what it starts, see it
        (:mod:`hubcore.rpc._chain`)."""
        arrived = monotonic()
        token = SERVING.set((frame, arrived))
        guard = self._guard  # the watchdog may answer for a method that holds the loop
        if guard is not None and not guard.arm(frame, arrived, self._outbox.corked):
            guard = None
        try:
            handler.handle_call(
                self, frame.id, frame.target, frame.method, frame.args, frame.kwargs, frame.window
            )
        finally:
            if guard is not None:
                guard.disarm()
            SERVING.reset(token)

    def take(self, frame: Call) -> None:
        """Serve a CALL now (one that was held, or one on a connection without a handler)."""
        cid = frame.id
        self._taken = max(self._taken, cid)
        if self.handler is None:
            self.send_error(cid, "LookupError", "this connection serves no objects")
            return
        self._serve_chained(self.handler, frame)

    # -- holding the caller back (:mod:`hubcore.rpc._holding`) ---------------------------

    def room_freed(self) -> None:
        """A served call ended, or the replies drained: take the held calls that fit now."""
        self._holding.room_freed()

    def cancel_served(self, cid: int) -> None:
        """The caller's CANCEL for ``cid``: forget it if held, else cancel it if running."""
        self._holding.forget(cid)
        self.serving.cancel(cid)

    async def room_to_write(self) -> None:
        """Wait while more than the high-water mark of our writes waits to be sent."""
        await self._outbox.drain()

    # -- calling ---------------------------------------------------------------------------

    async def call(
        self,
        target: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call ``target.method`` on the other end and return its result.

        :raises TypeError: an argument cannot be encoded (nothing was sent).
        :raises PayloadTooLarge: the call exceeds the frame limit (nothing was sent).
        :raises CallTimeout: no answer within ``timeout``; the callee was sent a CANCEL.
        :raises RemoteError: the method raised.
        :raises ProcessCrashed: the other process died with the call in flight.
        """
        return await self.calls.call(target, method, args, kwargs or {}, timeout)

    def open_stream(
        self,
        target: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        window: int = STREAM_WINDOW,
    ) -> RemoteStream:
        """Call an async-generator method; iterate the result to receive its items."""
        cid, slot = self.calls.start(target, method, args, kwargs or {}, window)
        slot.items = deque()
        return RemoteStream(self, cid, slot, f"{target}.{method}", timeout, window)

    # -- serving (what a CallHandler answers through) --------------------------------------

    def spawn(self, cid: int, fn: Callable[[], Awaitable[None]], *, stream: bool = False) -> None:
        """Run a served call in its own task, cancellable by the caller's CANCEL.

        :param stream: it serves a stream (not counted among the calls that hold back more).
        """
        assert self._tg is not None
        self.serving.spawn(self._tg, cid, fn, not stream)

    def send_result(self, cid: int, value: Any, what: str = "result") -> None:
        """Reply with a value; an unencodable or oversized one becomes an error reply."""
        self.serving.send_result(cid, value, what)

    def send_error(
        self,
        cid: int,
        type_name: str,
        message: str,
        tb: str = "",
        args: tuple[Any, ...] = (),
        base: str = "",
    ) -> None:
        """Reply with an error (``args`` are kept only if they can be encoded).

        :param base: the nearest builtin class of a user exception (``ValueError`` for a
            ``class PageError(ValueError)``), so callers can catch it by that type.
        """
        self.serving.send_error(cid, type_name, message, tb, args, base)

    def send_exception(self, cid: int, exc: Exception) -> None:
        """Reply with a raised exception, its traceback text included."""
        self.serving.send_exception(cid, exc)

    async def send_stream_item(self, cid: int, value: Any, window: int) -> None:
        """Send one item of a served stream, waiting while the consumer holds no credit."""
        await self.serving.send_stream_item(cid, value, window)

    def send_event(self, source: str, name: str, data: Any, generation: int, instance: int) -> None:
        """Push an event to the other end (no reply)."""
        self.send_frame(Event(source, name, data, generation, instance))
