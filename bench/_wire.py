"""The raw-asyncio framing: 4-byte big-endian length, then one msgpack array.

Requests are ``[id, method, args]``, replies ``[id, error, result]`` (``error`` is None on
success). Shared by the raw server and its client so both ends agree by construction.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack

HEADER = struct.Struct(">I")

# StreamReader pauses the socket whenever its buffer passes twice this limit; the 64 KiB default
# would make a 16 MiB read stop and restart the transport hundreds of times.
STREAM_LIMIT = 1 << 20

# Below this a frame is one write (one send); above it, gluing the header on would copy the body.
_GLUE_BELOW = 1 << 16


def write_frame(writer: asyncio.StreamWriter, message: list[Any]) -> None:
    """Queue one frame on ``writer``; the caller drains."""
    body = msgpack.packb(message)
    if len(body) < _GLUE_BELOW:
        writer.write(HEADER.pack(len(body)) + body)
    else:
        writer.write(HEADER.pack(len(body)))
        writer.write(body)


async def read_frame(reader: asyncio.StreamReader) -> list[Any]:
    """Read one frame; raises :class:`asyncio.IncompleteReadError` at end of stream."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    message: list[Any] = msgpack.unpackb(await reader.readexactly(size))
    return message
