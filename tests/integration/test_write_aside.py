"""``write_aside`` on real sockets, on asyncio, uvloop and trio: another thread's write goes out
whole when nothing waits to be sent, and is refused (nothing sent) when something does, so it
never lands in the middle of the loop's own writes (hubcore.rpc._watchdog relies on it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from hubcore.transport import ByteStream, connect_unix, listen_unix

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

LARGE = 8 * 1024 * 1024  # more than the kernel's buffers take: the rest waits in user space


async def _pair(rundir: Path, tg: Any) -> tuple[Any, ByteStream]:
    """A connected pair: our stream (the loop's transport) and the other end's."""
    listener = await listen_unix(str(rundir / "aside.sock"))
    accepted: list[ByteStream] = []
    ready = anyio.Event()

    async def take(stream: ByteStream) -> None:
        accepted.append(stream)
        ready.set()
        await anyio.sleep_forever()

    tg.start_soon(listener.serve, take)
    ours = await connect_unix(listener.address)
    with anyio.fail_after(10):
        await ready.wait()
    return ours, accepted[0]


async def _read(stream: ByteStream, size: int) -> bytes:
    data = b""
    with anyio.fail_after(10):
        while len(data) < size:
            chunk = await stream.receive()
            assert chunk, "the connection closed"
            data += chunk
    return data


async def test_an_idle_stream_sends_another_thread_s_bytes_whole(rundir: Path) -> None:
    async with anyio.create_task_group() as tg:
        ours, theirs = await _pair(rundir, tg)
        ours.write_nowait(b"first ")
        assert await _read(theirs, 6) == b"first "
        rest = await anyio.to_thread.run_sync(ours.write_aside, b"from a thread")
        assert rest == b""
        ours.write_nowait(b" then the loop")
        assert await _read(theirs, 27) == b"from a thread then the loop"
        tg.cancel_scope.cancel()


async def test_a_stream_with_bytes_waiting_refuses(rundir: Path) -> None:
    """The loop's stream holds bytes the socket did not take: a write from another thread now
    would land before them, so it sends nothing, and the other end reads only the loop's."""
    async with anyio.create_task_group() as tg:
        ours, theirs = await _pair(rundir, tg)
        if hasattr(ours, "run_writer"):  # trio's: a task sends what the socket did not take
            tg.start_soon(ours.run_writer)
        payload = bytes(range(256)) * (LARGE // 256)
        ours.write_nowait(payload)  # the other end reads nothing yet
        rest = await anyio.to_thread.run_sync(ours.write_aside, b"NOT HERE")
        assert rest is None
        assert await _read(theirs, LARGE) == payload
        ours.write_nowait(b"end")
        assert await _read(theirs, 3) == b"end"
        tg.cancel_scope.cancel()
