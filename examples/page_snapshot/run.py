"""Run the page_snapshot app from Python, without the CLI, until Ctrl-C.

    python examples/page_snapshot/run.py
    HUBCORE_PAGE_SNAPSHOT_PORT=8080 python examples/page_snapshot/run.py

It prints the URL to ask, then the output of both processes, labelled.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio

import hubcore

HERE = Path(__file__).resolve().parent


async def main() -> None:
    # The receiver is open from the start: a Ctrl-C during boot stops the app as soon as it is
    # up, and one during the stop cannot interrupt it halfway (services' stop(), the browser).
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with hubcore.App(HERE / "procfile.py", log_stream=sys.stderr) as app:
            web = app.config("web")
            url = f"http://{web['host']}:{web['port']}/"
            print(f"page_snapshot is up: {url}?url=https://example.org/  (Ctrl-C stops it)")
            sys.stdout.flush()
            async for _ in signals:
                print("stopping...", file=sys.stderr)
                break


if __name__ == "__main__":
    anyio.run(main)
