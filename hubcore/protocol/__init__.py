"""Sans-IO wire protocol: frames, values and handshake maths. No sockets, no clocks."""

from __future__ import annotations

from hubcore.protocol._auth import NONCE_SIZE, PROTOCOL_VERSION, proof, verify
from hubcore.protocol._codec import DEFAULT_CODEC, Codec, register_codec
from hubcore.protocol._frames import DEFAULT_MAX_FRAME, HEADER, FrameDecoder, Kind, encode_frame
from hubcore.protocol._names import (
    CONTROL_TARGET,
    GET_PROPERTY,
    HUB_TARGET,
    RESTARTED,
    SUBSCRIBE,
    UNSUBSCRIBE,
)

__all__ = (
    "CONTROL_TARGET",
    "DEFAULT_CODEC",
    "DEFAULT_MAX_FRAME",
    "GET_PROPERTY",
    "HEADER",
    "HUB_TARGET",
    "NONCE_SIZE",
    "PROTOCOL_VERSION",
    "RESTARTED",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "Codec",
    "FrameDecoder",
    "Kind",
    "encode_frame",
    "proof",
    "register_codec",
    "verify",
)
