"""A connection whose other end leaves on purpose: which calls ran, which were never taken.

One real :class:`Connection`; the other end is played by the test through a scripted byte
stream (frames in, frames out), so the order of events is exact on both anyio backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import pytest

from hubcore._errors import CallNotTaken, ConnectionLost
from hubcore.protocol import Call, Frame, FrameDecoder, Goodbye, Incoming, Result, encode_frame
from hubcore.rpc._connection import Connection
from hubcore.transport.base import Receiver, feed_receiver
from hubcore.transport.unix import Credentials

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class ScriptedStream:
    """The connection's byte stream; the test sends what the other end says.

    With ``broken``, every send fails as on a socket whose other end has closed.
    """

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.send_failed = anyio.Event()
        self.sent: list[Incoming] = []
        self._decoder = FrameDecoder()
        self._in, self._out = anyio.create_memory_object_stream[bytes](100)

    @property
    def credentials(self) -> Credentials:
        return Credentials()

    def say(self, *frames: Frame) -> None:
        """The other end sends these frames."""
        self._in.send_nowait(b"".join(encode_frame(f) for f in frames))

    def hang_up(self) -> None:
        """The other end closes: EOF after what it said."""
        self._in.close()

    async def receive(self) -> bytes:
        try:
            return await self._out.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def receive_into(self, receiver: Receiver) -> None:
        while data := await self.receive():
            feed_receiver(receiver, data)

    def pause_reading(self) -> None:
        pass  # the script says what it says: nothing to hold back

    def resume_reading(self) -> None:
        pass

    async def send(self, data: bytes) -> None:
        if self.broken:
            self.send_failed.set()
            raise ConnectionLost("send failed: [Errno 32] Broken pipe")
        self.sent.extend(self._decoder.feed(data))

    async def send_eof(self) -> None:
        if self.broken:
            raise ConnectionLost("send_eof failed: [Errno 32] Broken pipe")

    async def aclose(self) -> None:
        self._out.close()


class Recorder:
    """Serves calls by recording them and answering ``None``."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def handle_call(
        self,
        conn: Connection,
        cid: int,
        target: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        window: int,
    ) -> None:
        self.ids.append(cid)
        conn.send_result(cid, None)

    def connection_closed(self, conn: Connection) -> None:
        pass


@pytest.fixture
async def tg() -> AsyncIterator[anyio.abc.TaskGroup]:
    async with anyio.create_task_group() as group:
        yield group
        group.cancel_scope.cancel()


async def _outcome(conn: Connection, tg: anyio.abc.TaskGroup) -> list[BaseException | str]:
    """Start a call on ``conn``; the list gets its result or error once it ends."""
    outcome: list[BaseException | str] = []

    async def call() -> None:
        try:
            outcome.append(await conn.call("obj", "method", timeout=10))
        except ConnectionLost as exc:
            outcome.append(exc)

    tg.start_soon(call)
    await anyio.wait_all_tasks_blocked()
    return outcome


async def test_peer_calls_above_the_goodbye_id_were_not_taken(tg: anyio.abc.TaskGroup) -> None:
    """GOODBYE says the other end took call 1: call 1 may have run (ConnectionLost), call 2
    never did (CallNotTaken, which a proxy sends again)."""
    stream = ScriptedStream()
    conn = Connection(stream)
    await tg.start(conn.run)
    first, second = await _outcome(conn, tg), await _outcome(conn, tg)
    stream.say(Goodbye(None, 1))
    stream.hang_up()
    await conn._finished.wait()
    await anyio.wait_all_tasks_blocked()
    assert type(first[0]) is ConnectionLost, first
    assert type(second[0]) is CallNotTaken, second


async def test_peer_goodbye_without_the_id_leaves_every_call_in_doubt(
    tg: anyio.abc.TaskGroup,
) -> None:
    """An older peer's GOODBYE (no id): no call is known not to have run."""
    stream = ScriptedStream()
    conn = Connection(stream)
    await tg.start(conn.run)
    outcome = await _outcome(conn, tg)
    stream.say(Goodbye())
    stream.hang_up()
    await conn._finished.wait()
    await anyio.wait_all_tasks_blocked()
    assert type(outcome[0]) is ConnectionLost, outcome


async def test_peer_goodbye_is_read_after_a_send_failed(tg: anyio.abc.TaskGroup) -> None:
    """The other end said GOODBYE and closed before our call was sent, and the send fails
    before the GOODBYE is read: the GOODBYE still decides, the call was not taken."""
    stream = ScriptedStream(broken=True)
    conn = Connection(stream)
    await tg.start(conn.run)
    outcome = await _outcome(conn, tg)
    await stream.send_failed.wait()
    stream.say(Goodbye(None, 0))
    stream.hang_up()
    await conn._finished.wait()
    await anyio.wait_all_tasks_blocked()
    assert conn.goodbye
    assert type(outcome[0]) is CallNotTaken, outcome


async def test_peer_leaving_end_names_its_last_call_and_runs_no_later_one(
    tg: anyio.abc.TaskGroup,
) -> None:
    """Our GOODBYE carries the id of the last call we took; a call that crosses it is not run
    (the caller learns from the id that it never ran)."""
    stream = ScriptedStream()
    recorder = Recorder()
    conn = Connection(stream, handler=recorder)
    await tg.start(conn.run)
    stream.say(Call(1, "obj", "method", [], {}))
    await anyio.wait_all_tasks_blocked()
    tg.start_soon(conn.aclose)
    await anyio.wait_all_tasks_blocked()
    stream.say(Call(2, "obj", "method", [], {}))  # crosses our GOODBYE
    stream.hang_up()
    await conn._finished.wait()
    assert recorder.ids == [1]
    assert [f for f in stream.sent if isinstance(f, Goodbye)] == [Goodbye(None, 1)]
    assert [f.id for f in stream.sent if isinstance(f, Result)] == [1]
