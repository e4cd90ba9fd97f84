"""A process that publishes test objects: ``python -m tests.integration.apps.publisher NAME...``.

Joins the hub named by HUBCORE_ADDRESS/HUBCORE_TOKEN_FILE, publishes an ``Info`` under each
name (``NAME=Class``: an instance of that class of ``objects``), emits a ``tick`` event every
50 ms on each, and serves until killed.
"""

from __future__ import annotations

import os
import sys

import anyio

import hubcore
from tests.integration.apps import objects


async def main(names: list[str]) -> None:
    publications = [await hubcore.publish_object(*_object(name)) for name in names]
    n = 0
    while True:
        await anyio.sleep(0.05)
        n += 1
        for publication in publications:
            publication.emit("tick", n)


def _object(arg: str) -> tuple[str, object]:
    name, _, cls = arg.partition("=")
    return name, getattr(objects, cls or "Info")()


if __name__ == "__main__":
    loop = os.environ.get("TEST_LOOP", "asyncio")
    options = {"use_uvloop": True} if loop == "uvloop" else {}
    backend = "asyncio" if loop == "uvloop" else loop
    anyio.run(main, sys.argv[1:], backend=backend, backend_options=options)
