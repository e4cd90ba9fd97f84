"""Optional baseline: an RPyC ThreadedServer on a Unix socket (brine, a thread per connection).

Usage: ``python -m bench.servers.rpyc_server SOCKET_PATH``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import rpyc  # type: ignore[import-untyped, import-not-found, unused-ignore]
from rpyc.utils.server import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    ThreadedServer,
)

from bench.servers import Echo, announce_ready, server_args


class EchoService(rpyc.Service):  # type: ignore[misc]
    """:class:`Echo` as an RPyC service: only ``exposed_`` names are callable."""

    def exposed_echo(self, x: object) -> object:
        return Echo().echo(x)


def main(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket file left by an earlier server that was killed
    server = ThreadedServer(EchoService, socket_path=path)  # binds here
    announce_ready({"BENCH_ADDRESS": path})
    server.start()


if __name__ == "__main__":
    main(server_args(sys.argv[1:])[0])
