"""A connection the calling thread drives itself: one blocking call at a time, no event loop.

How it works: :meth:`BlockingConnection.open` connects and runs the handshake's sans-IO client
machine (:mod:`hubcore.protocol._handshake`) over a blocking socket. ``call`` encodes a CALL,
sends it, and reads until the RESULT or ERROR of that id arrives, handling what else comes as
the async :class:`~hubcore.rpc.Connection` does: a PING is answered, a CALL is refused (this
end serves no objects), a GOODBYE is noted, events and stray stream frames are dropped (nothing
subscribes or streams on it). A reply for an earlier id is the late answer of a call that timed
out: dropped. The frames, the codec and every decision about a call's outcome
(:mod:`hubcore.rpc._outcome`) are those of the async connection.

Used by one thread at a time; only :meth:`interrupt` may come from another thread.

States: open -> closed (the other end closed, the socket broke, the other end broke the
protocol, or :meth:`close` / :meth:`interrupt`). A closed connection takes no call. A call
whose connection closed under it gets ``CallNotTaken``, ``ConnectionLost`` or, when the other
end vanished without GOODBYE, what :attr:`lost_error` says (a crash, from the hub's facts).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hubcore._errors import CallNotTaken, ConnectionLost, ProtocolError, reason
from hubcore.protocol import (
    DEFAULT_MAX_FRAME,
    NONCE_SIZE,
    BadCall,
    Call,
    Cancel,
    ClientHandshake,
    Error,
    Event,
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
from hubcore.protocol._bulk import agreed, has_large, with_features
from hubcore.protocol._framing import encode_frame_parts, encode_parts, unencodable_argument
from hubcore.rpc._error_frames import encode_error, error_frame, raised_error
from hubcore.rpc._outcome import (
    NOWHERE,
    STACK_WAIT,
    Stuck,
    closed_error,
    goodbye_reason,
    not_taken,
    not_taken_error,
    result_value,
    stuck,
    timeout_error,
)
from hubcore.transport.blocking import BlockingStream

__all__ = ("BlockingConnection",)

HANDSHAKE_TIMEOUT = 5.0  # as the async handshake's (rpc/_handshake.py)
FAREWELL_TIMEOUT = 0.5  # seconds to send a GOODBYE or a CANCEL on the way out
LARGE_FRAME = 1 << 20  # bytes from which a frame's header and body are sent apart
_IGNORED = (Event, StreamItem, StreamEnd, StreamCredit, Cancel, Pong)


class BlockingConnection:
    """An authenticated connection that one thread at a time calls through, blocking."""

    def __init__(
        self,
        stream: BlockingStream,
        *,
        decoder: FrameDecoder,
        frames: list[Incoming],
        label: str,
        remote: dict[str, Any],
        max_frame: int = DEFAULT_MAX_FRAME,
        bulk: bool = False,
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        decoder.max_size = max_frame
        self._frames: deque[Incoming] = deque(frames)
        self._ids = itertools.count(1)
        self.label = label
        self.remote = remote
        self.max_frame = max_frame
        self.bulk = bulk  # the other end takes large binary values apart (BULK frames)
        self.identity: tuple[str, int] = ("", 0)  # our process and instance, named in errors
        self.closed = False
        self.goodbye = False
        self.close_reason = ""
        self.remote_took: int | None = None  # from the other end's GOODBYE: the calls it took
        #: The error of a call whose connection vanished without GOODBYE (a crash).
        self.lost_error: Callable[[BlockingConnection], BaseException] | None = None
        self._interrupted = False
        self._stream_ended = False  # nothing more will be read

    @classmethod
    def open(
        cls,
        address: str,
        token: bytes,
        info: dict[str, Any],
        *,
        label: str,
        max_frame: int = DEFAULT_MAX_FRAME,
        timeout: float | None = None,
    ) -> BlockingConnection:
        """Connect to ``address`` and authenticate, within ``timeout`` seconds (and the
        handshake's own 5 s).

        :raises ConnectionLost: nothing listens at ``address``, or it hung up.
        :raises AuthenticationFailed: the token was refused.
        :raises ProtocolError: the other end does not speak the handshake.
        :raises TimeoutError: no connection within the time.
        """
        limit = HANDSHAKE_TIMEOUT if timeout is None else min(timeout, HANDSHAKE_TIMEOUT)
        deadline = time.monotonic() + limit
        stream = BlockingStream.connect(address, limit)
        try:
            machine = ClientHandshake(token, with_features(info), os.urandom(NONCE_SIZE))
            stream.send(machine.hello(), _left(deadline))
            while not machine.done:
                data = stream.receive(_left(deadline))
                if not data:
                    raise ConnectionLost("the other end closed the connection during the handshake")
                if out := machine.receive_data(data):
                    stream.send(out, _left(deadline))
        except TimeoutError:
            stream.close()
            raise TimeoutError(
                f"the other end did not complete the handshake within {limit:g} s"
            ) from None
        except BaseException:
            stream.close()
            raise
        return cls(
            stream,
            decoder=machine.decoder,
            frames=machine.frames,
            label=label,
            remote=machine.remote,
            max_frame=max_frame,
            bulk=agreed(machine.remote),
        )

    # -- calling ---------------------------------------------------------------------------

    def call(
        self,
        target: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        chain: tuple[float | None, str] = (None, ""),
    ) -> Any:
        """Call ``target.method`` on the other end and return its result.

        :param chain: the CALL's ``budget`` and ``call_id`` (``left`` is ``timeout``; see
            :class:`~hubcore.protocol.Call`).

        :raises TypeError: an argument cannot be encoded (nothing was sent).
        :raises PayloadTooLarge: the call exceeds the frame limit (nothing was sent).
        :raises CallNotTaken: the connection is closed (nothing was sent), or the other end
            left before taking the call.
        :raises CallTimeout: no answer within ``timeout``; the callee was sent a CANCEL.
        :raises RemoteError: the method raised.
        :raises ConnectionLost: the connection closed with the call in flight (a
            ``ProcessCrashed`` when the other end vanished, from :attr:`lost_error`).
        """
        what = f"{target}.{method}"
        if self.closed:
            raise CallNotTaken(f"connection to {self.label} is closed: {self.close_reason}")
        if timeout is not None and timeout <= 0:
            raise timeout_error(what, timeout)  # the time was up before anything was sent
        cid = next(self._ids)
        kwargs = kwargs or {}
        try:
            frame = Call(cid, target, method, list(args), kwargs, 0, timeout, *chain)
            if self.bulk and has_large(frame):  # large binary values go apart, uncopied
                parts = encode_parts(frame, max_size=self.max_frame)
            else:
                header, body = encode_frame_parts(frame, max_size=self.max_frame)
                # Apart when large: joining them would copy the body, a buffer of its size.
                parts = [header + body] if len(body) < LARGE_FRAME else [header, body]
                del body
        except TypeError as exc:
            raise unencodable_argument(what, args, kwargs, exc) from None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for part in parts:
                self._send(part, _left(deadline))
            del parts, part  # a large call's frame is not kept while the reply arrives
            reply = self._reply(cid, deadline)
        except TimeoutError:
            raise timeout_error(what, timeout, self._cancel(cid)) from None
        except BaseException:  # KeyboardInterrupt: half a frame may be sent or read
            self._abandon("interrupted in the middle of a call")
            raise
        if reply is None:
            raise self._lost(cid, what)
        if isinstance(reply, Error):
            if (where := stuck(reply)) is not None:  # the callee gave up on us first
                raise timeout_error(what, timeout, where)
            raise raised_error(reply, self.remote.get("process", ""))
        return result_value(reply.value, what)

    def _send(self, data: bytes, timeout: float | None) -> None:
        """Send; a send that fails does not decide: what the other end said before does."""
        try:
            self._stream.send(data, timeout)
        except ConnectionLost as exc:
            self.close_reason = self.close_reason or reason(exc)
            self._closed()  # what arrived before can still be read
        except TimeoutError:
            self._abandon("a send did not finish in time")  # half a frame may be out
            raise

    def _reply(self, cid: int, deadline: float | None) -> Result | Error | None:
        """The RESULT or ERROR of ``cid``; None if the connection closed first.

        :raises TimeoutError: the deadline passed.
        """
        while True:
            while self._frames:
                frame = self._frames.popleft()
                if type(frame) is Result or type(frame) is Error:
                    if frame.id == cid:
                        return frame
                    continue  # the late reply of a call that timed out
                self._on_other(frame)
            if self.closed and self._stream_ended:
                return None
            self._read(deadline)

    def _read(self, deadline: float | None) -> None:
        """Receive what arrived straight into the decoder's buffer (a large frame into a buffer
        of its size, a BULK value into the bytes it becomes) and take the frames it completes.
        """
        decoder = self._decoder
        try:
            try:
                n = self._stream.receive_into(decoder.get_buffer(), _left(deadline))
            except TimeoutError:
                if decoder.buffered:  # a frame arrived in part: leave none half read
                    self._abandon("the time was up in the middle of a frame")
                raise
            if not n:
                self._ended()
                return
            decoder.buffer_updated(n)
            self._frames.extend(decoder.frames())
        except ConnectionLost as exc:
            self.close_reason = self.close_reason or reason(exc)
            self._ended()
        except ProtocolError as exc:
            self._protocol_violation(reason(exc))

    def _ended(self) -> None:
        """Nothing more will arrive."""
        self._stream_ended = True
        if self._interrupted:
            self.close_reason = "closed by this side"
        self.close_reason = self.close_reason or "the other end closed the connection"
        self._closed()

    def _on_other(self, frame: Incoming) -> None:
        if type(frame) is Goodbye:
            self.goodbye = True
            self.close_reason = goodbye_reason(frame) or self.close_reason
            if frame.last_taken is not None:
                self.remote_took = frame.last_taken
        elif type(frame) is Ping:
            self._send_quietly(encode_frame(Pong(frame.id)))
        elif type(frame) is Call or type(frame) is BadCall:
            refusal = error_frame(
                frame.id, "LookupError", "this connection serves no objects", identity=self.identity
            )
            self._send_quietly(encode_error(refusal, max_size=self.max_frame))
        elif not isinstance(frame, _IGNORED):
            kind = frame.KIND
            self._protocol_violation(
                f"unexpected frame kind {int(kind)} ({kind.name}) after the handshake"
            )

    def _lost(self, cid: int, what: str) -> BaseException:
        """The error of call ``cid``, whose connection closed before its reply."""
        if not_taken(cid, self.goodbye, self.remote_took):
            return not_taken_error(what, self.label)
        if self.goodbye or self._interrupted or self.lost_error is None:
            return closed_error(self.label, self.close_reason)
        return self.lost_error(self)

    def _protocol_violation(self, why: str) -> None:
        import logging  # here: a short-lived command that never sees one never loads it

        log = logging.getLogger("hubcore.rpc")  # the async connection's logger and line
        log.warning("%s: protocol violation, closing the connection: %s", self.label, why)
        self.close_reason = f"protocol violation: {why}"
        self._send_quietly(encode_frame(Goodbye(f"you broke the protocol: {why}")))
        self._abandon(self.close_reason)

    # -- leaving ---------------------------------------------------------------------------

    def _cancel(self, cid: int) -> Stuck:
        """Tell the callee to stop ``cid`` (we stopped waiting for it); return where its
        method was, if the callee says so within ``STACK_WAIT`` (as the async connection
        does: :mod:`hubcore.rpc._calls`)."""
        if self.closed:
            return NOWHERE
        self._send_quietly(encode_frame(Cancel(cid)))
        try:
            reply = self._reply(cid, time.monotonic() + STACK_WAIT)
        except TimeoutError:
            return NOWHERE  # no answer: a later one is dropped as the late reply it is
        except (ConnectionLost, ProtocolError):
            return NOWHERE  # the connection closed meanwhile: the next call finds out
        where = stuck(reply) if isinstance(reply, Error) else None
        return where or NOWHERE

    def _send_quietly(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._stream.send(data, FAREWELL_TIMEOUT)
        except (ConnectionLost, TimeoutError):
            self._abandon("a send failed")

    def _closed(self) -> None:
        self.closed = True

    def _abandon(self, why: str) -> None:
        """Close at once: nothing more is read or written."""
        self.close_reason = self.close_reason or why
        self.closed = True
        self._stream_ended = True
        self._stream.close()

    def close(self) -> None:
        """Say GOODBYE (no call was ever taken here) and close. Idempotent."""
        if self._stream_ended:
            return
        if not self.closed:
            self._send_quietly(encode_frame(Goodbye(None, 0)))
            self._stream.send_eof()
        self.close_reason = self.close_reason or "closed by this side"
        self._abandon(self.close_reason)

    def interrupt(self) -> None:
        """From another thread: end the connection, waking a call blocked on it (which then
        fails with ``ConnectionLost``). Idempotent."""
        self._interrupted = True
        with contextlib.suppress(Exception):
            self._stream.interrupt()


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
