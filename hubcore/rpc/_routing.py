"""Where each incoming frame other than a RESULT or a CALL goes (the connection handles those
two itself, first: they are every call's frames).

A reply or stream frame goes to the calls this end made, a CANCEL or STREAM_CREDIT to the
calls it serves, an EVENT to the owner's callback, a PING is answered, a GOODBYE noted. A CALL
whose fields are wrong is answered with an error, for that call only. Any other kind breaks
the protocol.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubcore._errors import ProtocolError
from hubcore.protocol import (
    BadCall,
    Cancel,
    Error,
    Event,
    Goodbye,
    Incoming,
    Ping,
    Pong,
    StreamCredit,
    StreamEnd,
    StreamItem,
)
from hubcore.rpc._outcome import goodbye_reason

if TYPE_CHECKING:
    from hubcore.rpc._connection import Connection

__all__ = ("route_other",)

log = logging.getLogger("hubcore.rpc")


def route_other(conn: Connection, frame: Incoming) -> None:
    """Handle one frame that is neither a RESULT nor a CALL.

    :raises ProtocolError: a kind that has no place after the handshake.
    """
    match frame:
        case Error():
            conn.calls.on_reply(frame)
        case StreamItem() | StreamEnd():
            conn.calls.on_stream(frame)
        case Cancel():
            conn.cancel_served(frame.id)
        case StreamCredit():
            conn.serving.add_credit(frame.id, frame.items)
        case Event():
            _dispatch_event(conn, frame)
        case Ping():
            conn.send_frame(Pong(frame.id))
        case Goodbye():
            _on_goodbye(conn, frame)
        case BadCall():
            _on_bad_call(conn, frame)
        case Pong():
            pass
        case _:
            kind = frame.KIND
            raise ProtocolError(
                f"unexpected frame kind {int(kind)} ({kind.name}) after the handshake"
            )


def _on_bad_call(conn: Connection, frame: BadCall) -> None:
    # The frame decoded and its id is valid: fail this call only, not the connection and
    # every other call in flight on it.
    log.warning(
        "%s: malformed CALL %d answered with an error: %s", conn.label, frame.id, frame.reason
    )
    conn.send_error(frame.id, "TypeError", f"malformed CALL frame: {frame.reason}")


def _on_goodbye(conn: Connection, frame: Goodbye) -> None:
    conn.goodbye = True
    if (why := goodbye_reason(frame)) is not None:
        conn.close_reason = why
    if frame.last_taken is not None:
        conn.remote_took = frame.last_taken


def _dispatch_event(conn: Connection, frame: Event) -> None:
    if conn.on_event is None:
        return
    try:
        conn.on_event(frame)
    except Exception:
        log.exception("%s: an event callback raised", conn.label)
