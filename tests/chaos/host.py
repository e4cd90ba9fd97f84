"""Run the chaos app under ``hubcore.App`` in a process of its own, until killed.

Usage: ``python tests/chaos/host.py RUNDIR`` (with ``$CHAOS_LEDGER`` set). Once the app is
ready, prints one JSON line, ``{"host": <pid>, "processes": {"<label>": <pid>, ...}}``, and
waits forever: the test kills it with SIGKILL, as an operator's ``kill -9`` would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio

import hubcore

APP = Path(__file__).resolve().parent / "app"


async def main(rundir: str) -> None:
    async with hubcore.App(APP, rundir=rundir, boot_timeout=30) as app:
        processes = {label: record.pid for label, record in app.processes.items()}
        print(json.dumps({"host": os.getpid(), "processes": processes}), flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
