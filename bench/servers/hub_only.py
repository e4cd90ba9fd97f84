"""A hub and nothing else: ``python -m bench.servers.hub_only SOCKET_PATH``.

The soak measure runs the hub, the callee and the caller as three processes, so that each
one's RSS is its own.
"""

from __future__ import annotations

import signal
import sys

import anyio

import hubcore
from bench import _loops
from bench.servers import announce_ready, server_args


async def main(path: str) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with hubcore.serve_hub(path) as hub:
            announce_ready(
                {"HUBCORE_ADDRESS": str(hub.address), "HUBCORE_TOKEN_FILE": str(hub.token_file)}
            )
            async for _ in signals:
                return


if __name__ == "__main__":
    socket_path, loop = server_args(sys.argv[1:])
    _loops.run(main, socket_path, loop=loop)
