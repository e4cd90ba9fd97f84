"""One connection between two processes: call ids, in-flight calls, CANCEL, streams, events.

How it works: :meth:`Connection.run` owns a task group with a writer task and the reader loop.
The reader feeds whatever arrives into one :class:`FrameDecoder` and handles every complete
frame synchronously: a RESULT wakes its waiting caller, a CALL goes to the handler (which runs
plain methods inline and spawns a task only for coroutines). Writers never await the socket:
they append encoded frames to an outbox that the writer task flushes in one ``send``, so
frames produced together leave together.

Both ends may call: calls we made live in ``_pending`` and calls we serve in ``_running``, so
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
import itertools
import logging
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

import anyio
import anyio.abc

from hubcore._errors import (
    CallNotTaken,
    CallTimeout,
    ConnectionLost,
    PayloadTooLarge,
    ProtocolError,
    reason,
    remote_error,
)
from hubcore.protocol import (
    DEFAULT_MAX_FRAME,
    BadCall,
    Call,
    Cancel,
    Error,
    Event,
    Frame,
    FrameDecoder,
    Goodbye,
    Incoming,
    Ping,
    Pong,
    Result,
    StreamCredit,
    StreamEnd,
    StreamItem,
    encode_frame,
)
from hubcore.protocol._codec import Undecodable
from hubcore.protocol._framing import unencodable_argument
from hubcore.transport import ByteStream

__all__ = ("CallHandler", "Connection", "RemoteStream")

log = logging.getLogger("hubcore.rpc")

STREAM_WINDOW = 16
READ_GRACE = 1.0  # seconds the reader gets, after a send failed, to read what had arrived


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


class _Pending:
    __slots__ = ("done", "error", "event", "items", "lost", "value")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.done = False
        self.lost = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.items: deque[Any] | None = None

    def wake(self) -> None:
        self.event.set()


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
    ) -> None:
        self._stream = stream
        self._decoder = decoder or FrameDecoder()
        self._decoder.max_size = max_frame
        self._early = frames or []
        self.handler = handler
        self.on_event = on_event
        self.max_frame = max_frame
        self.label = label
        self.remote: dict[str, Any] = remote or {}
        self.identity: tuple[str, int] = ("", 0)  # our process and instance, named in errors
        self.lost_error: Callable[[Connection], Awaitable[BaseException]] | None = None
        self.closed = False
        self.goodbye = False
        self.close_reason = ""
        self.remote_took: int | None = None  # from the other end's GOODBYE: the calls it took
        self._taken = 0  # id of the last call we took, announced in our GOODBYE
        self._leaving = False
        self._send_failed = False
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._running: dict[int, anyio.CancelScope] = {}
        self._credit: dict[int, int] = {}
        self._credit_event: dict[int, anyio.Event] = {}
        self._outbox: list[bytes] = []
        self._wake_writer = anyio.Event()
        self._drained = anyio.Event()
        self._drained.set()
        self._finished = anyio.Event()
        self._lost_cache: BaseException | None = None
        self._lost_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None
        # Streams that can queue bytes without a task (asyncio transports) skip the writer.
        self._write_nowait: Callable[[bytes], None] | None = getattr(stream, "write_nowait", None)

    # -- running ---------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve the connection until it closes. Owners start this in their task group."""
        farewell = b""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            if self._write_nowait is None:
                tg.start_soon(self._writer)
            task_status.started()
            try:
                self._handle_all(self._early)
                await self._reader()
            except ProtocolError as exc:
                why = reason(exc)
                log.warning("%s: protocol violation, closing the connection: %s", self.label, why)
                self.close_reason = f"protocol violation: {why}"
                farewell = encode_frame(Goodbye(f"you broke the protocol: {why}"))
            except ConnectionLost as exc:
                self.close_reason = reason(exc)
            finally:
                self._closed()
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._farewell(farewell)
                    await self._stream.aclose()
                self._finished.set()

    async def _farewell(self, data: bytes) -> None:
        """Tell the other end why we hang up, so it does not take us for dead (bounded)."""
        if data:
            with anyio.move_on_after(0.5):
                with contextlib.suppress(ConnectionLost):
                    await self._stream.send(data)

    async def _reader(self) -> None:
        while not self.closed:
            data = await self._stream.receive()
            if not data:
                self.close_reason = self.close_reason or "the other end closed the connection"
                return
            self._handle_all(self._decoder.feed(data))

    async def _writer(self) -> None:
        try:
            while True:
                await self._wake_writer.wait()
                self._wake_writer = anyio.Event()
                while self._outbox:
                    out = self._outbox
                    self._outbox = []
                    await self._stream.send(out[0] if len(out) == 1 else b"".join(out))
                self._drained.set()
        except ConnectionLost as exc:
            self.close_reason = self.close_reason or reason(exc)
            self._send_failed = True
            self._drained.set()
            await anyio.sleep(READ_GRACE)  # the reader ends it first, if the stream ended
            self._closed()
            if self._tg is not None:
                self._tg.cancel_scope.cancel()

    def write(self, data: bytes) -> None:
        """Queue encoded bytes for the writer task (never blocks)."""
        if self.closed or self._send_failed:
            return
        if self._write_nowait is not None:
            self._write_nowait(data)
            return
        self._outbox.append(data)
        if self._drained.is_set():
            self._drained = anyio.Event()
        self._wake_writer.set()

    def send_frame(self, frame: Frame) -> None:
        """Encode and queue one frame.

        :raises TypeError: a value cannot be encoded.
        :raises PayloadTooLarge: the frame exceeds this connection's limit.
        """
        self.write(encode_frame(frame, max_size=self.max_frame))

    async def aclose(self) -> None:
        """Say GOODBYE, flush what is queued (briefly) and close."""
        if self.closed:
            return
        self.write(encode_frame(Goodbye(None, self._taken)))  # no reason, the last call taken
        self._leaving = True
        # Close the way TCP does: our EOF after GOODBYE, then the peer's EOF ends our reader.
        # Cancelling a reader in the middle of a receive instead loses data and, on asyncio,
        # makes the loop log InvalidStateError for the abandoned wait.
        with anyio.move_on_after(1.0):
            await self._drained.wait()
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
        for slot in self._pending.values():
            slot.lost = True
            slot.wake()
        for scope in self._running.values():
            scope.cancel()
        for event in self._credit_event.values():
            event.set()
        self._drained.set()
        if self.handler is not None:
            self.handler.connection_closed(self)

    # -- incoming frames -------------------------------------------------------------------

    def _handle_all(self, frames: list[Incoming]) -> None:
        for frame in frames:
            # The two frames of every call first: exact type checks, no pattern matching.
            if type(frame) is Result:
                self._on_reply(frame)
            elif type(frame) is Call:
                self._on_call(frame)
            else:
                self._on_other(frame)

    def _on_reply(self, frame: Result | Error) -> None:
        slot = self._pending.get(frame.id)
        if slot is None:
            return  # a reply to a call that timed out or was cancelled
        if type(frame) is Result:
            slot.value = frame.value
        else:
            assert type(frame) is Error
            slot.error = self._remote_error(frame)
        slot.done = True
        slot.wake()

    def _remote_error(self, frame: Error) -> BaseException:
        return remote_error(
            frame.type_name,
            frame.message,
            base=frame.base,
            remote_traceback=frame.traceback,
            process=frame.process or self.remote.get("process", ""),
            instance=frame.instance,
            args=frame.args,
        )

    def _on_call(self, frame: Call) -> None:
        if self._leaving:
            return  # crossed our GOODBYE, which told the caller it was not taken
        cid = frame.id
        self._taken = max(self._taken, cid)
        if self.handler is None:
            self.send_error(cid, "LookupError", "this connection serves no objects")
            return
        self.handler.handle_call(
            self, cid, frame.target, frame.method, frame.args, frame.kwargs, frame.window
        )

    def _on_bad_call(self, frame: BadCall) -> None:
        # The frame decoded and its id is valid: fail this call only, not the connection
        # and every other call in flight on it.
        log.warning(
            "%s: malformed CALL %d answered with an error: %s", self.label, frame.id, frame.reason
        )
        self.send_error(frame.id, "TypeError", f"malformed CALL frame: {frame.reason}")

    def _on_other(self, frame: Incoming) -> None:
        match frame:
            case Error():
                self._on_reply(frame)
            case StreamItem() | StreamEnd():
                self._on_stream(frame)
            case Cancel():
                scope = self._running.get(frame.id)
                if scope is not None:
                    scope.cancel()
            case StreamCredit():
                self._add_credit(frame.id, frame.items)
            case Event():
                self._dispatch_event(frame)
            case Ping():
                self.send_frame(Pong(frame.id))
            case Goodbye():
                self._on_goodbye(frame)
            case BadCall():
                self._on_bad_call(frame)
            case Pong():
                pass
            case _:
                kind = frame.KIND
                raise ProtocolError(
                    f"unexpected frame kind {int(kind)} ({kind.name}) after the handshake"
                )

    def _on_goodbye(self, frame: Goodbye) -> None:
        self.goodbye = True
        if frame.reason:
            self.close_reason = f"the other end hung up: {frame.reason}"
        if frame.last_taken is not None:
            self.remote_took = frame.last_taken

    def _dispatch_event(self, frame: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(frame)
        except Exception:
            log.exception("%s: an event callback raised", self.label)

    def _on_stream(self, frame: StreamItem | StreamEnd) -> None:
        slot = self._pending.get(frame.id)
        if slot is None or slot.items is None:
            return
        if type(frame) is StreamItem:
            slot.items.append(frame.value)
        else:
            slot.done = True
        slot.wake()

    # -- calling ---------------------------------------------------------------------------

    def _start_call(
        self, target: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], window: int
    ) -> tuple[int, _Pending]:
        if self.closed:
            raise CallNotTaken(f"connection to {self.label} is closed: {self.close_reason}")
        cid = next(self._ids)
        frame = Call(cid, target, method, list(args), kwargs, window)
        try:
            data = encode_frame(frame, max_size=self.max_frame)
        except TypeError as exc:
            raise unencodable_argument(f"{target}.{method}", args, kwargs, exc) from None
        slot = _Pending()
        self._pending[cid] = slot
        self.write(data)
        return cid, slot

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
        cid, slot = self._start_call(target, method, args, kwargs or {}, 0)
        try:
            with anyio.move_on_after(timeout):
                await slot.event.wait()
            return await self._outcome(cid, slot, f"{target}.{method}", timeout)
        finally:
            self._end_call(cid, slot)

    def not_taken(self, cid: int) -> bool:
        """True if the other end said GOODBYE before it took call ``cid`` (it never ran)."""
        return self.goodbye and self.remote_took is not None and cid > self.remote_took

    def _end_call(self, cid: int, slot: _Pending) -> None:
        del self._pending[cid]
        if not slot.done and not slot.lost:
            self.write(encode_frame(Cancel(cid)))

    async def _outcome(self, cid: int, slot: _Pending, what: str, timeout: float | None) -> Any:
        if slot.done:
            if slot.error is not None:
                raise slot.error
            if isinstance(slot.value, Undecodable):
                raise TypeError(f"{what}: {slot.value.message}")
            return slot.value
        if slot.lost:
            if self.not_taken(cid):
                raise CallNotTaken(f"{what} was not run: {self.label} left before taking it")
            raise await self._lost()
        raise CallTimeout(f"{what} did not answer within {timeout}s (the call was cancelled)")

    async def _lost(self) -> BaseException:
        """The error for calls that the closing of this connection broke (computed once)."""
        async with self._lost_lock:
            if self._lost_cache is None:
                if self.lost_error is not None and not self.goodbye:
                    self._lost_cache = await self.lost_error(self)
                else:
                    self._lost_cache = ConnectionLost(
                        f"connection to {self.label} closed: {self.close_reason}"
                    )
        return self._lost_cache

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
        cid, slot = self._start_call(target, method, args, kwargs or {}, window)
        slot.items = deque()
        return RemoteStream(self, cid, slot, f"{target}.{method}", timeout, window)

    # -- serving ---------------------------------------------------------------------------

    def spawn(self, cid: int, fn: Callable[[], Awaitable[None]]) -> None:
        """Run a served call in its own task, cancellable by the caller's CANCEL."""
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._running[cid] = scope
        self._tg.start_soon(self._serve_one, cid, scope, fn)

    async def _serve_one(
        self, cid: int, scope: anyio.CancelScope, fn: Callable[[], Awaitable[None]]
    ) -> None:
        try:
            with scope:
                await fn()
        finally:
            self._running.pop(cid, None)
            self._credit.pop(cid, None)
            self._credit_event.pop(cid, None)

    def send_result(self, cid: int, value: Any, what: str = "result") -> None:
        """Reply with a value; an unencodable or oversized one becomes an error reply."""
        try:
            self.send_frame(Result(cid, value))
        except (TypeError, PayloadTooLarge) as exc:
            self.send_error(cid, type(exc).__name__, f"the {what} could not be sent: {exc}")

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
        process, instance = self.identity
        frame = Error(cid, type_name, message, tb, args, process, instance, base or type_name)
        try:
            self.send_frame(frame)
        except (TypeError, PayloadTooLarge):
            self.send_frame(replace(frame, args=tuple(repr(a)[:200] for a in args)))

    def send_exception(self, cid: int, exc: Exception) -> None:
        """Reply with a raised exception, its traceback text included."""
        tb = "".join(traceback.format_exception(exc))
        self.send_error(cid, type(exc).__name__, str(exc), tb, exc.args, _builtin_base(exc))

    def _add_credit(self, cid: int, n: int) -> None:
        self._credit[cid] = self._credit.get(cid, 0) + n
        event = self._credit_event.get(cid)
        if event is not None:
            event.set()

    async def send_stream_item(self, cid: int, value: Any, window: int) -> None:
        """Send one item of a served stream, waiting while the consumer holds no credit."""
        self._credit.setdefault(cid, window)
        while self._credit[cid] <= 0:
            if self.closed:
                raise ConnectionLost("the consumer of the stream went away")
            event = self._credit_event[cid] = anyio.Event()
            await event.wait()
        self._credit[cid] -= 1
        self.send_frame(StreamItem(cid, value))

    def send_event(self, source: str, name: str, data: Any, generation: int, instance: int) -> None:
        """Push an event to the other end (no reply)."""
        self.send_frame(Event(source, name, data, generation, instance))


