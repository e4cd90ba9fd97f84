"""A caller process for the chaos tests: ``IN_FLIGHT`` calls at a time to ``ledger``.

Usage: ``python tests/chaos/caller.py NAME BACKEND SECONDS IN_FLIGHT TIMEOUT OUT`` with
``HUBCORE_ADDRESS`` and ``HUBCORE_TOKEN_FILE`` set. BACKEND is ``asyncio``, ``uvloop`` or
``trio``. It prints ``READY`` once its proxy is there, waits for a line on stdin, then keeps
IN_FLIGHT calls in flight (each with a token of its own and the call timeout TIMEOUT) until a
second line comes, or SECONDS at most, and writes one JSON line per call to OUT: ``[token,
outcome, seconds, detail]``, the outcome being ``"result"`` or the exception's class name. It
starts no new call once told to stop, and ends when the last one has ended.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

import hubcore

WORK = 0.002  # seconds each call spends in the callee: calls overlap there


async def main(name: str, seconds: float, in_flight: int, timeout: float, out: str) -> None:
    # hubcore's warnings go to a file beside OUT: a full stderr pipe would block this process.
    logging.basicConfig(filename=f"{out}.log", level=logging.WARNING)
    records: list[list[Any]] = []
    async with hubcore.connect(process=f"caller-{name}") as client:
        proxy = hubcore.with_timeout(await client.get_proxy("ledger", timeout=30), timeout)
        print("READY", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        stop_at = time.monotonic() + seconds
        told = threading.Event()  # a second line came: stop (a daemon thread reads it)
        threading.Thread(target=lambda: (sys.stdin.readline(), told.set()), daemon=True).start()

        async def keep_calling(lane: int) -> None:
            count = 0
            while time.monotonic() < stop_at and not told.is_set():
                token = f"{name}-{lane}-{count}"
                count += 1
                started = time.monotonic()
                try:
                    value = await proxy.run(token, WORK)
                except Exception as exc:  # every outcome is written down, and judged by the test
                    outcome, detail = type(exc).__name__, str(exc)[:200]
                else:
                    outcome, detail = "result", value
                records.append([token, outcome, time.monotonic() - started, detail])

        async with anyio.create_task_group() as group:
            for lane in range(in_flight):
                group.start_soon(keep_calling, lane)
    Path(out).write_text("".join(json.dumps(record) + "\n" for record in records))
    print("DONE", flush=True)


if __name__ == "__main__":
    name, backend, seconds, in_flight, timeout, out = sys.argv[1:7]
    options = {"use_uvloop": True} if backend == "uvloop" else {}
    anyio.run(
        main,
        name,
        float(seconds),
        int(in_flight),
        float(timeout),
        out,
        backend="asyncio" if backend == "uvloop" else backend,
        backend_options=options,
    )
