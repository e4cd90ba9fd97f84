"""Sans-IO wire protocol: frames, values and handshake maths. No sockets, no clocks.

- frames as classes, one per kind (:class:`Call`, :class:`Result`, ...; ``_frames``);
- bytes <-> frames: :func:`encode_frame` and :class:`FrameDecoder` (``_framing``);
- values: :class:`Codec` (``_codec``); reserved names (``_names``);
- the handshake: its proofs (``_auth``) and its two ends as state machines,
  :class:`ClientHandshake` and :class:`ServerHandshake` (``_handshake``), which the async and
  the blocking connections both drive.
"""

from __future__ import annotations

from hubcore.protocol._auth import NONCE_SIZE, PROTOCOL_VERSION, proof, verify
from hubcore.protocol._codec import DEFAULT_CODEC, Codec, register_codec
from hubcore.protocol._frames import (
    Auth,
    BadCall,
    Call,
    Cancel,
    Challenge,
    Error,
    Event,
    Goodbye,
    Hello,
    Kind,
    Ping,
    Pong,
    Result,
    StreamCredit,
    StreamEnd,
    StreamItem,
    Welcome,
)
from hubcore.protocol._framing import (
    DEFAULT_MAX_FRAME,
    HEADER,
    Frame,
    FrameDecoder,
    Incoming,
    encode_frame,
)
from hubcore.protocol._handshake import MAX_HANDSHAKE_FRAME, ClientHandshake, ServerHandshake
from hubcore.protocol._names import (
    CANCELLED,
    CONTROL_TARGET,
    GET_PROPERTY,
    HUB_TARGET,
    RESTARTED,
    RUNNING,
    SUBSCRIBE,
    UNSUBSCRIBE,
)

__all__ = (
    "CANCELLED",
    "CONTROL_TARGET",
    "DEFAULT_CODEC",
    "DEFAULT_MAX_FRAME",
    "GET_PROPERTY",
    "HEADER",
    "HUB_TARGET",
    "MAX_HANDSHAKE_FRAME",
    "NONCE_SIZE",
    "PROTOCOL_VERSION",
    "RESTARTED",
    "RUNNING",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "Auth",
    "BadCall",
    "Call",
    "Cancel",
    "Challenge",
    "ClientHandshake",
    "Codec",
    "Error",
    "Event",
    "Frame",
    "FrameDecoder",
    "Goodbye",
    "Hello",
    "Incoming",
    "Kind",
    "Ping",
    "Pong",
    "Result",
    "ServerHandshake",
    "StreamCredit",
    "StreamEnd",
    "StreamItem",
    "Welcome",
    "encode_frame",
    "proof",
    "register_codec",
    "verify",
)
