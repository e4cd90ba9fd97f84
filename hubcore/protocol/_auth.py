"""Handshake maths: both ends prove they hold the token without sending it.

The client sends HELLO with a nonce; the server answers CHALLENGE with its own nonce and its
proof over the client's nonce; the client checks it and answers AUTH with its proof over the
server's nonce. A proof is HMAC-SHA256(token, role || nonce), so a proof can't be replayed in
the other direction.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ("NONCE_SIZE", "PROTOCOL_VERSION", "proof", "verify")

PROTOCOL_VERSION = 1
NONCE_SIZE = 32


def proof(token: bytes, role: bytes, nonce: bytes) -> bytes:
    """The proof that the holder of ``token`` answers ``nonce`` as ``role`` (client/server)."""
    return hmac.new(token, role + b"\0" + nonce, hashlib.sha256).digest()


def verify(token: bytes, role: bytes, nonce: bytes, digest: object) -> bool:
    """Whether ``digest`` is the right proof, in constant time."""
    if not isinstance(digest, bytes):
        return False
    return hmac.compare_digest(proof(token, role, nonce), digest)
