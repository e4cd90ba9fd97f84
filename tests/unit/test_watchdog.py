"""The watchdog's guard (``hubcore.rpc._watchdog``): what it writes for a plain method that holds
its loop's thread, when, and what the loop's thread writes after. A real thread plays the
loop's, held in a method; the stream is a recorder (the sockets' side is
tests/integration/test_write_aside.py, and the whole path tests/integration/test_remote_stack.py).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from hubcore import CallTimeout
from hubcore.protocol import CANCELLED, RUNNING, Call, Error, FrameDecoder
from hubcore.rpc import Connection
from hubcore.rpc._chain import SERVING
from hubcore.rpc._dispatch import _serve_plain
from hubcore.rpc._error_frames import encode_error, error_frame
from hubcore.rpc._stacks import MAX_FRAMES, thread_stack
from hubcore.rpc._watchdog import POLL, Guard, Watchdog
from hubcore.transport.base import feed_receiver
from tests.unit.memory_peers import connection_pair

HERE = __file__
WAIT = 10.0  # seconds any step of these tests may take, at most


class Recorder:
    """A stream that another thread may write to: what went aside, and what went after."""

    def __init__(self, takes: int | None = None) -> None:
        self.takes = takes  # bytes write_aside sends (None: all; -1: refuses, not idle)
        self.aside: list[bytes] = []
        self.after: list[bytes] = []
        self.order: list[str] = []
        self.gate: threading.Event | None = None  # set: write_aside waits for it
        self.entered = threading.Event()  # write_aside was called

    def write_aside(self, data: bytes) -> bytes | None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        if self.takes == -1:
            return None
        sent = len(data) if self.takes is None else self.takes
        self.aside.append(data[:sent])
        self.order.append("aside")
        return data[sent:]

    def write_nowait(self, data: bytes | memoryview) -> None:
        self.after.append(bytes(data))
        self.order.append("after")


class Peer:
    """What a guard needs of its connection."""

    identity = ("worker", 2)
    max_frame = 1 << 20


class Held:
    """A thread that plays the loop's: it makes the guard (the loop's thread makes its
    connections), then runs ``method`` inline with the guard armed, until released."""

    def __init__(
        self,
        stream: Recorder,
        left: float | None = 100.0,
        corked: bool = True,
        arrived: float = 0.0,
    ) -> None:
        """:param arrived: when the call arrived, after now (so the process's own watchdog
        leaves it to the test)."""
        self.stream = stream
        self.release = threading.Event()
        self.inside = threading.Event()
        self.made = threading.Event()
        self.armed = False
        self.guard: Guard | None = None
        self._args = (left, corked, time.monotonic() + arrived)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Held:
        self._thread.start()
        assert self.made.wait(WAIT)
        assert self.inside.wait(WAIT)
        return self

    def join(self) -> None:
        self.release.set()
        self._thread.join(WAIT)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        left, corked, arrived = self._args
        self.guard = Guard.of(Peer(), self.stream)  # type: ignore[arg-type]
        self.made.set()
        assert self.guard is not None
        call = Call(7, "kv", "slow", [], {}, 0, left)
        self.armed = self.guard.arm(call, arrived, corked)
        try:
            _serve_plain(_NoReply(), 7, self._method, [], {})
        finally:
            if self.armed:
                self.guard.disarm()

    def _method(self) -> None:
        self._waiting_in_here()

    def _waiting_in_here(self) -> None:
        self.inside.set()
        self.release.wait(WAIT)


class _NoReply:
    """The connection ``_serve_plain`` replies through: the reply is no part of these tests."""

    def send_result(self, cid: int, value: Any, what: str = "result") -> None:
        pass


@pytest.fixture
def held() -> Iterator[Callable[..., Held]]:
    made: list[Held] = []

    def start(stream: Recorder, **kwargs: Any) -> Held:
        made.append(Held(stream, **kwargs).start())
        return made[-1]

    yield start
    for one in made:
        one.join()


def _error(data: bytes) -> Error:
    decoder = FrameDecoder()
    feed_receiver(decoder, data)
    (frame,) = decoder.frames()
    assert isinstance(frame, Error)
    return frame


def test_an_armed_guard_fires_with_the_held_thread_s_frames(held, caplog) -> None:
    stream = Recorder()
    loop = held(stream)
    assert loop.armed
    assert loop.guard.armed is not None
    with caplog.at_level(logging.WARNING, logger="hubcore.rpc"):
        loop.guard.fire(loop.guard.armed)
    (data,) = stream.aside
    error = _error(data)
    assert (error.id, error.type_name, error.message) == (7, CANCELLED, RUNNING)
    assert (error.process, error.instance) == ("worker", 2)
    names = [line.split(" in ")[1].split(":")[0] for line in error.stack]
    assert names[:2] == ["_method", "_waiting_in_here"]  # the method first: no serving code
    assert error.stack[0].startswith(f"{HERE}:")
    assert error.stack[1].endswith(" in _waiting_in_here: `self.release.wait(WAIT)`")
    assert "threading.py" in error.stack[-1]  # innermost last: the wait itself
    loop.join()
    assert stream.after == []  # it all went: nothing to write after
    # The callee's own output says so, with the innermost frame.
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "kv.slow holds the event loop past its caller's deadline (100s), at "
    )
    assert "threading.py" in record.getMessage()


def test_a_guard_fires_once(held) -> None:
    stream = Recorder()
    loop = held(stream)
    armed = loop.guard.armed
    loop.guard.fire(armed)
    loop.guard.fire(armed)
    loop.guard.fire(loop.guard.armed)  # what it holds once fired
    assert len(stream.aside) == 1


def test_what_the_socket_did_not_take_is_written_first_by_the_loop_s_thread(held) -> None:
    stream = Recorder(takes=5)
    loop = held(stream)
    loop.guard.fire(loop.guard.armed)
    assert stream.after == []  # not while the method runs: the loop's thread writes it
    loop.join()
    assert stream.order == ["aside", "after"]
    assert _error(stream.aside[0] + stream.after[0]).id == 7  # one whole frame


def test_the_loop_s_thread_waits_for_a_write_in_progress(held) -> None:
    """The method returns while the watchdog's thread writes: the loop's thread goes on only
    once the write is done, and writes what the socket did not take first."""
    stream = Recorder(takes=5)
    stream.gate = threading.Event()
    loop = held(stream)
    firing = threading.Thread(target=loop.guard.fire, args=(loop.guard.armed,), daemon=True)
    firing.start()
    assert stream.entered.wait(WAIT)  # the write is in progress
    loop.release.set()  # the method returns
    loop._thread.join(0.2)
    assert loop._thread.is_alive()  # held in disarm
    assert stream.after == []
    stream.gate.set()
    firing.join(WAIT)
    loop.join()
    assert stream.order == ["aside", "after"]


def test_a_stream_that_is_not_idle_gets_nothing(held, caplog) -> None:
    stream = Recorder(takes=-1)
    loop = held(stream)
    armed = loop.guard.armed
    with caplog.at_level(logging.WARNING, logger="hubcore.rpc"):
        loop.guard.fire(armed)
    assert loop.guard.armed[1] is None  # fired: not tried again
    loop.join()
    assert stream.order == []
    assert "(its caller was not told: the connection was busy)" in caplog.text


def test_a_guard_that_was_disarmed_does_not_fire(held) -> None:
    stream = Recorder()
    loop = held(stream)
    armed = loop.guard.armed
    loop.join()
    assert loop.guard.armed is None
    loop.guard.fire(armed)
    assert stream.order == []


@pytest.mark.parametrize(("left", "corked"), [(None, True), (1.0, False)])
def test_nothing_is_armed_without_a_deadline_or_a_corked_outbox(held, left, corked) -> None:
    """A caller that waits for ever needs no answer; a loop thread that may write to the
    socket meanwhile (outbox not corked) must not be written beside."""
    loop = held(Recorder(), left=left, corked=corked)
    assert not loop.armed
    assert loop.guard.armed is None


def test_the_watchdog_fires_only_past_the_deadline_and_sleeps_until_the_nearest(held) -> None:
    stream = Recorder()
    loop = held(stream, arrived=1000.0, left=100.0)
    deadline = loop.guard.armed[1]
    watchdog = Watchdog()
    watchdog._guards.add(loop.guard)  # as watch() does, without starting its thread
    assert watchdog.check(deadline - 50) == pytest.approx(POLL)
    assert watchdog.check(deadline - POLL / 2) == pytest.approx(POLL / 2)
    assert stream.aside == []
    assert watchdog.check(deadline) == pytest.approx(POLL)
    assert len(stream.aside) == 1
    assert watchdog.check(deadline + 100) == pytest.approx(POLL)  # fired: no second answer
    assert len(stream.aside) == 1


def test_a_thread_stack_keeps_the_innermost_frames() -> None:
    ready, release = threading.Event(), threading.Event()

    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        else:
            ready.set()
            release.wait(WAIT)

    thread = threading.Thread(target=deep, args=(MAX_FRAMES + 10,), daemon=True)
    thread.start()
    try:
        assert ready.wait(WAIT)
        frame = sys._current_frames()[thread.ident]  # type: ignore[index]
        stack = thread_stack(frame)
        del frame
    finally:
        release.set()
        thread.join(WAIT)
    assert len(stack) == MAX_FRAMES
    assert "threading.py" in stack[-1]  # innermost last: the wait itself
    mine = [line for line in stack if line.startswith(f"{HERE}:")]
    assert mine[-1].endswith(" in deep: `release.wait(WAIT)`")
    assert len(mine) == len(stack) - 2  # and Event.wait's Condition.wait, no more


class _AnswersFirst:
    """A callee whose watchdog answers before the caller's own timer fires (its clock ran
    ahead): the answer comes first, then the method's own reply."""

    def __init__(self, callee: Connection) -> None:
        self.callee = callee
        self.calls = 0

    def slow(self) -> str:
        served = SERVING.get()
        assert served is not None  # the CALL carried the caller's deadline
        self.calls += 1
        if self.calls > 1:
            return "in time"
        stack = ("/srv/kv.py:9 in slow: `time.sleep(60)`",)
        answer = error_frame(served[0].id, CANCELLED, RUNNING, stack=stack)
        self.callee.write(encode_error(answer))
        return "too late"


@pytest.mark.anyio
async def test_a_watchdog_answer_before_the_caller_s_timeout_is_a_timeout() -> None:
    async with connection_pair() as pair:
        pair.publish("kv", _AnswersFirst(pair.callee))
        with anyio.fail_after(WAIT), pytest.raises(CallTimeout) as caught:
            await pair.caller.call("kv", "slow", timeout=30)
        assert caught.value.remote_blocked
        assert caught.value.remote_stack == ("/srv/kv.py:9 in slow: `time.sleep(60)`",)
        assert str(caught.value).startswith("kv.slow did not answer within 30s: it is still")
        assert await pair.caller.call("kv", "slow", timeout=30) == "in time"
