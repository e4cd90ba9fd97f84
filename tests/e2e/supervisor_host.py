"""Run the basic app under ``hubcore.App`` in a process of its own, until killed.

Usage: ``python tests/e2e/supervisor_host.py RUNDIR``. Once the app is ready and the counter
service has started a child process, prints one JSON line on stdout::

    {"host": <this pid>, "processes": {"<label>": <pid>, ...}, "grandchild": <pid>}

then waits forever. The end-to-end tests kill this process with SIGKILL to check that the
workers and their children do not outlive their supervisor.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio

import hubcore

BASIC = Path(__file__).resolve().parents[1] / "apps" / "basic" / "procfile.py"


async def main(rundir: str) -> None:
    async with hubcore.App(BASIC, rundir=rundir) as app:
        counter = await app.get_proxy("counter")
        grandchild = await counter.spawn_child()
        report = {
            "host": os.getpid(),
            "processes": {label: record.pid for label, record in app.processes.items()},
            "grandchild": grandchild,
        }
        print(json.dumps(report), flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
