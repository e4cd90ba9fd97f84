"""One server per system, each run as ``python -m bench.servers.<name> SOCKET_PATH [LOOP]``.

A server binds, then prints one line ``READY {json}`` on stdout and serves until terminated. The
JSON object's keys become environment variables of the client process, so each server decides
what its client needs (address, token file) without the runner knowing. ``BENCH_SERVER_PID`` is
always among them: the client reads the server's peak RSS around the 16 MiB workload.
"""

from __future__ import annotations

import json
import os
import sys

from bench._loops import LOOPS


class Echo:
    """The object every system serves: returns its argument unchanged."""

    def echo(self, x: object) -> object:
        return x


def server_args(argv: list[str]) -> tuple[str, str]:
    """``SOCKET_PATH [LOOP]`` from the command line: the socket path and the event loop name."""
    if not 1 <= len(argv) <= 2 or (len(argv) == 2 and argv[1] not in LOOPS):
        sys.exit(f"usage: python -m bench.servers.<name> SOCKET_PATH [{'|'.join(LOOPS)}]")
    return argv[0], argv[1] if len(argv) == 2 else "asyncio"


def announce_ready(client_env: dict[str, str]) -> None:
    """Tell the runner this server accepts connections, and how a client reaches it."""
    client_env = {**client_env, "BENCH_SERVER_PID": str(os.getpid())}
    sys.stdout.write(f"READY {json.dumps(client_env)}\n")
    sys.stdout.flush()
