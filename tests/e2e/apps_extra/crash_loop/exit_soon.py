"""A service whose start() works, but whose process exits shortly after (a crash loop)."""

from __future__ import annotations

import os
import sys
import threading

import hubcore


class ExitSoon(hubcore.Service):
    """Starts, is published, then takes its whole process down ``after`` seconds later."""

    async def start(self) -> None:
        after = float(self.ctx.config["after"])
        code = int(self.ctx.config["code"])
        timer = threading.Timer(after, self._exit, (code,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _exit(code: int) -> None:
        print(f"exit_soon: exiting with code {code}", file=sys.stderr, flush=True)
        os._exit(code)

    def ping(self) -> str:
        return "pong"
