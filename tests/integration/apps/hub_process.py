"""A hub in a process of its own: ``python -m tests.integration.apps.hub_process SOCKET``."""

from __future__ import annotations

import sys

import anyio

import hubcore


async def main(address: str) -> None:
    async with hubcore.serve_hub(address):
        print("READY", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
