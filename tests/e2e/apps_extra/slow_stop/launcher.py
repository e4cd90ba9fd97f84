"""A service with a detached child process and a slow stop()."""

from __future__ import annotations

import subprocess
import sys

import anyio

import hubcore


class Launcher(hubcore.Service):
    """Starts a long-lived child in its own session; stop() takes ``stop_seconds``."""

    async def start(self) -> None:
        # A fork and exec, done once at start: not worth a thread.
        self.child = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
        )

    async def stop(self) -> None:
        print("launcher stopping", flush=True)
        await anyio.sleep(float(self.ctx.config["stop_seconds"]))
        print("launcher stopped", flush=True)

    def child_pid(self) -> int:
        return self.child.pid
