"""A web server that is not in the procfile: it joins the running app and calls its counter.

Start the app first (``hubcore start tests/apps/basic``), then run this file from the
repository root: ``python tests/apps/outside/web.py 8080``, and open
http://127.0.0.1:8080/count.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

import hubcore

APP = "tests/apps/basic"  # the running app's procfile, or its folder
COUNTER = web.AppKey("counter", hubcore.Proxy)


async def join_app(server: web.Application) -> AsyncIterator[None]:
    """One hub client for the server's life (aiohttp enters and leaves it in one task)."""
    # No app running: HubError names the procfile and the run dir, and says how to start it.
    async with hubcore.connect(app=APP, process="web") as client:
        # The proxy outlives restarts of the counter's process.
        server[COUNTER] = await client.get_proxy("counter")
        yield


async def count(request: web.Request) -> web.Response:
    total = await request.app[COUNTER].increment()  # runs in the app's background process
    return web.json_response({"count": total})


def main(port: int) -> None:
    server = web.Application()
    server.cleanup_ctx.append(join_app)
    server.router.add_get("/count", count)
    sock = socket.create_server(("127.0.0.1", port))  # port 0: any free port
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/count"

    async def announce(_server: web.Application) -> None:  # after join_app has joined
        print(f"serving {url}", flush=True)

    server.on_startup.append(announce)
    # hubcore runs on any asyncio loop; here uvloop's. Ctrl-C or SIGTERM stops the server,
    # and leaving join_app closes the client.
    web.run_app(server, sock=sock, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
