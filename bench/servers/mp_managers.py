"""The stdlib baseline: a multiprocessing.managers server (pickle, one thread per connection).

Usage: ``python -m bench.servers.mp_managers SOCKET_PATH``, authkey (hex) in ``BENCH_AUTHKEY``.
A path address makes the manager listen on an AF_UNIX socket.
"""

from __future__ import annotations

import contextlib
import os
import sys
from multiprocessing.managers import BaseManager

from bench.servers import Echo, announce_ready, server_args

_ECHO = Echo()


class EchoServerManager(BaseManager):
    """Serves the one shared :class:`Echo` as ``get_echo()``."""


EchoServerManager.register("get_echo", callable=lambda: _ECHO)


def main(path: str) -> None:
    authkey = bytes.fromhex(os.environ["BENCH_AUTHKEY"])
    # SIGTERM ends this server without closing its listener, so a socket file can outlive it;
    # asyncio's server unlinks a stale path itself, multiprocessing's does not.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = EchoServerManager(address=path, authkey=authkey).get_server()  # binds here
    announce_ready({"BENCH_ADDRESS": path})
    server.serve_forever()


if __name__ == "__main__":
    main(server_args(sys.argv[1:])[0])
