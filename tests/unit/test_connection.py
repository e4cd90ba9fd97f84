"""One connection, two real ends, no sockets: calls, errors, cancels, streams, events, and
how calls in flight fail when the other end goes away."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgpack
import pytest

from hubcore import (
    CallTimeout,
    ConnectionLost,
    PayloadTooLarge,
    ProcessCrashed,
    RemoteError,
)
from hubcore._errors import CallNotTaken
from hubcore.protocol import (
    SUBSCRIBE,
    UNSUBSCRIBE,
    Call,
    Cancel,
    Error,
    Event,
    FrameDecoder,
    Goodbye,
    Hello,
    Incoming,
    Ping,
    Pong,
    Result,
    encode_frame,
)
from hubcore.rpc import Connection, Dispatcher
from hubcore.transport.memory import memory_stream_pair
from tests.unit.memory_peers import Pair, connection_pair, on_asyncio

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0  # bound of every wait for something that happens at once (a failure if reached)


def _raw_frame(body: Any) -> bytes:
    """A length-prefixed msgpack body, well-formed frame or not."""
    data = msgpack.packb(body)
    return len(data).to_bytes(4, "big") + data


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with connection_pair() as pair:
        yield pair


class PageError(ValueError):
    """A user exception: callers catch it as the builtin it derives from."""


class Service:
    def __init__(self) -> None:
        self.calls = 0
        self.produced = 0
        self.waiting = 0
        self.started = anyio.Event()
        self.cancelled = anyio.Event()
        self.stream_closed = anyio.Event()
        self._changed = anyio.Event()

    def _tick(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, done: Any) -> None:
        """Wait (bounded) until ``done()`` holds."""
        with anyio.fail_after(WAIT):
            while not done():
                await self._changed.wait()

    def add(self, a: Any, b: Any = 0) -> Any:
        self.calls += 1
        return a + b

    async def double(self, x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return 2 * x

    def fail(self, key: str) -> None:
        raise KeyError(key)

    def page(self) -> None:
        raise PageError("no such page", 404)

    def unsendable_error(self) -> None:
        raise ValueError(object())

    def big(self, size: int) -> bytes:
        return b"x" * size

    async def wait(self) -> None:
        self.waiting += 1
        self.started.set()
        self._tick()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise

    async def count(self, n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                self.produced += 1
                self._tick()
                yield i
        finally:
            self.stream_closed.set()

    async def count_then_fail(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise PageError("the stream broke")


# -- calls and results ---------------------------------------------------------------------------


async def test_connection_call_returns_the_result(pair: Pair) -> None:
    pair.publish("svc", Service())
    assert await pair.caller.call("svc", "add", (2, 3)) == 5
    assert await pair.caller.call("svc", "add", (2,), {"b": 5}) == 7
    assert await pair.caller.call("svc", "double", (21,)) == 42  # a coroutine: its own task


async def test_connection_calls_both_ways_at_once_get_their_own_answers(pair: Pair) -> None:
    """Both ends number their calls from 1: the ids of the two directions never mix."""
    pair.publish("svc", Service())
    back = Dispatcher()
    back.add("svc", Service())
    pair.caller.handler = back
    results: dict[tuple[str, int], int] = {}

    async def one(conn: Connection, way: str, x: int) -> None:
        results[(way, x)] = await conn.call("svc", "double", (x,), timeout=WAIT)

    async with anyio.create_task_group() as tg:
        for x in range(20):
            tg.start_soon(one, pair.caller, "there", x)
            tg.start_soon(one, pair.callee, "back", 100 + x)
    assert results == {
        **{("there", x): 2 * x for x in range(20)},
        **{("back", 100 + x): 2 * (100 + x) for x in range(20)},
    }


async def test_connection_oversized_call_is_refused_before_it_is_sent() -> None:
    async with connection_pair(max_frame=1024) as pair:
        svc = Service()
        pair.publish("svc", svc)
        with pytest.raises(PayloadTooLarge):
            await pair.caller.call("svc", "add", (b"x" * 2000, b""))
        assert svc.calls == 0
        with pytest.raises(RemoteError, match="could not be sent") as info:
            await pair.caller.call("svc", "big", (2000,))
        assert info.value.remote_type == "PayloadTooLarge"
        assert await pair.caller.call("svc", "add", (1, 2)) == 3  # the connection goes on


async def test_connection_unencodable_argument_names_it(pair: Pair) -> None:
    pair.publish("svc", Service())
    with pytest.raises(TypeError, match=r"svc\.add: argument 1 \(object\) cannot be sent"):
        await pair.caller.call("svc", "add", (1, object()))
    with pytest.raises(TypeError, match=r"svc\.add: argument 'b' cannot be sent"):
        await pair.caller.call("svc", "add", (1,), {"b": object()})


async def test_connection_call_on_a_closed_connection_was_not_taken(pair: Pair) -> None:
    await pair.caller.aclose()
    with pytest.raises(CallNotTaken, match="is closed"):
        await pair.caller.call("svc", "add", (1, 2))


# -- remote errors ------------------------------------------------------------------------------


async def test_connection_remote_builtin_error_is_raised_as_its_type(pair: Pair) -> None:
    pair.publish("svc", Service())
    with pytest.raises(KeyError) as info:
        await pair.caller.call("svc", "fail", ("k",))
    error = info.value
    assert isinstance(error, RemoteError)
    assert error.args == ("k",)
    assert error.remote_type == "KeyError"
    assert "raise KeyError(key)" in error.remote_traceback
    assert (error.process, error.instance) == ("callee", 3)


async def test_connection_user_error_is_caught_by_its_builtin_base(pair: Pair) -> None:
    pair.publish("svc", Service())
    with pytest.raises(ValueError, match="no such page") as info:
        await pair.caller.call("svc", "page")
    assert isinstance(info.value, RemoteError)
    assert info.value.remote_type == "PageError"
    assert info.value.args == ("no such page", 404)


async def test_connection_error_args_that_cannot_be_sent_arrive_as_reprs(pair: Pair) -> None:
    pair.publish("svc", Service())
    with pytest.raises(ValueError, match="object object at") as info:
        await pair.caller.call("svc", "unsendable_error")
    (arg,) = info.value.args
    assert arg.startswith("<object object at")


async def test_connection_unknown_target_and_method_are_errors(pair: Pair) -> None:
    pair.publish("svc", Service())
    with pytest.raises(LookupError, match="'nobody' is not published"):
        await pair.caller.call("nobody", "add")
    with pytest.raises(AttributeError, match="no public method 'nope'"):
        await pair.caller.call("svc", "nope")


# -- cancelling -----------------------------------------------------------------------------------


async def test_connection_timeout_cancels_the_callee_method(pair: Pair) -> None:
    svc = Service()
    pair.publish("svc", svc)
    with pytest.raises(CallTimeout, match=r"svc\.wait did not answer within 0\.1s"):
        await pair.caller.call("svc", "wait", timeout=0.1)
    assert svc.started.is_set(), "the method never started: the machine is too slow for 0.1 s"
    with anyio.fail_after(WAIT):
        await svc.cancelled.wait()


async def test_connection_cancelled_caller_cancels_the_callee_method(pair: Pair) -> None:
    svc = Service()
    pair.publish("svc", svc)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pair.caller.call, "svc", "wait")
        with anyio.fail_after(WAIT):
            await svc.started.wait()
        tg.cancel_scope.cancel()
    with anyio.fail_after(WAIT):
        await svc.cancelled.wait()
    assert await pair.caller.call("svc", "add", (1, 1)) == 2  # no stale reply mixes in


# -- streams -------------------------------------------------------------------------------------


async def test_connection_stream_items_arrive_in_order_then_end(pair: Pair) -> None:
    pair.publish("svc", Service())
    stream = pair.caller.open_stream("svc", "count", (5,), timeout=WAIT)
    assert [item async for item in stream] == [0, 1, 2, 3, 4]


async def test_connection_stream_producer_runs_only_a_window_ahead(pair: Pair) -> None:
    """The producer sends ``window`` items, then holds one more until the consumer's credit
    (sent once it consumed half the window) lets it go on."""
    svc = Service()
    pair.publish("svc", svc)
    async with pair.caller.open_stream("svc", "count", (100,), timeout=WAIT, window=4) as stream:
        await svc.until(lambda: svc.produced == 4 + 1)
        await anyio.wait_all_tasks_blocked()
        assert svc.produced == 4 + 1
        assert await stream.__anext__() == 0
        await anyio.wait_all_tasks_blocked()
        assert svc.produced == 4 + 1  # one consumed: below half the window, no credit yet
        assert await stream.__anext__() == 1
        await svc.until(lambda: svc.produced == 2 + 4 + 1)
        await anyio.wait_all_tasks_blocked()
        assert svc.produced == 2 + 4 + 1


async def test_connection_stream_consumer_that_stops_cancels_the_producer(pair: Pair) -> None:
    svc = Service()
    pair.publish("svc", svc)
    stream = pair.caller.open_stream("svc", "count", (1000,), timeout=WAIT, window=4)
    assert await stream.__anext__() == 0
    await stream.aclose()
    with anyio.fail_after(WAIT):
        await svc.stream_closed.wait()
    assert svc.produced < 1000


async def test_connection_stream_error_arrives_after_the_items(pair: Pair) -> None:
    pair.publish("svc", Service())
    stream = pair.caller.open_stream("svc", "count_then_fail", (2,), timeout=WAIT)
    assert [await stream.__anext__(), await stream.__anext__()] == [0, 1]
    with pytest.raises(ValueError, match="the stream broke"):
        await stream.__anext__()


async def test_connection_stream_cut_by_a_crash_raises_the_lost_error(pair: Pair) -> None:
    pair.publish("svc", Service())
    crash = ProcessCrashed("process callee died", process="callee")
    pair.caller.lost_error = _returns(crash)
    stream = pair.caller.open_stream("svc", "count", (100,), timeout=WAIT, window=4)
    assert await stream.__anext__() == 0
    pair.callee_end.vanish()
    with pytest.raises(ProcessCrashed) as info:
        async for _item in stream:
            pass
    assert info.value is crash


# -- events -------------------------------------------------------------------------------------


async def test_connection_events_reach_the_other_end_while_it_subscribes(pair: Pair) -> None:
    received: list[Event] = []
    pair.caller.on_event = received.append
    published = pair.publish("svc", Service())
    published.generation, published.instance = 7, 2
    assert published.emit("tick", 0) == 0  # nobody listens yet
    assert await pair.caller.call("svc", SUBSCRIBE, ("tick",)) == 7  # the generation
    assert published.emit("tick", {"n": 1}) == 1
    assert published.emit("tock") == 0
    # Frames keep their order on a connection: the event is in before this reply.
    await pair.caller.call("svc", UNSUBSCRIBE, ("tick",))
    assert received == [Event("svc", "tick", {"n": 1}, 7, 2)]
    assert published.emit("tick", 2) == 0


async def test_connection_event_callback_that_raises_is_logged_and_the_rest_goes_on(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("callback bug")

    pair.caller.on_event = broken
    published = pair.publish("svc", Service())
    await pair.caller.call("svc", SUBSCRIBE, ("*",))
    published.emit("tick")
    assert await pair.caller.call("svc", "add", (1, 2)) == 3
    assert "an event callback raised" in caplog.text


# -- the other end goes away -------------------------------------------------------------------


async def test_connection_vanished_peer_fails_calls_in_flight_with_the_lost_error(
    pair: Pair,
) -> None:
    """No GOODBYE: every call in flight fails at once with what ``lost_error`` says (a crash),
    asked once for all of them."""
    svc = Service()
    pair.publish("svc", svc)
    crash = ProcessCrashed("process callee died", process="callee")
    asked: list[Connection] = []
    pair.caller.lost_error = _returns(crash, asked)
    outcomes = await _in_flight(pair, svc, 3, lambda: pair.callee_end.vanish())
    assert outcomes == [crash, crash, crash]
    assert asked == [pair.caller]


async def test_connection_vanished_peer_without_lost_error_is_connection_lost(
    pair: Pair,
) -> None:
    svc = Service()
    pair.publish("svc", svc)
    (outcome,) = await _in_flight(pair, svc, 1, lambda: pair.callee_end.vanish())
    assert type(outcome) is ConnectionLost
    assert "connection to callee closed: the other end closed the connection" in str(outcome)


async def test_connection_goodbye_tells_calls_that_may_have_run_from_calls_not_taken(
    pair: Pair,
) -> None:
    """The callee leaves with call 1 running: it may have run (ConnectionLost, never sent
    again). Call 2 is sent after the GOODBYE left: it never ran (CallNotTaken). The GOODBYE
    also means no crash: ``lost_error`` is not asked."""
    svc = Service()
    pair.publish("svc", svc)
    asked: list[Connection] = []
    pair.caller.lost_error = _returns(ProcessCrashed("not a crash"), asked)
    first: list[BaseException] = []
    second: list[BaseException] = []
    sent_open: list[bool] = []

    async def call_after_goodbye() -> None:
        sent_open.append(not pair.caller.closed)  # so the CALL goes out (crossing the GOODBYE)
        await _outcome(pair.caller.call("svc", "add", (1, 2), timeout=WAIT), second)

    async with anyio.create_task_group() as tg:
        tg.start_soon(_outcome, pair.caller.call("svc", "wait", timeout=WAIT), first)
        with anyio.fail_after(WAIT):
            await svc.started.wait()
        tg.start_soon(call_after_goodbye)
        await pair.callee.aclose()  # GOODBYE naming call 1 is queued before call 2 is sent
    assert sent_open == [True]
    assert type(first[0]) is ConnectionLost, first
    assert type(second[0]) is CallNotTaken, second
    assert svc.calls == 0
    assert svc.cancelled.is_set()
    assert asked == []


async def test_connection_goodbye_names_the_last_call_it_took(raw: RawPeer) -> None:
    await raw.send(encode_frame(Call(1, "svc", "add", [1, 2], {})))
    assert await raw.next_frames(1) == [Result(1, 3)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(raw.conn.aclose)
        assert await raw.next_frames(1) == [Goodbye(None, 1)]
        await raw.send(encode_frame(Call(2, "svc", "add", [1, 2], {})))  # crosses it
        await raw.stream.send_eof()  # the answer to its EOF: the close completes at once
    assert await raw.until_closed() == []  # call 2 was dropped, not answered
    assert raw.service.calls == 1


# -- what the other end sends that it should not -------------------------------------------------


async def test_connection_malformed_call_fails_alone(
    raw: RawPeer, caplog: pytest.LogCaptureFixture
) -> None:
    """A CALL with a valid id but wrong fields gets an ERROR for that id; the call in flight
    before it and the call after it are served, and the connection stays open."""
    caplog.set_level(logging.WARNING, "hubcore")
    await raw.send(
        encode_frame(Call(1, "svc", "wait", [], {}))
        + _raw_frame([10, 2, "svc", "add", "not an array", {}])
        + encode_frame(Call(3, "svc", "add", [1, 2], {}))
    )
    error, result = await raw.next_frames(2)
    assert isinstance(error, Error)
    assert (error.id, error.type_name) == (2, "TypeError")
    assert error.message == "malformed CALL frame: args must be an array, got str"
    assert result == Result(3, 3)
    with anyio.fail_after(WAIT):
        await raw.service.started.wait()  # call 1 runs on
    assert not raw.service.cancelled.is_set()
    await raw.send(encode_frame(Cancel(1)))
    with anyio.fail_after(WAIT):
        await raw.service.cancelled.wait()
    assert not raw.conn.closed
    assert "malformed CALL 2 answered with an error" in caplog.text


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param(b"\x00\x00\x00\x03\xc1\xc1\xc1", "undecodable frame", id="garbage"),
        pytest.param(
            encode_frame(Hello(1, b"n", {})),
            "unexpected frame kind 1 (HELLO) after the handshake",
            id="handshake-frame",
        ),
        pytest.param(
            _raw_frame([12, 1, 5, "m"]),
            "malformed ERROR frame: type name must be a string, got int",
            id="bad-error-field",
        ),
    ],
)
async def test_connection_protocol_violation_closes_it_and_says_why(
    raw: RawPeer, data: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "hubcore")
    await raw.send(data)
    frames = await raw.until_closed()
    assert len(frames) == 1
    farewell = frames[0]
    assert isinstance(farewell, Goodbye)
    assert farewell.reason is not None
    assert farewell.reason.startswith(f"you broke the protocol: {why}")
    assert farewell.last_taken is None
    assert raw.conn.closed
    assert raw.conn.close_reason.startswith(f"protocol violation: {why}")
    assert "protocol violation, closing the connection" in caplog.text


async def test_connection_peer_that_broke_the_protocol_learns_why(pair: Pair) -> None:
    """The end that detected the violation says GOODBYE with the reason, so the other end's
    calls fail with ConnectionLost quoting it, not as a crash."""
    svc = Service()
    pair.publish("svc", svc)
    pair.caller.lost_error = _returns(ProcessCrashed("not a crash"))
    garbage = b"\x00\x00\x00\x01\xc1"
    (outcome,) = await _in_flight(pair, svc, 1, lambda: pair.caller.write(garbage))
    assert type(outcome) is ConnectionLost
    assert "the other end hung up: you broke the protocol: undecodable frame" in str(outcome)


async def test_connection_ping_is_answered_with_a_pong_of_its_id(raw: RawPeer) -> None:
    await raw.send(encode_frame(Ping(42)))
    assert await raw.next_frames(1) == [Pong(42)]


# -- helpers -------------------------------------------------------------------------------------


def _returns(error: BaseException, asked: list[Connection] | None = None) -> Any:
    """A ``lost_error`` that records who asked and gives ``error``."""

    async def lost_error(conn: Connection) -> BaseException:
        if asked is not None:
            asked.append(conn)
        return error

    return lost_error


async def _outcome(call: Any, into: list[Any]) -> None:
    try:
        into.append(await call)
    except (ConnectionLost, RemoteError) as exc:
        into.append(exc)


async def _in_flight(pair: Pair, svc: Service, count: int, end: Any) -> list[Any]:
    """Start ``count`` calls to ``svc.wait``, run ``end()`` once all run, gather outcomes."""
    outcomes: list[Any] = []
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(_outcome, pair.caller.call("svc", "wait", timeout=WAIT), outcomes)
        await svc.until(lambda: svc.waiting == count)
        end()
    return outcomes


class RawPeer:
    """A connection serving ``svc``, whose other end the test drives byte by byte."""

    def __init__(self) -> None:
        self.stream, theirs = memory_stream_pair(write_nowait=on_asyncio())
        self.service = Service()
        dispatcher = Dispatcher()
        dispatcher.add("svc", self.service)
        self.conn = Connection(theirs, handler=dispatcher, label="raw peer")
        self._decoder = FrameDecoder()

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def next_frames(self, count: int) -> list[Incoming]:
        """The next ``count`` frames the connection sends (bounded)."""
        frames: list[Incoming] = []
        with anyio.fail_after(WAIT):
            while len(frames) < count:
                data = await self.stream.receive()
                assert data, f"the connection closed; frames so far: {frames}"
                frames += self._decoder.feed(data)
        return frames

    async def until_closed(self) -> list[Incoming]:
        """Every frame the connection sends until it closes (bounded)."""
        frames: list[Incoming] = []
        with anyio.fail_after(WAIT):
            while data := await self.stream.receive():
                frames += self._decoder.feed(data)
        return frames


@pytest.fixture
async def raw() -> AsyncIterator[RawPeer]:
    peer = RawPeer()
    async with anyio.create_task_group() as tg:
        await tg.start(peer.conn.run)
        yield peer
        tg.cancel_scope.cancel()
