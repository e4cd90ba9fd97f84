"""Blocking Unix sockets, for callers without an event loop (``hubcore.sync``'s calls, the CLI).

A :class:`BlockingStream` is used by one thread at a time: every operation blocks that thread
until it is done or its timeout passes. Failures are translated once, here:
``ConnectionLost`` for a socket that is refused, reset or broken, ``TimeoutError`` for a
timeout. Bytes only, never objects.
"""

from __future__ import annotations

import contextlib
import math
import socket

from hubcore._errors import ConnectionLost, reason
from hubcore.transport.base import RECEIVE_SIZE

__all__ = ("BlockingStream",)


class BlockingStream:
    """A connected Unix socket, blocking, with a timeout per operation."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self._sock = sock
        self.path = path
        self._timeout: float | None = None  # what the socket is set to (set only on change)

    @classmethod
    def connect(cls, path: str, timeout: float | None) -> BlockingStream:
        """Connect to the socket at ``path``.

        :raises ConnectionLost: nothing listens there.
        :raises TimeoutError: the listener did not accept within ``timeout`` seconds.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stream = cls(sock, path)
        try:
            stream._set_timeout(timeout)
            sock.connect(path)
        except TimeoutError:
            sock.close()
            why = f"no answer within {timeout:g} s"
            raise TimeoutError(f"cannot connect to {path}: {why}") from None
        except OSError as exc:
            sock.close()
            raise ConnectionLost(f"cannot connect to {path}: {reason(exc)}") from exc
        return stream

    def _set_timeout(self, timeout: float | None) -> None:
        if timeout is not None:
            if timeout <= 0:
                raise TimeoutError("the time was up before the socket was used")
            # Up to the next millisecond: the calls of one proxy then ask for the same value,
            # which costs no system call; waiting is bounded a millisecond late at most.
            timeout = math.ceil(timeout * 1000) / 1000
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def send(self, data: bytes, timeout: float | None) -> None:
        """Send every byte of ``data``.

        :raises ConnectionLost: the other end closed, or the socket broke.
        :raises TimeoutError: not all of it could be sent within ``timeout`` seconds (the other
            end reads nothing); the stream is then unusable.
        """
        self._set_timeout(timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise TimeoutError(f"send to {self.path} did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise ConnectionLost(f"send failed: {reason(exc)}") from exc

    def receive(self, timeout: float | None) -> bytes:
        """The bytes that arrived (at least one); ``b""`` at the end of the stream.

        :raises ConnectionLost: the socket broke (reset by a peer that died).
        :raises TimeoutError: nothing arrived within ``timeout`` seconds.
        """
        self._set_timeout(timeout)
        try:
            return self._sock.recv(RECEIVE_SIZE)
        except TimeoutError:
            raise TimeoutError(f"nothing arrived from {self.path} within {timeout:g} s") from None
        except OSError as exc:
            raise ConnectionLost(f"receive failed: {reason(exc)}") from exc

    def receive_into(self, buffer: memoryview, timeout: float | None) -> int:
        """Fill ``buffer`` with what arrived (for a large frame of known size, no copy).

        :return: the number of bytes written; 0 at the end of the stream.
        :raises ConnectionLost: the socket broke.
        :raises TimeoutError: nothing arrived within ``timeout`` seconds.
        """
        self._set_timeout(timeout)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise TimeoutError(f"nothing arrived from {self.path} within {timeout:g} s") from None
        except OSError as exc:
            raise ConnectionLost(f"receive failed: {reason(exc)}") from exc

    def send_eof(self) -> None:
        """End our direction (the other end reads the end of the stream); never raises."""
        with contextlib.suppress(OSError):  # gone already
            self._sock.shutdown(socket.SHUT_WR)

    def interrupt(self) -> None:
        """End both directions, waking a thread blocked on this stream (from another thread);
        never raises."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._sock.close()
