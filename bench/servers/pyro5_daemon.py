"""Optional baseline: a Pyro5 daemon on a Unix socket, the client speaking Pyro5's msgpack.

Usage: ``python -m bench.servers.pyro5_daemon SOCKET_PATH``. Pyro5 serves each connection from
a thread of its pool (80 threads by default, so the 64 client threads each get one).
"""

from __future__ import annotations

import sys

import Pyro5.api  # type: ignore[import-untyped, import-not-found, unused-ignore]

from bench.servers import Echo, announce_ready, server_args


class PyroEcho(Echo):
    """:class:`Echo`, marked for Pyro5 (which serves only the methods exposed in the class)."""

    @Pyro5.api.expose  # type: ignore[untyped-decorator, unused-ignore]
    def echo(self, x: object) -> object:
        return super().echo(x)


def main(path: str) -> None:
    daemon = Pyro5.api.Daemon(unixsocket=path)  # binds here; removes a stale socket file
    uri = daemon.register(PyroEcho, "echo")
    announce_ready({"BENCH_PYRO_URI": str(uri)})
    daemon.requestLoop()


if __name__ == "__main__":
    main(server_args(sys.argv[1:])[0])
