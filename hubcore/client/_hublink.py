"""A client's link to the hub: up or down, and getting it back after the hub restarted.

How it works: states are *up* (a connection to the hub runs) and *down* (it was lost). A
client that reconnects (the default of ``connect()``) goes from down back to up on its own:
it tries again after a jittered backoff that doubles from :data:`FIRST_DELAY` up to
:data:`MAX_DELAY`, reading its token file before each attempt (a restarted hub writes a new
token). A client that was given its token as bytes keeps that token; when the hub refuses it,
there is no other to try, and the client gives up for good. A client that does not reconnect
(an app's worker: its hub going away means the app is gone) stays down.

One warning says when the hub is lost and one line when it is back: never a line per attempt.
Whatever needs the hub while it is down waits for it within its own timeout, then fails with
:class:`HubUnreachable`, which says which hub and since when.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from hubcore._changes import Changes
from hubcore._errors import (
    AuthenticationFailed,
    ConnectionLost,
    HubError,
    HubUnreachable,
    reason,
)
from hubcore.rpc._connection import Connection

__all__ = ("FIRST_DELAY", "MAX_DELAY", "Backoff", "HubLink")

log = logging.getLogger("hubcore.client")

FIRST_DELAY = 0.05  # seconds before the first attempt after the hub is lost
MAX_DELAY = 2.0  # the longest wait between two attempts


class Backoff:
    """Delays that double from ``first`` up to ``cap``, each cut by a random part of up to
    half, so that clients of one hub do not all come back at the same moment."""

    def __init__(
        self,
        first: float = FIRST_DELAY,
        cap: float = MAX_DELAY,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.first = first
        self.cap = cap
        self._rng = rng
        self._n = 0

    def next(self) -> float:
        """The next delay, in seconds: between half of it and all of it."""
        delay = min(self.cap, self.first * 2.0 ** min(self._n, 32))
        self._n += 1
        return delay * (0.5 + self._rng() / 2)

    def reset(self) -> None:
        """Start again from ``first``."""
        self._n = 0


class HubLink:
    """The state of a client's hub connection: which one, whether it is up, since when not."""

    def __init__(
        self, address: str, token: bytes, *, token_file: str | None, reconnect: bool
    ) -> None:
        self.address = address
        self.token = token
        self.token_file = token_file
        self.reconnect = reconnect
        self.conn: Connection | None = None
        self.down_since: float | None = None  # time.time() when the hub was lost
        self.why = ""  # why it was lost, or why this client gave up
        self.gave_up = False
        self.attempts = 0
        self.changed = Changes()  # notified at every change of state
        self._backoff = Backoff()

    @property
    def up(self) -> bool:
        """Whether a connection to the hub runs and is ready for use."""
        return self.down_since is None and self.conn is not None and not self.conn.closed

    def connected(self, conn: Connection) -> None:
        """``conn`` is the hub connection now, ready for use."""
        if self.down_since is not None:
            log.warning(
                "reconnected to the hub at %s after %.1f s (%d attempt%s)",
                self.address,
                time.time() - self.down_since,
                self.attempts,
                "" if self.attempts == 1 else "s",
            )
        self.conn = conn
        self.down_since = None
        self.attempts = 0
        self._backoff.reset()
        self.changed.notify()

    def lost(self, why: str) -> bool:
        """The hub connection ended: logged, unless the hub was down already (a connection
        that ended before it was restored is the same outage).

        :return: whether to reconnect.
        """
        if self.down_since is not None:
            return self.reconnect
        self.down_since = time.time()
        self.why = why
        self.changed.notify()
        if not self.reconnect:
            log.warning("lost the hub at %s: %s", self.address, why)
            return False
        log.warning(
            "lost the hub at %s: %s; reconnecting (a line follows when it is back)",
            self.address,
            why,
        )
        return True

    def current_token(self) -> bytes:
        """The token to use now. While the hub is down, the token file's content: the hub
        that comes back writes a new one, and peers that reconnected first use it."""
        if not self.up:
            self.token = self._read_token()
        return self.token

    async def reopen(self, open_hub: Callable[[bytes], Awaitable[Connection]]) -> Connection | None:
        """Try to connect again until the hub answers.

        :param open_hub: opens and authenticates a hub connection with the token given.
        :return: the new connection (not yet :meth:`connected`); None when it is hopeless
            (the hub refused a token this client cannot read again), logged.
        """
        while True:
            await anyio.sleep(self._backoff.next())
            self.attempts += 1
            self.token = self._read_token()
            try:
                return await open_hub(self.token)
            except AuthenticationFailed as exc:
                if self.token_file is None:
                    self._give_up(exc)
                    return None
                # The file may not hold the new hub's token yet: read it again next time.
            except (HubError, TimeoutError):
                pass  # not back yet

    def _read_token(self) -> bytes:
        if self.token_file is None:
            return self.token
        try:
            return Path(self.token_file).read_bytes().strip() or self.token
        except OSError:
            return self.token  # gone while the hub is down: the new hub writes it again

    def _give_up(self, exc: AuthenticationFailed) -> None:
        self.gave_up = True
        self.why = (
            f"the hub came back and refused this client's token ({reason(exc)}); the "
            "client was given its token as bytes, so it cannot read the new one: connect "
            "with the token file instead (the default) to reconnect after a hub restart"
        )
        log.error("gave up reconnecting to the hub at %s: %s", self.address, self.why)
        self.changed.notify()

    async def wait_up(self, timeout: float | None) -> Connection:
        """The hub connection, once up, waiting for it at most ``timeout`` seconds.

        :raises ConnectionLost: the hub is gone and this client does not reconnect.
        :raises HubUnreachable: the hub did not come back in time.
        """
        with anyio.move_on_after(timeout):
            while True:
                changed = self.changed
                if self.up:
                    assert self.conn is not None
                    return self.conn
                if not self.reconnect or self.gave_up or self.conn is None:
                    raise self.lost_error()
                await changed.wait()
        raise self.unreachable(f"waited {timeout:g} s")

    def lost_error(self) -> ConnectionLost:
        """The error for a client that lost the hub and does not (any more) reconnect."""
        why = f": {self.why}" if self.why else ""
        return ConnectionLost(f"not connected to the hub at {self.address}{why}")

    def unreachable(self, what: str) -> HubUnreachable:
        """The error for something that needed the hub while it was down.

        :param what: what was tried, to begin the message with.
        """
        since = self.down_since or time.time()
        when = time.strftime("%H:%M:%S", time.localtime(since))
        return HubUnreachable(
            f"{what}: the hub at {self.address} is unreachable since {when} "
            f"({time.time() - since:.1f} s ago: {self.why}); this client keeps reconnecting",
            address=self.address,
            since=since,
        )
