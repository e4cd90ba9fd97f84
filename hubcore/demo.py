"""Two processes, one call: ``python -m hubcore.demo``.

The demo runs a hub, starts a second Python process that publishes a ``process_info`` object,
calls it from here and prints what came back, then stops the child and checks it is gone.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import anyio
import psutil

import hubcore
from hubcore import _env

__all__ = ("ProcessInfo", "main")


class ProcessInfo:
    """What the child process publishes."""

    def get_pid(self) -> int:
        return os.getpid()

    def describe(self) -> dict[str, Any]:
        proc = psutil.Process()
        return {"pid": proc.pid, "rss_mib": round(proc.memory_info().rss / 2**20, 1)}

    async def countdown(self, n: int) -> Any:
        for i in range(n, 0, -1):
            yield i
            await anyio.sleep(0.05)


async def child() -> None:
    """Publish ``process_info`` through the environment's hub and serve until stopped."""
    await hubcore.publish_object("process_info", ProcessInfo())
    print(f"child {os.getpid()}: published process_info", flush=True)
    await anyio.sleep_forever()


async def parent() -> None:
    """Run a hub, start the child, call it, stop it."""
    async with hubcore.serve_hub() as hub:
        env = {**os.environ, _env.ADDRESS: hub.address, _env.TOKEN_FILE: hub.token_file}
        env[_env.PROCESS] = "demo-child"
        command = [sys.executable, "-m", "hubcore.demo", "--child"]
        async with await anyio.open_process(command, env=env, stdout=None, stderr=None) as proc:
            try:
                await call_child(hub.address, hub.token)
            finally:
                proc.terminate()
                with anyio.fail_after(10):
                    await proc.wait()
        print(f"parent: child exited with {proc.returncode}; alive: {psutil.pid_exists(proc.pid)}")


async def call_child(address: str, token: bytes) -> None:
    """What any process does to use an object another one published."""
    async with hubcore.connect(address, token=token) as client:
        proxy = await client.get_proxy("process_info", timeout=10)
        started = time.perf_counter()
        pid = await proxy.get_pid()
        elapsed = (time.perf_counter() - started) * 1e6
        print(f"parent {os.getpid()}: process_info.get_pid() -> {pid} ({elapsed:.0f} us)")
        print(f"parent: process_info.describe() -> {await proxy.describe()}")
        print(f"parent: countdown -> {[i async for i in proxy.countdown(3)]}")


def main() -> None:
    """Entry point of ``python -m hubcore.demo``."""
    anyio.run(child if "--child" in sys.argv else parent)


if __name__ == "__main__":
    main()
