"""A publisher that leaves cleanly on SIGTERM: ``python -m tests.integration.apps.graceful NAME``.

Joins the hub named by HUBCORE_ADDRESS/HUBCORE_TOKEN_FILE, publishes an ``Info`` under NAME,
and on SIGTERM closes its client (GOODBYE on every connection) and exits with code 0, as a
worker that a supervisor restarts does.
"""

from __future__ import annotations

import signal
import sys

import anyio

import hubcore
from tests.integration.apps.objects import Info


async def main(name: str) -> None:
    # The receiver first: a SIGTERM that lands while publishing must still be a clean leave.
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async with hubcore.connect() as client:
            await client.publish(name, Info())
            async for _ in signals:
                break


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
