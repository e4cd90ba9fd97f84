"""What a listener does when ``accept()`` fails for lack of file descriptors.

How it works: a process at its file-descriptor limit (``EMFILE``) or a system at its own
(``ENFILE``) cannot accept a connection until one closes. Refused by the kernel, the pending
connections stay in the socket's backlog. The listener keeps serving the connections it has,
waits :data:`RETRY_DELAY`, and tries again, until an ``accept()`` succeeds. One warning says when
such a burst starts, and one line when it ends, with how long it lasted and how many attempts
failed: never a line per attempt.
"""

from __future__ import annotations

import errno
import logging
import os
import time

import anyio

__all__ = ("EXHAUSTED", "RETRY_DELAY", "SKIPPED", "AcceptPause")

log = logging.getLogger("hubcore.transport")

#: ``accept()`` errors that mean "out of file descriptors or memory": wait, then try again.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: ``accept()`` errors about the one connection that was pending: skip it and go on.
SKIPPED = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EAGAIN})
RETRY_DELAY = 0.1


class AcceptPause:
    """The state of one listener's ``accept()`` failures: counts them and logs each burst."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.failures = 0
        self._since = 0.0

    async def failed(self, exc: OSError) -> None:
        """``accept()`` raised one of :data:`EXHAUSTED`: log if a burst starts, then wait."""
        if self.failures == 0:
            self._since = time.monotonic()
            log.warning(
                "listener at %s cannot accept connections: %s; serving the connections it "
                "has and trying again every %g s",
                self.address,
                _describe(exc),
                RETRY_DELAY,
            )
        self.failures += 1
        await anyio.sleep(RETRY_DELAY)

    def accepted(self) -> None:
        """``accept()`` succeeded: if a burst of failures ends here, say so (once)."""
        if self.failures:
            log.warning(
                "listener at %s accepts connections again, after %.1f s during which "
                "accept() failed %d time%s",
                self.address,
                time.monotonic() - self._since,
                self.failures,
                "" if self.failures == 1 else "s",
            )
            self.failures = 0


def _describe(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{name} ({os.strerror(exc.errno or 0).lower()})"
