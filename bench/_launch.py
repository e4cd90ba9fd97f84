"""The boot measure's launcher: ``python -m bench._launch PROCFILE RUNDIR``.

Boots the app with :class:`hubcore.App`, makes one call through a proxy, prints ``CALLED`` and
leaves (stopping the app). The runner's clock runs from before it starts this process to the
moment that line arrives, so interpreter start-up, imports, the hub, the workers and the first
call are all in the figure, and the stop is not.
"""

from __future__ import annotations

import sys

import anyio

import hubcore

FIRST = "echo_first"  # published by the first process of bench/apps/three.py


async def main(procfile: str, rundir: str) -> None:
    async with hubcore.App(procfile, rundir=rundir, boot_timeout=60) as app:
        proxy = await app.get_proxy(FIRST, timeout=30)
        if await proxy.echo(1) != 1:
            raise SystemExit(f"{FIRST}.echo(1) did not return 1")
        print("CALLED", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bench._launch PROCFILE RUNDIR")
    anyio.run(main, sys.argv[1], sys.argv[2])