class RemoteStream:
    """The consumer side of a remote async generator, with credit-based back-pressure.

    The producer may run at most ``window`` items ahead of what this side consumed.
    """

    def __init__(
        self,
        conn: Connection,
        cid: int,
        slot: _Pending,
        what: str,
        timeout: float | None,
        window: int,
    ) -> None:
        self._conn = conn
        self._cid = cid
        self._slot = slot
        self._what = what
        self._timeout = timeout
        self._window = window
        self._consumed = 0
        self._finished = False

    def __aiter__(self) -> RemoteStream:
        return self

    async def __anext__(self) -> Any:
        slot = self._slot
        assert slot.items is not None
        while not slot.items:
            if self._finished:
                raise StopAsyncIteration
            if slot.done or slot.lost:
                await self._finish()
            slot.event = anyio.Event()
            with anyio.move_on_after(self._timeout):
                await slot.event.wait()
            if not (slot.items or slot.done or slot.lost):
                await self.aclose()
                raise CallTimeout(f"{self._what} sent no item within {self._timeout}s")
        item = slot.items.popleft()
        self._credit()
        if isinstance(item, Undecodable):
            raise TypeError(item.message)
        return item

    def _credit(self) -> None:
        self._consumed += 1
        if self._consumed * 2 >= self._window and not self._conn.closed:
            self._conn.write(encode_frame(StreamCredit(self._cid, self._consumed)))
            self._consumed = 0

    async def _finish(self) -> None:
        self._finished = True
        self._conn._pending.pop(self._cid, None)
        if self._slot.error is not None:
            raise self._slot.error
        if self._slot.lost and not self._slot.done:
            raise await self._conn._lost()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop consuming: the producer is cancelled."""
        if not self._finished:
            self._finished = True
            if self._cid in self._conn._pending:
                self._conn._end_call(self._cid, self._slot)

    async def __aenter__(self) -> RemoteStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _builtin_base(exc: Exception) -> str:
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return ""
