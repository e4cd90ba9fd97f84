"""A hub with few file descriptors:
``python -m tests.integration.apps.limited_hub SOCKET NOFILE BACKEND HANDSHAKE_TIMEOUT``.

Lowers its own RLIMIT_NOFILE to NOFILE, then serves a hub at SOCKET on BACKEND (asyncio,
uvloop or trio), giving new connections HANDSHAKE_TIMEOUT seconds to authenticate. Prints
READY once it listens; logs (INFO and up) go to stderr.
"""

from __future__ import annotations

import logging
import resource
import sys

import anyio

import hubcore


async def main(address: str, handshake_timeout: float) -> None:
    async with hubcore.serve_hub(address) as hub:
        hub.handshake_timeout = handshake_timeout
        print("READY", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    address, nofile, backend, timeout = sys.argv[1:5]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(nofile), hard))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = {"use_uvloop": True} if backend == "uvloop" else {}
    name = "asyncio" if backend == "uvloop" else backend
    anyio.run(main, address, float(timeout), backend=name, backend_options=options)
