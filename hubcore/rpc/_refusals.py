"""Refused handshakes, logged at most once per second, with counts and reasons.

How it works: a listener (the hub, a client's peer listener) has one :class:`RefusalLog`. The
first refusal after a quiet second is logged at once, as one line with its reason. Refusals
that follow within the second are counted by reason; the task of the first of them waits for
the end of the second and logs them all as one line ("refused 900 connections in the last
1.0 s: 880 ..., 20 wrong token"). So a flood of bad connections costs a line a second, and a
lone mistake is still reported at once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import anyio

__all__ = ("INTERVAL", "RefusalLog")

log = logging.getLogger("hubcore.rpc")

INTERVAL = 1.0  # seconds: at most one line per interval
_REASONS_SHOWN = 4


class RefusalLog:
    """The refused connections of one listener, and when they were last logged."""

    def __init__(self, what: str, interval: float = INTERVAL) -> None:
        self.what = what
        self.interval = interval
        self.total = 0  # every refusal so far, logged or counted
        self._quiet_until = 0.0
        self._counts: Counter[str] = Counter()
        self._last_pid: int | None = None
        self._flushing = False

    def refused(self, pid: int | None, why: str) -> bool:
        """Log, or count to log with the next line, one refused connection.

        :param pid: the peer's pid, as the kernel reports it.
        :param why: the reason, without a pid (refusals are counted by reason).
        :return: True if the caller is to log the counts: ``await refusals.flush_when_due()``.
        """
        self.total += 1
        now = time.monotonic()
        if now >= self._quiet_until and not self._counts:
            log.warning("%s refused a connection from pid %s: %s", self.what, pid, why)
            self._quiet_until = now + self.interval
            return False
        self._counts[why] += 1
        self._last_pid = pid
        if self._flushing:
            return False
        self._flushing = True
        return True

    async def flush_when_due(self) -> None:
        """Wait for the end of the interval, then log what was counted (also if cancelled)."""
        try:
            await anyio.sleep(max(self._quiet_until - time.monotonic(), 0.0))
        finally:
            self._flushing = False
            self._flush()

    def _flush(self) -> None:
        if not self._counts:
            return
        n = sum(self._counts.values())
        ranked = self._counts.most_common()
        parts = [f"{count} {why}" for why, count in ranked[:_REASONS_SHOWN]]
        others = sum(count for _, count in ranked[_REASONS_SHOWN:])
        if others:
            parts.append(f"{others} for other reasons")
        log.warning(
            "%s refused %d connection%s in the last %.1f s: %s (the last from pid %s)",
            self.what,
            n,
            "" if n == 1 else "s",
            self.interval,
            "; ".join(parts),
            self._last_pid,
        )
        self._counts.clear()
        self._quiet_until = time.monotonic() + self.interval
