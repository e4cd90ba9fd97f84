"""The in-memory stream pair keeps the Unix transports' rules: end of stream, half-close,
close, and an end that vanishes."""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest

from hubcore import ConnectionLost
from hubcore.transport.memory import memory_stream_pair

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_memory_bytes_cross_both_ways_and_arrive_together() -> None:
    a, b = memory_stream_pair()
    await a.send(b"one ")
    await a.send(b"two")
    await b.send(b"back")
    assert await b.receive() == b"one two"
    assert await a.receive() == b"back"


async def test_memory_receive_waits_for_bytes() -> None:
    a, b = memory_stream_pair()
    got: list[bytes] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _append(got, b.receive()))
        await anyio.wait_all_tasks_blocked()
        assert got == []
        await a.send(b"x")
    assert got == [b"x"]


async def test_memory_send_eof_ends_one_direction_only() -> None:
    a, b = memory_stream_pair()
    await a.send(b"last")
    await a.send_eof()
    assert await b.receive() == b"last"
    assert await b.receive() == b""
    await b.send(b"still answering")
    assert await a.receive() == b"still answering"
    with pytest.raises(ConnectionLost, match="EOF"):
        await a.send(b"after eof")


async def test_memory_close_gives_the_other_end_its_bytes_then_the_end() -> None:
    a, b = memory_stream_pair()
    await a.send(b"last words")
    await a.aclose()
    assert await b.receive() == b"last words"
    assert await b.receive() == b""
    with pytest.raises(ConnectionLost, match="Broken pipe"):
        await b.send(b"too late")


async def test_memory_closed_end_refuses_everything_and_closes_twice() -> None:
    a, _b = memory_stream_pair()
    await a.aclose()
    await a.aclose()
    with pytest.raises(ConnectionLost):
        await a.send(b"x")
    with pytest.raises(ConnectionLost):
        await a.send_eof()
    with pytest.raises(ConnectionLost):
        await a.receive()


async def test_memory_close_wakes_a_receive_of_the_same_end() -> None:
    a, _b = memory_stream_pair()
    errors: list[BaseException] = []

    async def receive() -> None:
        try:
            await a.receive()
        except ConnectionLost as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        await anyio.wait_all_tasks_blocked()
        await a.aclose()
    assert len(errors) == 1


async def test_memory_vanished_end_is_gone_at_once_and_its_bytes_stay_readable() -> None:
    """A vanished end's bytes already sent are read, then the end of stream, with no await
    between the death and its effects."""
    a, b = memory_stream_pair()
    await a.send(b"before dying")
    a.vanish()
    with pytest.raises(ConnectionLost):
        await b.send(b"to the dead")
    assert await b.receive() == b"before dying"
    assert await b.receive() == b""
    with pytest.raises(ConnectionLost):
        await a.send(b"from the dead")


async def test_memory_write_nowait_only_when_asked_and_dropped_once_closed() -> None:
    plain, _ = memory_stream_pair()
    assert not hasattr(plain, "write_nowait")
    a, b = memory_stream_pair(write_nowait=True)
    a.write_nowait(b"queued")  # type: ignore[attr-defined]
    assert await b.receive() == b"queued"
    b.vanish()
    a.write_nowait(b"lost")  # type: ignore[attr-defined]  # no error, as on asyncio
    with pytest.raises(ConnectionLost):
        await a.send(b"x")


async def test_memory_credentials_are_this_process() -> None:
    a, b = memory_stream_pair()
    assert (a.credentials.pid, a.credentials.uid) == (os.getpid(), os.getuid())
    assert b.credentials == a.credentials


async def _append(into: list[bytes], receive: Any) -> None:
    into.append(await receive)
