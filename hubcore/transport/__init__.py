"""Transports: byte streams between processes. Unix sockets for now."""

from __future__ import annotations

from hubcore.transport.base import ByteStream, Listener, PeerCredentials
from hubcore.transport.unix import connect_unix, listen_unix

__all__ = ("ByteStream", "Listener", "PeerCredentials", "connect_unix", "listen_unix")
