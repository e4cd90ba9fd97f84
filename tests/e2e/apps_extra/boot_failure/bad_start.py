"""Services of the boot-failure app."""

from __future__ import annotations

import hubcore


class Store(hubcore.Service):
    """A healthy service; says so when stopped."""

    async def stop(self) -> None:
        print(f"{self.ctx.name} stopped", flush=True)

    def ping(self) -> str:
        return "pong"


class BadConfig(hubcore.Service):
    """Rejects its configuration in start(), as a real service would on a bad setting."""

    async def start(self) -> None:
        self._check(self.ctx.config["level"])

    def _check(self, level: str) -> None:
        if level not in ("quiet", "normal"):
            raise ValueError("bad config")
