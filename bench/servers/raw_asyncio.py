"""The floor: asyncio streams, length + msgpack framing, one reply per request, in order read.

Usage: ``python -m bench.servers.raw_asyncio SOCKET_PATH [asyncio|uvloop]``.
"""

from __future__ import annotations

import asyncio
import sys

from bench import _loops
from bench._wire import STREAM_LIMIT, read_frame, write_frame
from bench.servers import Echo, announce_ready, server_args


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    methods = {"echo": Echo().echo}
    try:
        while True:
            call_id, method, args = await read_frame(reader)
            try:
                reply = [call_id, None, methods[method](*args)]
            except Exception as exc:
                reply = [call_id, repr(exc), None]
            write_frame(writer, reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client went away
    finally:
        writer.close()


async def main(path: str) -> None:
    server = await asyncio.start_unix_server(_serve_connection, path, limit=STREAM_LIMIT)
    announce_ready({"BENCH_ADDRESS": path})
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    socket_path, loop = server_args(sys.argv[1:])
    if loop == "trio":
        sys.exit("raw_asyncio serves on asyncio or uvloop, not trio")
    _loops.run(main, socket_path, loop=loop)
