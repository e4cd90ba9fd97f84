"""A service that calls another process's service."""

from __future__ import annotations

import os

import hubcore


class Caller(hubcore.Service):
    async def start(self) -> None:
        self.counter = await self.ctx.get_proxy("counter")

    async def bump(self) -> dict[str, int]:
        return {"count": await self.counter.increment(), "via": os.getpid()}
