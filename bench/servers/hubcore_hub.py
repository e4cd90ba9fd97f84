"""hubcore under test: a hub in this process, and a client of it that publishes ``echo``.

Usage: ``python -m bench.servers.hubcore_hub SOCKET_PATH [asyncio|uvloop|trio]``. Calls from
the bench client go peer to peer to this process's listener; the hub only answers the lookup.
"""

from __future__ import annotations

import signal
import sys

import anyio

import hubcore
from bench import _loops
from bench.servers import Echo, announce_ready, server_args


async def main(path: str) -> None:
    # Leave on SIGTERM through the context managers, so the hub removes what it created.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with (
            hubcore.serve_hub(path) as hub,
            hubcore.connect(hub.address, token=hub.token) as client,
        ):
            await client.publish("echo", Echo())
            announce_ready(
                {"HUBCORE_ADDRESS": str(hub.address), "HUBCORE_TOKEN_FILE": str(hub.token_file)}
            )
            async for _ in signals:
                return


if __name__ == "__main__":
    socket_path, loop = server_args(sys.argv[1:])
    _loops.run(main, socket_path, loop=loop)
