"""``hubcore hub``: a hub on its own, for processes that are not a procfile app.

How it works: ``serve_hub`` at ``--address`` until SIGTERM or SIGINT, then a clean stop (the
token file is removed, and the directory too if the hub created it). Log lines (the hub's,
and refused connections) go to stderr. Clients that reconnect (the default of
``hubcore.connect``) come back by themselves when it is restarted, by a service manager with
``Restart=always`` for example.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio

from hubcore._hub import serve_hub
from hubcore.cli._common import Subparsers, add_command

__all__ = ("add_parser",)

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def add_parser(sub: Subparsers) -> None:
    """Register ``hub``."""
    parser = add_command(
        sub,
        "hub",
        "Run a hub on its own, until SIGTERM or Ctrl-C.",
        "hubcore hub --address /run/user/1000/hubcore/hub.sock",
        details="""
        The hub's directory is created with mode 0700 if it is missing; an existing one must
        not be open to other users. The token is written to the file `token` beside the
        socket, a new one at each start: clients that read it from there (the default)
        reconnect after a restart by themselves. Log lines go to stderr.
        """,
        app=False,
        rundir=False,
    )
    parser.add_argument(
        "--address", required=True, metavar="PATH", help="the hub's Unix socket (short path)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve a hub at ``args.address`` until a stop signal; the exit code."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("hubcore")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        anyio.run(_serve, args.address)
    finally:
        logger.removeHandler(handler)
    return 0


async def _serve(address: str) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serve_hub(address) as hub:
            print(f"hubcore: hub at {hub.address}, token file {hub.token_file}", flush=True)
            async for signum in signals:
                print(f"hubcore: {signal.Signals(signum).name}: stopping", flush=True)
                break
