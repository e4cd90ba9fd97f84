"""One server per system, each run as ``python -m bench.servers.<name> SOCKET_PATH``.

A server binds, then prints one line ``READY {json}`` on stdout and serves until terminated. The
JSON object's keys become environment variables of the client process, so each server decides
what its client needs (address, token file) without the runner knowing.
"""

from __future__ import annotations

import json
import sys


class Echo:
    """The object every system serves: returns its argument unchanged."""

    def echo(self, x: object) -> object:
        return x


def announce_ready(client_env: dict[str, str]) -> None:
    """Tell the runner this server accepts connections, and how a client reaches it."""
    sys.stdout.write(f"READY {json.dumps(client_env)}\n")
    sys.stdout.flush()
