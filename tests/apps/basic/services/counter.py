"""Services of the basic test app."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import hubcore


class Counter(hubcore.Service):
    """Counts, tells its pid, and can be made to crash or to start a child process."""

    async def start(self) -> None:
        self.count = 0
        self.children: list[subprocess.Popen[bytes]] = []

    async def stop(self) -> None:
        print("counter stopping", flush=True)

    def increment(self, by: int = 1) -> int:
        self.count += by
        return self.count

    def get_pid(self) -> int:
        return os.getpid()

    def spawn_child(self) -> int:
        """Start a long-lived child, as a service driving a browser would."""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        self.children.append(child)
        return child.pid

    def hold(self, seconds: float) -> None:
        """A plain method that holds its process's event loop for ``seconds``."""
        time.sleep(seconds)

    def crash(self) -> None:
        print("about to crash", file=sys.stderr, flush=True)
        os._exit(7)


class Hog(hubcore.Service):
    """Holds memory on request, to trip the memory limit."""

    async def start(self) -> None:
        self.blocks: list[bytes] = []

    def grow(self, mib: int) -> int:
        self.blocks.append(b"x" * (mib * 2**20))
        return len(self.blocks)

    def get_pid(self) -> int:
        return os.getpid()
