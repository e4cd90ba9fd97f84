"""A counter in ``background`` and callers of it in the ``worker`` processes."""

from __future__ import annotations

import os
import sys
import time

import anyio

import hubcore


class Counter(hubcore.Service):
    """Counts, tells its pid, writes to its output, and can be made to crash."""

    async def start(self) -> None:
        self.count = 0

    def increment(self, by: int = 1) -> int:
        self.count += by
        return self.count

    def get_pid(self) -> int:
        return os.getpid()

    def say(self, text: str) -> None:
        print(text, flush=True)

    async def wait(self, seconds: float) -> None:
        """Say ``waiting`` on the output, then take ``seconds`` to answer."""
        print("waiting", flush=True)
        await anyio.sleep(seconds)

    def hold(self, seconds: float) -> None:
        """A plain method that holds its process's event loop for ``seconds``."""
        time.sleep(seconds)

    def crash(self) -> None:
        print("about to crash", file=sys.stderr, flush=True)
        os._exit(7)


class Caller(hubcore.Service):
    """Calls the counter from another process."""

    async def start(self) -> None:
        self.counter = await self.ctx.get_proxy("counter")

    async def bump(self) -> dict[str, int]:
        return {"count": await self.counter.increment(), "via": os.getpid()}

    async def relay_wait(self, seconds: float) -> None:
        """Wait for the counter's ``wait``: the middle of a chain the test starts."""
        await self.counter.wait(seconds)

    async def relay_hold(self, seconds: float) -> None:
        """Wait for the counter's ``hold``: a chain whose end holds its loop."""
        await self.counter.hold(seconds)
