"""A service that writes down every call it runs, where a ``kill -9`` cannot take it back.

Each process appends to its own file, ``<ledger>/ran-<pid>.log``, one token a line. The line
is written with one ``write`` on a descriptor opened with ``O_APPEND`` before the method does
anything else: once ``write`` returns the line is in the kernel, and it survives the process.
"""

from __future__ import annotations

import os

import anyio

import hubcore


class Ledger(hubcore.Service):
    async def start(self) -> None:
        path = os.path.join(self.ctx.config["ledger"], f"ran-{os.getpid()}.log")
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    # No stop() closes the descriptor: calls can still reach a service while and after its
    # worker stops it (docs/guarantees.md); it closes with the process.

    async def run(self, token: str, seconds: float) -> dict[str, object]:
        """Record ``token``, take ``seconds``, and answer with the token and this pid."""
        os.write(self.fd, f"{token}\n".encode())
        if seconds:
            await anyio.sleep(seconds)
        return {"token": token, "pid": os.getpid()}

    def pid(self) -> int:
        return os.getpid()
